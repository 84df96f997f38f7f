"""Benchmark: what the local control plane alone needs for the children of N TradingBots (default 1,000).

The floor under ``bench/operator_scale.py``'s ``converge_seconds``: no operator runs. The benchmark
creates the TradingBots (as ``operator_scale`` does, so the children have real owners for the garbage
collector), then, 64 requests at a time like the operator's passes, exactly the children a first
rollout ends with: the immutable ConfigMap, the blue Deployment (1 replica, kwok plays the kubelet)
and the two Services (active selecting no pod, preview selecting blue), all built by the operator's own
:mod:`tradingbot_operator.children`. It waits until every Deployment has its pod available (seen
through a watch, as ``operator_scale`` watches the TradingBots), then
switches both Services of every bot (active to blue, preview to none) as a promotion does.

Prints ``all_available_seconds`` (from the first create), ``switched_seconds`` (all Services switched
too), ``cpu_seconds_by_process`` (every control-plane process, and their total, from the first create
to the last switch) and ``api_requests`` sent. What it leaves out, so what the operator adds on top:
status writes, Events, the operator's own CPU and its watch streams (the API server encodes every
event it sends to them). Figures are from a shared 2-core machine (indicative).
Usage: ``.venv/bin/python bench/control_plane_floor.py [--bots 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import yaml
from benchsupport import ObjectWatch, cpu_seconds_by_process, cpu_spent, crd_cluster, kubectl
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration
from operator_scale import CRD_FILE, NAMESPACE, tradingbot

from ploy_localcluster import LocalCluster
from tradingbot_operator import children
from tradingbot_operator.children import JSON, Owner
from tradingbot_operator.children.config_map import KIND as CONFIG_MAP
from tradingbot_operator.children.deployment import KIND as DEPLOYMENT
from tradingbot_operator.children.service import KIND as SERVICE
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.model import Color, TradingBotSpec
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.plan.converge import pod_inputs
from tradingbot_operator.revision import config_hash, render_config, revision

CONCURRENCY = 64  # as the operator's passes (workqueue.MAX_CONCURRENT)


async def create_children(kube: Kube, body: JSON) -> None:
    """The children a TradingBot's first rollout ends with, before its promotion."""
    spec = TradingBotSpec.model_validate(body["spec"])
    owner = Owner.from_body(body)
    ns = owner.namespace
    await kube.create(CONFIG_MAP.path(ns), children.config_map(owner, config_hash(spec), render_config(spec)))
    await kube.create(
        DEPLOYMENT.path(ns), children.deployment(owner, Color.BLUE, revision(spec), 1, pod_inputs(spec))
    )
    await kube.create(SERVICE.path(ns), children.service(owner, ServiceRole.ACTIVE, None))
    await kube.create(SERVICE.path(ns), children.service(owner, ServiceRole.PREVIEW, Color.BLUE))


async def switch_services(kube: Kube, body: JSON) -> None:
    """The promotion's Service switch: active to blue, preview to none (the operator's patches)."""
    owner = Owner.from_body(body)
    for role, color in ((ServiceRole.ACTIVE, Color.BLUE), (ServiceRole.PREVIEW, None)):
        live = await kube.get(SERVICE.path(owner.namespace, children.service_name(owner.name, role)))
        assert live is not None and SERVICE.patch is not None
        patch, content_type = SERVICE.patch(live, children.service(owner, role, color))
        path = SERVICE.path(owner.namespace, children.service_name(owner.name, role))
        await kube.request("PATCH", path, body=patch, content_type=content_type)


def is_available(deployment: Mapping[str, Any]) -> bool:
    """True when the Deployment's one pod is available."""
    return bool((deployment.get("status") or {}).get("availableReplicas") == 1)


async def bench(cluster: LocalCluster, bots: int) -> JSON:
    """Create the TradingBots, then their children directly; measure until all are available."""
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    requests = 0

    def count(_verb: str, _resource: str) -> None:
        nonlocal requests
        requests += 1

    kube = Kube(api, on_request=count)
    slots = asyncio.Semaphore(CONCURRENCY)
    try:
        manifests = "---\n".join(yaml.safe_dump(tradingbot(i)) for i in range(bots))
        await asyncio.to_thread(kubectl, cluster, "create", "-f", "-", stdin=manifests)
        bodies = (await kube.request("GET", tradingbot_path(NAMESPACE)))["items"]
        await asyncio.sleep(5.0)  # let the control plane settle after the TradingBots' creation
        processes = cluster.pids()
        requests = 0
        cpu0 = cpu_seconds_by_process(processes)
        started = time.monotonic()

        async def one(step: Callable[[Kube, JSON], Awaitable[None]], body: JSON) -> None:
            async with slots:
                await step(kube, body)

        await asyncio.gather(*(one(create_children, b) for b in bodies))
        created = time.monotonic() - started
        async with ObjectWatch(api, ("apps", "v1", "deployments"), NAMESPACE, is_available).running() as seen:
            while sum(seen.by_name.values()) < bots:
                if time.monotonic() > started + 1800:
                    raise TimeoutError(f"not all {bots} Deployments available after 30 min")
                await asyncio.sleep(0.2)
        all_available = time.monotonic() - started
        await asyncio.gather(*(one(switch_services, b) for b in bodies))
        switched = time.monotonic() - started
        cpu = cpu_spent(cpu0, cpu_seconds_by_process(processes))
    finally:
        await api.close()
    return {
        "benchmark": "control_plane_floor",
        "python": platform.python_version(),
        "bots": bots,
        "concurrency": CONCURRENCY,
        "created_seconds": round(created, 1),
        "all_available_seconds": round(all_available, 1),
        "switched_seconds": round(switched, 1),
        "cpu_seconds_by_process": cpu,
        "api_requests": requests,
        "note": "no operator: the children of a first rollout created directly; pods faked by kwok; "
        "shared 2-core machine (indicative)",
    }


def main() -> None:
    """Parse arguments, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bots", type=int, default=1000)
    args = parser.parse_args()
    with crd_cluster("ploy-floor-", CRD_FILE, "tradingbots.ploy.dev", NAMESPACE) as cluster:
        result = asyncio.run(bench(cluster, args.bots))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
