"""Run the operator: client configuration, metrics endpoint, reconciler, kopf.

:func:`run_operator` is what ``ploy-operator run`` calls; tests call it in-process with a
``stop_flag``. Authentication: inside a pod the ServiceAccount (``load_incluster_config``), else the
kubeconfig named by ``KUBECONFIG`` (or ``~/.kube/config``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry, start_http_server

from tradingbot_operator.child_cache import ChildCache
from tradingbot_operator.handlers import build_registry, configure_settings
from tradingbot_operator.kube import Kube
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.peering_gate import PeeringGate, peering_paths
from tradingbot_operator.prometheus import Prometheus
from tradingbot_operator.reconciler import Reconciler
from tradingbot_operator.workqueue import MAX_CONCURRENT

log = logging.getLogger("tradingbot_operator")


@dataclass(frozen=True)
class RunOptions:
    """How to run: which namespaces, peering, ports.

    ``namespaces`` empty with ``all_namespaces`` watches the whole cluster; ``peering`` names the
    KopfPeering object (None: standalone, no peering); ``metrics_port`` 0 disables the metrics
    endpoint; ``liveness`` is kopf's liveness URL (e.g. ``http://0.0.0.0:8080/healthz``) or None;
    ``prometheus_url`` is the Prometheus the metric analysis gate queries (None: every analysis query
    is inconclusive); ``child_cache`` False makes every pass LIST the children instead of reading
    the watch-fed cache (for comparison in benchmarks).
    """

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = True
    peering: str | None = None
    priority: int = 0
    metrics_port: int = 8000
    liveness: str | None = None
    resync_seconds: float = 300.0
    kubeconfig: str | None = field(default=None)
    prometheus_url: str | None = None
    child_cache: bool = True
    max_concurrent_passes: int = MAX_CONCURRENT


async def load_configuration(kubeconfig: str | None = None) -> Configuration:
    """Client configuration: the ServiceAccount inside a pod, else the kubeconfig file.

    The proxy is decided once here (see :func:`environment_proxy`), and the client's session does not
    read the environment per request.
    """
    configuration = Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        aio_config.load_incluster_config(client_configuration=configuration)
    else:
        await aio_config.load_kube_config(config_file=path, client_configuration=configuration)
    if not configuration.proxy:
        configuration.proxy = environment_proxy(configuration.host)
    # With trust_env aiohttp looks up the proxy variables and ~/.netrc in a worker thread on every
    # request: an eighth of the operator's CPU in a profile at 1,000 bots, for an answer that cannot
    # change while the process runs.
    configuration.client_session_kwargs = {"trust_env": False}
    return configuration


def environment_proxy(url: str) -> str | None:
    """The proxy URL the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY`` by the URL's
    scheme, upper or lower case), or None when there is none or ``NO_PROXY`` covers the host.

    The same variables aiohttp reads with ``trust_env``, through the standard library's
    ``urllib.request.getproxies_environment``/``proxy_bypass``.
    """
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    if proxy is None or (parts.hostname and urllib.request.proxy_bypass(parts.hostname)):
        return None
    return proxy


async def run_operator(
    options: RunOptions,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    registry: CollectorRegistry | None = None,
    on_reconciler: Any = None,
) -> None:
    """Run until ``stop_flag`` is set (or until SIGTERM/SIGINT when it is None).

    The flags may be ``threading.Event``s when the operator runs in its own thread: kopf cancels
    every task of its event loop when it stops, so embedding it needs a loop of its own.

    ``registry`` receives the operator's metrics (a fresh one by default); ``on_reconciler`` is called
    with the :class:`Reconciler` once it exists (tests use it to inspect passes).
    """
    configuration = await load_configuration(options.kubeconfig)
    in_cluster = (
        options.kubeconfig is None
        and not os.environ.get("KUBECONFIG")
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )
    metrics_registry = registry or CollectorRegistry()
    metrics = OperatorMetrics(metrics_registry)
    if options.metrics_port:
        start_http_server(options.metrics_port, registry=metrics_registry)
        log.info("metrics on :%d/metrics", options.metrics_port)
    api = ApiClient(configuration)
    prometheus = Prometheus(options.prometheus_url)
    try:
        # A prime is trusted for one resync interval: a resync pass LISTs (bounds any blind spot).
        cache = ChildCache(max_age_seconds=options.resync_seconds) if options.child_cache else None
        kube = Kube(api, on_request=metrics.api_request, cache=cache)
        reconciler = Reconciler(
            kube,
            metrics,
            resync_seconds=options.resync_seconds,
            max_concurrent=options.max_concurrent_passes,
            prometheus=prometheus,
        )
        if on_reconciler is not None:
            on_reconciler(reconciler)
        # kopf's peering identity, chosen here so the gate can find this process in the peering object.
        identity = f"{os.environ.get('POD_ID') or socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        gate = None
        if options.peering is not None:
            gate = PeeringGate(
                kube,
                reconciler,
                identity=identity,
                priority=options.priority,
                paths=peering_paths(options.peering, options.namespaces),
            )
        kopf_registry = build_registry(reconciler, None if in_cluster else configuration, gate)
        settings = kopf.OperatorSettings()
        configure_settings(settings)
        await kopf.operator(
            registry=kopf_registry,
            settings=settings,
            standalone=options.peering is None,
            peering_name=options.peering,
            priority=options.priority,
            identity=cast(Any, identity),  # kopf's Identity is a NewType of str
            clusterwide=options.all_namespaces and not options.namespaces,
            namespaces=options.namespaces,
            liveness_endpoint=options.liveness,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        await prometheus.close()
        await api.close()
