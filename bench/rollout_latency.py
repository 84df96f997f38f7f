"""Benchmark: promote reaction and automatic-rollback latency on the local control plane.

Starts its own control plane (``LocalCluster``: kube-apiserver, etcd, controller-manager, scheduler,
kwok), installs the TradingBot CRD and runs the operator in this process (its own thread and loop).
For each of ``--runs`` TradingBots (one after another, one namespace each):

* **promote reaction**: after the first rollout, a new image goes to green. The bench polls every
  ``--poll`` seconds; ``ready`` is the first poll with the green pod Ready, the gate opens at
  ``ready + bakeSeconds``, and ``switched`` is the first poll where the active Service selects green.
  Figure: ``switched - (ready + bakeSeconds)``. Kubernetes condition timestamps have whole seconds,
  so the operator's bake clock can open the gate up to 1 s before or after the exact instant.
* **rollback latency**: the green pods are ``ready-then-fail`` (kwok turns them NotReady
  ``--fail-after`` seconds after Ready, inside the post-promotion window). ``failed`` is the first
  poll with the green pod NotReady after promotion, ``back`` the first poll where the active Service
  selects blue again. Figure: ``back - failed``.

Prints one JSON object with p50/p99/max per figure (seconds). Usage:
``.venv/bin/python bench/rollout_latency.py [--runs 8] [--poll 0.02]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchsupport import default_bin_dir, install_crd, kubectl, summary
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from ploy_localcluster import LocalCluster
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube, tradingbot_path
from tradingbot_operator.main import RunOptions, run_operator

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "charts/ploy-operator/crds/tradingbots.ploy.dev.yaml"
BAKE_SECONDS = 2
JSON = dict[str, Any]


def tradingbot(
    name: str, image: str, *, post_promotion: int, labels: dict[str, str], fail_after: str
) -> JSON:
    """A TradingBot with bench timings (bake 2 s)."""
    return {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "image": image,
            "trading": {
                "markets": [{"conditionId": "0x" + "cd" * 32, "tokens": ["1", "2"]}],
                "strategy": {"minEdge": "0.01", "maxOrderSize": "50"},
                "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100"},
            },
            "database": {"secretRef": {"name": "bot-db"}},
            "rollout": {
                "bakeSeconds": BAKE_SECONDS,
                "progressDeadlineSeconds": 60,
                "postPromotionSeconds": post_promotion,
                "scaleDownDelaySeconds": post_promotion,
            },
            "podTemplate": {"labels": labels, "annotations": {"ploy.dev/fail-after": fail_after}},
        },
    }


async def _pod_ready(kube: Kube, namespace: str, color: str) -> bool | None:
    answer = await kube.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": f"ploy.dev/color={color}"}
    )
    pods = [p for p in answer.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
    if not pods:
        return None
    ready = [
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
        for p in pods
    ]
    return all(ready)


async def _selected(kube: Kube, namespace: str, name: str) -> str | None:
    service = await kube.get(f"/api/v1/namespaces/{namespace}/services/{name}")
    return None if service is None else service["spec"]["selector"].get("ploy.dev/color")


async def _wait(kube: Kube, namespace: str, name: str, pred: Any, limit: float = 90.0) -> JSON:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        body = await kube.get_tradingbot(namespace, name)
        status: JSON = (body or {}).get("status") or {}
        if pred(status):
            return status
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{namespace}/{name}: condition not reached")


async def one_run(
    cluster: LocalCluster, kube: Kube, index: int, poll: float, fail_after: float
) -> tuple[float, float]:
    """One TradingBot: (promote reaction, rollback latency) in seconds."""
    namespace, name = f"bench-{index}", "bot"
    kubectl(cluster, "create", "namespace", namespace)
    kubectl(
        cluster, "-n", namespace, "create", "secret", "generic", "bot-db", "--from-literal=url=postgres://x"
    )
    post = int(fail_after) + 10
    manifest = tradingbot(
        name,
        "registry.example/bot:1.0.0",
        post_promotion=post,
        labels={"ploy.dev/fault": "ready-then-fail"},
        fail_after=f"{3600}s",
    )
    await kube.request("POST", tradingbot_path(namespace), body=manifest)
    await _wait(kube, namespace, name, lambda s: s.get("phase") == "Healthy")
    # The new revision fails `fail_after` seconds after it became Ready (after bake and promotion).
    patch = {
        "spec": {
            "image": "registry.example/bot:2.0.0",
            "podTemplate": {
                "labels": {"ploy.dev/fault": "ready-then-fail"},
                "annotations": {"ploy.dev/fail-after": f"{fail_after}s"},
            },
        }
    }
    await kube.request("PATCH", tradingbot_path(namespace, name), body=patch, content_type=MERGE_PATCH)
    ready_at = switched_at = failed_at = back_at = None
    deadline = time.monotonic() + 120
    while back_at is None and time.monotonic() < deadline:
        now = time.monotonic()
        green_ready = await _pod_ready(kube, namespace, "green")
        selected = await _selected(kube, namespace, name)
        if ready_at is None and green_ready:
            ready_at = now
        if switched_at is None and selected == "green":
            switched_at = now
        if switched_at is not None and failed_at is None and green_ready is False:
            failed_at = now
        if failed_at is not None and selected == "blue":
            back_at = now
        await asyncio.sleep(poll)
    if None in (ready_at, switched_at, failed_at, back_at):
        raise TimeoutError(
            f"run {index}: ready {ready_at} switched {switched_at} failed {failed_at} back {back_at}"
        )
    assert ready_at is not None and switched_at is not None and failed_at is not None and back_at is not None
    kubectl(cluster, "delete", "namespace", namespace, "--wait=false")
    return switched_at - (ready_at + BAKE_SECONDS), back_at - failed_at


async def bench(cluster: LocalCluster, runs: int, poll: float, fail_after: float) -> JSON:
    """Run the operator in a thread and measure ``runs`` TradingBots one after another."""
    stop, ready = threading.Event(), threading.Event()
    options = RunOptions(metrics_port=0, kubeconfig=str(cluster.kubeconfig))
    thread = threading.Thread(
        target=lambda: asyncio.run(
            run_operator(options, stop_flag=stop, ready_flag=ready, registry=CollectorRegistry())
        ),
        daemon=True,
    )
    thread.start()
    await asyncio.to_thread(ready.wait, 60)
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    promote: list[float] = []
    rollback: list[float] = []
    try:
        kube = Kube(api)
        for index in range(runs):
            p, r = await one_run(cluster, kube, index, poll, fail_after)
            promote.append(p)
            rollback.append(r)
    finally:
        await api.close()
        stop.set()
        await asyncio.to_thread(thread.join, 30)
    return {
        "benchmark": "rollout_latency",
        "python": platform.python_version(),
        "runs": runs,
        "poll_seconds": poll,
        "bake_seconds": BAKE_SECONDS,
        "promote_reaction": summary(promote),
        "rollback_latency": summary(rollback),
        "note": "local control plane (kwok pods); Kubernetes timestamps have 1 s resolution",
    }


def main() -> None:
    """Parse arguments, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between polls")
    parser.add_argument("--fail-after", type=float, default=4.0, help="seconds green stays Ready")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ploy-bench-") as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir())
        cluster.start()
        try:
            install_crd(cluster, CRD_FILE, "tradingbots.ploy.dev")
            result = asyncio.run(bench(cluster, args.runs, args.poll, args.fail_after))
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
