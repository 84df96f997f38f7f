"""Benchmark: the operator at scale (default 1,000 TradingBots): memory and reaction time.

Starts its own local control plane (kwok fakes the pods), creates ``--bots`` TradingBots in one
namespace, then starts ``ploy-operator run --all-namespaces`` as a child process and measures:

* ``converge_seconds``: from operator start until every TradingBot is Healthy on blue (epoch 1);
* ``rss_bytes_idle`` / ``rss_bytes_peak``: the operator's resident memory once converged
  (``VmRSS``) and its high-water mark (``VmHWM``), from ``/proc/<pid>/status``;
* ``converge_cpu_seconds``: the operator's user+system CPU until then (``/proc/<pid>/stat``), and
  ``converge_api_requests``: the API requests it sent until then (``ploy_operator_api_requests_total``);
  ``converge_cpu_seconds_by_process``: the same CPU figure for every process of the control plane
  and the operator (their total over the machine's cores bounds ``converge_seconds`` from below:
  compare ``bench/control_plane_floor.py``); ``converge_passes``: the passes meanwhile;
  ``converge_timeline``: the TradingBots per phase every few seconds;
* ``idle``: CPU seconds per second and API requests per second (the operator's own
  ``ploy_operator_api_requests_total``, scraped from its metrics port) over ``--idle`` seconds once
  converged;
* ``reaction``: for ``--samples`` bots, one at a time, the seconds from a spec change (new image) to
  the operator recording the new rollout in status (``status.rollout.revision`` changes), with all
  other bots idle; p50/p99/max;
* ``burst_start``: seconds from ``--in-flight`` bots getting a new image at once to all of them having
  recorded their rollout (one figure per ``--in-flight-samples``);
* ``reaction_in_flight``: then, with those rollouts in flight, the reaction of one more bot;
* ``reaction_passes`` / ``in_flight_passes``: the operator's passes meanwhile (change lane): how
  many, their mean wait for one of the bounded slots, their mean duration (its histograms
  ``ploy_operator_workqueue_wait_seconds``, ``ploy_operator_reconcile_duration_seconds``);
* with ``--resync-seconds`` shorter than the run (the operator's resync interval), its periodic passes
  over every bot run while the reactions are measured.

Figures are from a shared 2-core machine (the control plane, kwok and the operator on the same cores):
indicative under load. Usage: ``.venv/bin/python bench/operator_scale.py [--bots 1000] [--samples 20]
[--no-child-cache]`` (``--no-child-cache``: every pass LISTs the children, for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml
from benchsupport import (
    ObjectWatch,
    cpu_seconds,
    cpu_seconds_by_process,
    cpu_spent,
    crd_cluster,
    kubectl,
    summary,
)
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration

from ploy_localcluster import LocalCluster
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.model import GROUP, PLURAL, VERSION

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


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_operator(
    cluster: LocalCluster,
    log: Path,
    port: int,
    resync: float,
    child_cache: bool = True,
    max_concurrent_passes: int | None = None,
) -> subprocess.Popen[bytes]:
    """``ploy-operator run --all-namespaces`` as a child process, output to ``log``, metrics on ``port``
    (``child_cache`` False: ``--no-child-cache``, every pass LISTs the children;
    ``max_concurrent_passes``: its ``--max-concurrent-passes``, None: the operator's default)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    exe = Path(sys.executable).parent / "ploy-operator"
    args = ["run", "--all-namespaces", "--metrics-port", str(port), "--resync-seconds", str(resync)]
    if not child_cache:
        args.append("--no-child-cache")
    if max_concurrent_passes is not None:
        args += ["--max-concurrent-passes", str(max_concurrent_passes)]
    with log.open("wb") as out:
        return subprocess.Popen([str(exe), *args], env=env, stdout=out, stderr=out)


def api_requests(port: int) -> float:
    """The operator's ``ploy_operator_api_requests_total``, summed over verbs and resources."""
    return sum(api_requests_by_kind(port).values())


def api_requests_by_kind(port: int) -> dict[str, float]:
    """The operator's ``ploy_operator_api_requests_total`` by ``"<verb> <resource>"``."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ploy_operator_api_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            found = dict(part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(","))
            kind = f"{found.get('verb', '').strip(chr(34))} {found.get('resource', '').strip(chr(34))}"
            counts[kind] = counts.get(kind, 0.0) + float(value)
    return counts


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in bytes."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def phase_of(tradingbot: Mapping[str, Any]) -> str:
    """The TradingBot's phase (``"Healthy"`` only on blue at epoch 1; ``"-"``: no status yet)."""
    status = tradingbot.get("status") or {}
    phase = str(status.get("phase") or "-")
    return "Healthy (other epoch)" if phase == "Healthy" and status.get("epoch") != 1 else phase


def phase_counts(phases: ObjectWatch) -> dict[str, int]:
    """How many TradingBots of the namespace are in each phase (:func:`phase_of`)."""
    return dict(Counter(phases.by_name.values()))


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


def pass_totals(port: int) -> dict[str, float]:
    """Sums and counts of the operator's queue-wait and pass-duration histograms, change lane."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("ploy_operator_workqueue_wait_seconds", "ploy_operator_reconcile_duration_seconds"):
            for part in ("_sum", "_count"):
                if line.startswith(f'{name}{part}{{lane="change"}}'):
                    totals[name + part] = float(line.rsplit(" ", 1)[1])
    return totals


def pass_figures(before: dict[str, float], after: dict[str, float]) -> JSON:
    """Passes in the change lane between two scrapes: count, mean wait for a slot, mean duration."""
    wait, work = "ploy_operator_workqueue_wait_seconds", "ploy_operator_reconcile_duration_seconds"
    count = after.get(wait + "_count", 0.0) - before.get(wait + "_count", 0.0)
    if count <= 0:
        return {"passes": 0}
    return {
        "passes": int(count),
        "mean_wait_seconds": round((after[wait + "_sum"] - before.get(wait + "_sum", 0.0)) / count, 3),
        "mean_pass_seconds": round((after[work + "_sum"] - before.get(work + "_sum", 0.0)) / count, 3),
    }


async def start_rollouts(kube: Kube, names: list[str], image: str) -> float:
    """New image on every bot of ``names`` at once; seconds until all of them record their rollout."""
    patch = {"spec": {"image": image}}
    started = time.monotonic()
    await asyncio.gather(
        *(
            kube.request("PATCH", tradingbot_path(NAMESPACE, n), body=patch, content_type=MERGE_PATCH)
            for n in names
        )
    )
    wanted = set(names)
    while time.monotonic() - started < 300:
        answer = await kube.request("GET", tradingbot_path(NAMESPACE))
        started_now = {
            item["metadata"]["name"]
            for item in answer.get("items") or []
            if item["metadata"]["name"] in wanted
            and ((item.get("status") or {}).get("rollout") or {}).get("revision") is not None
        }
        if started_now >= wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{len(wanted)} rollouts not started within 300 s")


async def bench(cluster: LocalCluster, args: argparse.Namespace, log: Path) -> JSON:
    """Create the bots, run the operator as a child process, measure."""
    bots = args.bots
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    kube = Kube(api)
    created = time.monotonic()
    manifests = "---\n".join(yaml.safe_dump(tradingbot(i)) for i in range(bots))
    await asyncio.to_thread(kubectl, cluster, "create", "-f", "-", stdin=manifests)
    create_seconds = time.monotonic() - created
    port = free_port()
    proc = start_operator(
        cluster, log, port, args.resync_seconds, not args.no_child_cache, args.max_concurrent_passes
    )
    processes = {**cluster.pids(), "ploy-operator": proc.pid}
    cpu_at_start = cpu_seconds_by_process(processes)
    names = [f"bot-{i:04d}" for i in range(bots)]
    step = max(1, bots // max(1, args.samples + args.in_flight_samples))
    sampled = names[::step]
    try:
        started = time.monotonic()
        converged = None
        timeline: list[JSON] = []
        async with ObjectWatch(api, (GROUP, VERSION, PLURAL), NAMESPACE, phase_of).running() as phases:
            while time.monotonic() - started < 1800:
                counts = phase_counts(phases)
                elapsed = time.monotonic() - started
                if not timeline or elapsed - timeline[-1]["seconds"] >= 5 or counts.get("Healthy", 0) >= bots:
                    cpu = round(cpu_seconds(proc.pid), 1)
                    timeline.append({"seconds": round(elapsed, 1), "cpu_seconds": cpu, **counts})
                if counts.get("Healthy", 0) >= bots:
                    converged = elapsed
                    break
                await asyncio.sleep(0.2)
        if converged is None:
            raise TimeoutError(f"only {phase_counts(phases).get('Healthy', 0)}/{bots} Healthy after 30 min")
        converge_cpu, by_kind = cpu_seconds(proc.pid), api_requests_by_kind(port)
        converge_passes = pass_figures({}, pass_totals(port))
        converge_cpu_by_process = cpu_spent(cpu_at_start, cpu_seconds_by_process(processes))
        converge_requests = sum(by_kind.values())
        await asyncio.sleep(5.0)  # let the post-rollout passes settle
        rss_idle, _ = memory(proc.pid)
        cpu0, requests0, t0 = cpu_seconds(proc.pid), api_requests(port), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_span = time.monotonic() - t0
        idle = {
            "seconds": round(idle_span, 1),
            "cpu_seconds_per_second": round((cpu_seconds(proc.pid) - cpu0) / idle_span, 4),
            "api_requests_per_second": round((api_requests(port) - requests0) / idle_span, 2),
        }
        totals0 = pass_totals(port)
        reactions = [await reaction(kube, n, "registry.example/bot:2.0.0") for n in sampled[: args.samples]]
        totals1 = pass_totals(port)
        in_flight: list[float] = []
        burst: list[float] = []
        others = [n for n in names if n not in set(sampled)]
        for i, sample in enumerate(sampled[args.samples : args.samples + args.in_flight_samples]):
            batch = others[i * args.in_flight : (i + 1) * args.in_flight]
            burst.append(await start_rollouts(kube, batch, "registry.example/bot:3.0.0"))
            in_flight.append(await reaction(kube, sample, "registry.example/bot:3.0.0"))
        totals2 = pass_totals(port)
        _, rss_peak = memory(proc.pid)
        total_cpu = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await api.close()
    return {
        "benchmark": "operator_scale",
        "python": platform.python_version(),
        "bots": bots,
        "resync_seconds": args.resync_seconds,
        "child_cache": not args.no_child_cache,
        "max_concurrent_passes": args.max_concurrent_passes,
        "create_seconds": round(create_seconds, 1),
        "converge_seconds": round(converged, 1),
        "converge_cpu_seconds": round(converge_cpu, 1),
        "converge_cpu_seconds_by_process": converge_cpu_by_process,
        "converge_api_requests": round(converge_requests),
        "converge_passes": converge_passes,
        "converge_timeline": timeline,
        "converge_api_requests_per_bot": {k: round(v / bots, 2) for k, v in sorted(by_kind.items())},
        "rss_bytes_idle": rss_idle,
        "rss_bytes_peak": rss_peak,
        "idle": idle,
        "reaction": summary(reactions),
        "reaction_passes": pass_figures(totals0, totals1),
        "in_flight": args.in_flight,
        "burst_start": summary(burst) if burst else None,
        "reaction_in_flight": summary(in_flight) if in_flight else None,
        "in_flight_passes": pass_figures(totals1, totals2),
        "cpu_seconds_total": round(total_cpu, 1),
        "note": "local control plane on a shared 2-core machine (indicative under load); pods faked by kwok",
    }


def main() -> None:
    """Parse arguments, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=100, help="rollouts in flight per sample")
    parser.add_argument("--in-flight-samples", type=int, default=5)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--resync-seconds", type=float, default=300.0, help="the operator's resync interval")
    parser.add_argument(
        "--no-child-cache", action="store_true", help="list the children on every pass (the old way)"
    )
    parser.add_argument("--max-concurrent-passes", type=int, default=None, help="the operator's option")
    args = parser.parse_args()
    with crd_cluster("ploy-scale-", CRD_FILE, "tradingbots.ploy.dev", NAMESPACE) as cluster:
        kubectl(cluster, "-n", NAMESPACE, "create", "secret", "generic", "bot-db", "--from-literal=url=x")
        result = asyncio.run(bench(cluster, args, cluster.workdir / "operator.log"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
