"""Benchmark: promote reaction and automatic-rollback latency on the local control plane.

Starts its own control plane (``LocalCluster``: kube-apiserver, etcd, controller-manager, scheduler,
kwok), installs the TradingBot CRD and runs the operator in this process (its own thread and loop).
For each of ``--runs`` TradingBots (one after another, one namespace each):

* **promote reaction**: after the first rollout, a new image goes to green. The bench polls every
  ``--poll`` seconds; ``ready`` is the first poll with the green pod Ready, the gate opens at
  ``ready + bakeSeconds`` (``--bake``, default 2; 0 promotes as soon as the pods are Ready), and
  ``switched`` is the first poll where the active Service selects green.
  Figure: ``switched - (ready + bakeSeconds)``. Kubernetes condition timestamps have whole seconds,
  so the operator's bake clock can open the gate up to 1 s before or after the exact instant.
* **rollback latency**: the green pods are ``ready-then-fail`` (kwok turns them NotReady
  ``--fail-after`` seconds after Ready, inside the post-promotion window). ``failed`` is the first
  poll with the green pod NotReady after promotion, ``back`` the first poll where the active Service
  selects blue again. Figure: ``back - failed``.

* **a clean promotion** (third revision, no fault, ``postPromotionSeconds`` = ``scaleDownDelaySeconds``
  = 2): ``gate_lateness`` is how late the operator's timed gates act after their due time as the
  status records it: the bake gate (active Service selects green) after ``rollout.readySince +
  bakeSeconds``, and the scale-down (old Deployment at 0 replicas) after ``standby.scaleDownAt``,
  both polled every ``--poll`` seconds against the wall clock; ``api_requests_per_rollout`` (the
  operator's ``ploy_operator_api_requests_total`` from the spec change to the scale-down, by verb and
  resource) and ``cpu_seconds_per_rollout`` (the operator thread's user+system CPU over the same span,
  ``/proc/self/task/<tid>/stat``, 10 ms ticks).

Prints one JSON object with p50/p99/max per figure (seconds). Usage:
``.venv/bin/python bench/rollout_latency.py [--runs 8] [--poll 0.02] [--no-child-cache]``
(``--no-child-cache``: every pass LISTs the children, for comparison with the watch-fed cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchsupport import default_bin_dir, install_crd, kubectl, summary
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from ploy_localcluster import LocalCluster
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.main import RunOptions, run_operator

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "charts/ploy-operator/crds/tradingbots.ploy.dev.yaml"
# Seconds; the default bake (--bake).
BAKE_SECONDS = 2
# Seconds; the clean promotion's post-promotion window and scale-down delay.
SCALE_DOWN_SECONDS = 2
JSON = dict[str, Any]


class OperatorProbe:
    """The in-process operator's request counter and its thread's CPU time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tid: int | None = None

    def requests(self) -> dict[str, float]:
        """``verb resource`` -> requests sent so far."""
        counts: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "ploy_operator_api_requests_total":
                    counts[f"{sample.labels['verb']} {sample.labels['resource']}"] = sample.value
        return counts

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the operator's thread."""
        assert self.tid is not None
        fields = Path(f"/proc/self/task/{self.tid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def _when(stamp: str) -> float:
    """An RFC 3339 status timestamp as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def tradingbot(
    name: str, image: str, *, post_promotion: int, labels: dict[str, str], fail_after: str, bake: int
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
                "bakeSeconds": bake,
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
    # Terminating pods count too: the operator scales a failed color to 0 in the pass that switches
    # back, so a pod that went NotReady may already be terminating at the next poll.
    pods = list(answer.get("items") or [])
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


async def clean_promotion(
    kube: Kube, probe: OperatorProbe, namespace: str, name: str, poll: float, bake: int
) -> JSON:
    """Third revision without fault: gate lateness, requests and CPU of one whole rollout."""
    requests_before, cpu_before = probe.requests(), probe.cpu_seconds()
    patch = {
        "spec": {
            "image": "registry.example/bot:3.0.0",
            "podTemplate": {"labels": None, "annotations": None},
            "rollout": {
                "postPromotionSeconds": SCALE_DOWN_SECONDS,
                "scaleDownDelaySeconds": SCALE_DOWN_SECONDS,
            },
        }
    }
    await kube.request("PATCH", tradingbot_path(namespace, name), body=patch, content_type=MERGE_PATCH)
    deadline = time.monotonic() + 120
    while await _selected(kube, namespace, name) != "green":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{namespace}: clean promotion not switched")
        await asyncio.sleep(poll)
    switched = time.time()
    body = await kube.get_tradingbot(namespace, name)
    status: JSON = (body or {}).get("status") or {}
    rollout = status.get("rollout") or {}
    bake_due = _when(rollout["readySince"]) + bake
    scale_down_due = _when(status["standby"]["scaleDownAt"])
    blue = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}-blue"
    while ((await kube.get(blue)) or {}).get("spec", {}).get("replicas") != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{namespace}: blue not scaled down")
        await asyncio.sleep(poll)
    scaled_down = time.time()
    await asyncio.sleep(0.5)  # the passes the scale-down's own events trigger
    requests_after, cpu_after = probe.requests(), probe.cpu_seconds()
    requests = {
        k: v - requests_before.get(k, 0.0)
        for k, v in requests_after.items()
        if v > requests_before.get(k, 0.0)
    }
    return {
        "bake_lateness": switched - bake_due,
        "scale_down_lateness": scaled_down - scale_down_due,
        "requests": requests,
        "cpu_seconds": cpu_after - cpu_before,
    }


async def one_run(
    cluster: LocalCluster,
    kube: Kube,
    probe: OperatorProbe,
    index: int,
    poll: float,
    fail_after: float,
    bake: int,
) -> tuple[float, float, JSON]:
    """One TradingBot: (promote reaction, rollback latency, clean promotion figures)."""
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
        bake=bake,
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
    await _wait(kube, namespace, name, lambda s: not s.get("rollout") and s.get("activeColor") == "blue")
    clean = await clean_promotion(kube, probe, namespace, name, poll, bake)
    kubectl(cluster, "delete", "namespace", namespace, "--wait=false")
    return switched_at - (ready_at + bake), back_at - failed_at, clean


async def bench(
    cluster: LocalCluster, runs: int, poll: float, fail_after: float, bake: int, child_cache: bool = True
) -> JSON:
    """Run the operator in a thread and measure ``runs`` TradingBots one after another (``child_cache``
    False: every pass LISTs the children, as before the children cache)."""
    stop, ready = threading.Event(), threading.Event()
    options = RunOptions(metrics_port=0, kubeconfig=str(cluster.kubeconfig), child_cache=child_cache)
    probe = OperatorProbe(CollectorRegistry())

    def operator_thread() -> None:
        probe.tid = threading.get_native_id()
        asyncio.run(run_operator(options, stop_flag=stop, ready_flag=ready, registry=probe.registry))

    thread = threading.Thread(target=operator_thread, daemon=True)
    thread.start()
    await asyncio.to_thread(ready.wait, 60)
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    promote: list[float] = []
    rollback: list[float] = []
    clean: list[JSON] = []
    try:
        kube = Kube(api)
        for index in range(runs):
            p, r, c = await one_run(cluster, kube, probe, index, poll, fail_after, bake)
            promote.append(p)
            rollback.append(r)
            clean.append(c)
    finally:
        await api.close()
        stop.set()
        await asyncio.to_thread(thread.join, 30)
    return {
        "benchmark": "rollout_latency",
        "python": platform.python_version(),
        "runs": runs,
        "poll_seconds": poll,
        "bake_seconds": bake,
        "child_cache": child_cache,
        "promote_reaction": summary(promote),
        "rollback_latency": summary(rollback),
        "gate_lateness": {
            "bake": summary([c["bake_lateness"] for c in clean]),
            "scale_down": summary([c["scale_down_lateness"] for c in clean]),
        },
        "api_requests_per_rollout": per_rollout([c["requests"] for c in clean]),
        "cpu_seconds_per_rollout": summary([c["cpu_seconds"] for c in clean]),
        "note": "local control plane (kwok pods) on a shared 2-core machine: indicative under load; "
        "the promote reaction has 1 s resolution (Kubernetes timestamps), gate lateness the poll's",
    }


def per_rollout(runs: list[dict[str, float]]) -> JSON:
    """Mean requests per rollout, in total and by ``verb resource``."""
    keys = sorted({k for r in runs for k in r})
    by = {k: round(sum(r.get(k, 0.0) for r in runs) / len(runs), 1) for k in keys}
    return {"total": round(sum(by.values()), 1), "by_verb_resource": by}


def main() -> None:
    """Parse arguments, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.01, help="seconds between polls")
    parser.add_argument("--bake", type=int, default=BAKE_SECONDS, help="bakeSeconds (0: promote once Ready)")
    parser.add_argument("--fail-after", type=float, default=4.0, help="seconds green stays Ready")
    parser.add_argument(
        "--no-child-cache", action="store_true", help="list the children on every pass (the old way)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ploy-bench-") as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir())
        cluster.start()
        try:
            install_crd(cluster, CRD_FILE, "tradingbots.ploy.dev")
            result = asyncio.run(
                bench(cluster, args.runs, args.poll, args.fail_after, args.bake, not args.no_child_cache)
            )
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
