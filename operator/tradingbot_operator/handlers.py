"""kopf handlers: thin glue from watch events to :meth:`Reconciler.trigger`.

Handlers are registered on a registry built by :func:`build_registry` (nothing registers at import).

* ``TradingBot`` events (including the initial listing when the operator starts, which is how a
  restarted operator resumes every object) go into the children cache, which also holds the
  TradingBots (the pass starts from it instead of a GET), then trigger a pass over that TradingBot;
  its deletion drops its timers and metric series.
* Events of Deployments, Pods, Services, ConfigMaps and Jobs labelled ``ploy.dev/tradingbot`` first
  go into the children cache (:mod:`tradingbot_operator.child_cache`, the pass's view of the
  children), then trigger a pass over the owner named by that label (pods becoming Ready, restarts,
  readiness loss, Job completion, a Service selector edited or a child deleted by hand, which the
  pass then restores). These watches carry the label as a server-side selector
  (``settings.watching.label_selectors``): the operator is not sent every Pod of the cluster, and an
  object losing the label arrives as ``DELETED``.
* Time-based gates are the reconciler's timers (see :mod:`tradingbot_operator.reconciler`).

Why ``@kopf.on.event`` and not ``@kopf.on.create/update/resume``: the reconcile is level-triggered
(it reads the object and its children afresh and needs no diff), and kopf's change-detecting
handlers need persisted bookkeeping: a diff base and handler progress, stored either as annotations
(``kopf.zalando.org/last-handled-configuration``: ArgoCD would report every TradingBot OutOfSync) or
in ``status.kopf`` (``StatusDiffBaseStorage``/``StatusProgressStorage``: a second, unvalidated source
of state in the status, which the structural CRD schema would also prune). Watch handlers store
nothing, add no finalizer and post no kopf Events, so the only writes to a TradingBot are the
operator's own status writes, and ``status`` plus the children stay the single source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import kopf
from kubernetes.aio.client import Configuration

from tradingbot_operator.child_cache import ChildCache
from tradingbot_operator.model import GROUP, PLURAL, VERSION
from tradingbot_operator.names import LABEL_TRADINGBOT
from tradingbot_operator.peering_gate import PeeringGate
from tradingbot_operator.reconciler import Reconciler

log = logging.getLogger("tradingbot_operator.handlers")


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that keeps nothing: the operator has watch handlers only, which get no diff.

    kopf builds the diff base of every event it processes, handlers or not: a deep copy of the whole
    body (a Pod's status included) that only change-detecting (``on.create``/``on.update``) and daemon
    handlers read. Profiled at 1,000 TradingBots converging, that copy was about a sixth of the
    operator's CPU. :func:`build_registry` registers none of those handlers (a test checks it).
    """

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure_settings(settings: kopf.OperatorSettings) -> None:
    """kopf settings of the operator: quiet kopf Events, no diff base, watch reconnects, peering lifetime."""
    settings.posting.enabled = False  # the operator posts its own Events (kube.Kube.emit_event)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.peering.lifetime = 30
    settings.peering.mandatory = False
    for api, plural in CHILD_WATCHES:
        settings.watching.label_selectors[api, plural] = LABEL_TRADINGBOT


# The children watched (API group/version, plural); kopf's label filters alone are client-side.
CHILD_WATCHES = (
    ("apps/v1", "deployments"),
    ("v1", "pods"),
    ("v1", "services"),
    ("v1", "configmaps"),
    ("batch/v1", "jobs"),
)


def build_registry(
    reconciler: Reconciler, configuration: Configuration | None = None, gate: PeeringGate | None = None
) -> kopf.OperatorRegistry:
    """A kopf registry with the operator's handlers, all delegating to ``reconciler``.

    ``configuration`` is the client configuration the operator uses; kopf authenticates with the same
    server, certificates and token (in a pod: the ServiceAccount via kopf's own login helper).
    ``gate`` (with peering) pauses and resumes the reconciler together with kopf's peering; it runs
    from startup to cleanup.
    """
    registry = kopf.OperatorRegistry()
    gate_task: list[asyncio.Task[None]] = []

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if configuration is None:
            return kopf.login_with_service_account(**kwargs)
        token = await configuration.get_api_key_with_prefix("BearerToken")
        scheme: str | None = None
        if token and " " in token:
            scheme, token = token.split(" ", 1)
        return kopf.ConnectionInfo(
            server=configuration.host,
            ca_path=configuration.ssl_ca_cert,
            insecure=not configuration.verify_ssl,
            scheme=scheme,
            token=token or None,
            certificate_path=configuration.cert_file,
            private_key_path=configuration.key_file,
            proxy_url=configuration.proxy,
        )

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_settings(settings)
        if gate is not None:
            await gate.check()  # paused from the start if another operator is already in charge
            gate_task.append(asyncio.create_task(gate.run(), name="peering gate"))

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        for task in gate_task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await reconciler.close()

    cache: ChildCache | None = reconciler.kube.cache

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def tradingbot_event(
        *,
        type: str,
        namespace: str | None,
        name: str,
        meta: Mapping[str, Any],
        body: Mapping[str, Any],
        **_: Any,
    ) -> None:
        if namespace is None:
            return
        if cache is not None:
            cache.event(PLURAL, type, body)  # the pass starts from it instead of a GET
        if type == "DELETED":
            reconciler.forget(namespace, name)
            return
        # type None: kopf's listing (startup, an expired watch), not a change someone just made.
        reconciler.changed(PLURAL, namespace, name, meta.get("resourceVersion"), name, listing=type is None)

    def child_handler(plural: str) -> Callable[..., Coroutine[Any, Any, None]]:
        async def child_event(
            *,
            type: str | None,
            labels: Mapping[str, str],
            namespace: str | None,
            meta: Mapping[str, Any],
            body: Mapping[str, Any],
            **_: Any,
        ) -> None:
            if cache is not None:
                cache.event(plural, type, body)
            owner = labels.get(LABEL_TRADINGBOT)
            if owner and namespace:
                name, version = str(meta.get("name")), meta.get("resourceVersion")
                reconciler.changed(plural, namespace, name, version, owner, deleted=type == "DELETED")

        return child_event

    # One handler per watched child kind (kopf needs a distinct id for each), all feeding the cache and
    # the work queue the same way.
    for api, plural in CHILD_WATCHES:
        group, _, version = api.rpartition("/")
        kopf.on.event(
            group,
            version,
            plural,
            id=f"{plural}_event",
            labels={LABEL_TRADINGBOT: kopf.PRESENT},
            registry=registry,
        )(child_handler(plural))

    return registry
