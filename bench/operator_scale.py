"""Benchmark: the operator at scale (default 1,000 TradingBots): memory and reaction time.

Starts its own local control plane (kwok fakes the pods), creates ``--bots`` TradingBots in one
namespace, then starts ``ploy-operator run --all-namespaces`` as a child process and measures:

* ``converge_seconds``: from operator start until every TradingBot is Healthy on blue (epoch 1);
* ``rss_bytes_idle`` / ``rss_bytes_peak``: the operator's resident memory once converged
  (``VmRSS``) and its high-water mark (``VmHWM``), from ``/proc/<pid>/status``;
* ``reaction``: for ``--samples`` bots, one at a time, the seconds from a spec change (new image) to
  the operator recording the new rollout in status (``status.rollout.revision`` changes), with all
  other bots idle; p50/p99/max.

Prints one JSON object. Usage: ``.venv/bin/python bench/operator_scale.py [--bots 1000] [--samples 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from benchsupport import default_bin_dir, install_crd, kubectl, summary
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration

from ploy_localcluster import LocalCluster
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube, tradingbot_path

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "charts/ploy-operator/crds/tradingbots.ploy.dev.yaml"
NAMESPACE = "scale"
JSON = dict[str, Any]


def tradingbot(index: int) -> JSON:
    """TradingBot number ``index`` (1 replica, quick gates)."""
    return {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": f"bot-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "image": "registry.example/bot:1.0.0",
            "trading": {
                "markets": [{"conditionId": "0x" + f"{index:064x}", "tokens": ["1", "2"]}],
                "strategy": {"minEdge": "0.01", "maxOrderSize": "50"},
                "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100"},
            },
            "database": {"secretRef": {"name": "bot-db"}},
            "rollout": {"bakeSeconds": 1, "progressDeadlineSeconds": 1800, "postPromotionSeconds": 5},
        },
    }


def start_operator(cluster: LocalCluster, log: Path) -> subprocess.Popen[bytes]:
    """``ploy-operator run --all-namespaces`` as a child process, output to ``log``."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    exe = Path(sys.executable).parent / "ploy-operator"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(exe), "run", "--all-namespaces", "--metrics-port", "0"], env=env, stdout=out, stderr=out
        )


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in bytes."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


async def healthy_count(kube: Kube) -> int:
    """How many TradingBots in the namespace are Healthy on blue at epoch 1."""
    answer = await kube.request("GET", tradingbot_path(NAMESPACE))
    return sum(
        1
        for item in answer.get("items") or []
        if (s := item.get("status") or {}).get("phase") == "Healthy" and s.get("epoch") == 1
    )


async def reaction(kube: Kube, name: str, image: str) -> float:
    """Seconds from a new image on ``name`` to the operator recording the rollout in status."""
    body = await kube.get_tradingbot(NAMESPACE, name)
    assert body is not None
    before = ((body.get("status") or {}).get("rollout") or {}).get("revision")
    patch = {"spec": {"image": image}}
    started = time.monotonic()
    await kube.request("PATCH", tradingbot_path(NAMESPACE, name), body=patch, content_type=MERGE_PATCH)
    while time.monotonic() - started < 120:
        body = await kube.get_tradingbot(NAMESPACE, name)
        revision = (((body or {}).get("status") or {}).get("rollout") or {}).get("revision")
        if revision is not None and revision != before:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{name}: no reaction within 120 s")


async def bench(cluster: LocalCluster, bots: int, samples: int, log: Path) -> JSON:
    """Create the bots, run the operator as a child process, measure."""
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    kube = Kube(api)
    created = time.monotonic()
    manifests = "---\n".join(yaml.safe_dump(tradingbot(i)) for i in range(bots))
    await asyncio.to_thread(kubectl, cluster, "create", "-f", "-", stdin=manifests)
    create_seconds = time.monotonic() - created
    proc = start_operator(cluster, log)
    try:
        started = time.monotonic()
        converged = None
        while time.monotonic() - started < 1800:
            if await healthy_count(kube) >= bots:
                converged = time.monotonic() - started
                break
            await asyncio.sleep(1.0)
        if converged is None:
            raise TimeoutError(f"only {await healthy_count(kube)}/{bots} Healthy after 30 min")
        await asyncio.sleep(5.0)  # let the post-rollout passes settle
        rss_idle, _ = memory(proc.pid)
        reactions = [
            await reaction(kube, f"bot-{i * (bots // samples):04d}", "registry.example/bot:2.0.0")
            for i in range(samples)
        ]
        _, rss_peak = memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await api.close()
    return {
        "benchmark": "operator_scale",
        "python": platform.python_version(),
        "bots": bots,
        "create_seconds": round(create_seconds, 1),
        "converge_seconds": round(converged, 1),
        "rss_bytes_idle": rss_idle,
        "rss_bytes_peak": rss_peak,
        "reaction": summary(reactions),
        "note": "local control plane on this machine; pods faked by kwok",
    }


def main() -> None:
    """Parse arguments, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ploy-scale-") as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir(), timeout=300)
        cluster.start()
        try:
            install_crd(cluster, CRD_FILE, "tradingbots.ploy.dev")
            kubectl(cluster, "create", "namespace", NAMESPACE)
            kubectl(cluster, "-n", NAMESPACE, "create", "secret", "generic", "bot-db", "--from-literal=url=x")
            result = asyncio.run(bench(cluster, args.bots, args.samples, Path(tmp) / "operator.log"))
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
