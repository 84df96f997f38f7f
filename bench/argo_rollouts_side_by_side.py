"""Benchmark: Ploy's operator and the Argo Rollouts controller side by side on one control plane.

Builds (or finds cached) the Argo Rollouts controller with ``scripts/build-argo-rollouts.sh`` (v1.9.3
from Go modules), starts one ``LocalCluster`` (kwok pods), installs both CRD sets and runs both
controllers as local processes against its admin kubeconfig: ``ploy-operator run --all-namespaces``
and ``rollouts-controller --leader-elect=false`` (its metrics and healthz servers listen on
``0.0.0.0`` with no flag to narrow them; the bench gives them free ports and scrapes only loopback).

Runs are interleaved (Ploy, Argo, Argo, Ploy, ...), ``--runs`` each, one namespace per run. Each run
creates one blue-green object with equivalent gates (see ``sidebyside_controllers``: promote as soon
as the new pods are Ready, progress deadline 60 s (Argo: ``progressDeadlineAbort``), previous version
kept warm ``--scale-down`` seconds), waits for Healthy, changes the image and polls every ``--poll`` seconds:

* **promote reaction**: first poll with the new pods Ready → first poll with the active Service
  selecting them;
* **spec change → switched**: the PATCH sent → first poll with the Service switched;
* **CPU per rollout**: the controller process's user+system CPU (``/proc/<pid>/stat``, 10 ms ticks)
  from just before the PATCH to 0.5 s after the previous version is scaled to 0; includes the
  controller's idle background over that span;
* **API requests per rollout** over the same span, each controller's own client-side counter
  (``ploy_operator_api_requests_total``; Argo's ``controller_clientset_k8s_request_total``).

Then the failure rows (``sidebyside_failures``; ``--failure-runs`` each, interleaved, 0 skips them):
**deadline → old version serving alone** (new pods never Ready, progress deadline ``--deadline`` s in
both) and **new pods NotReady after promotion → Service back on old** (``None``/"never" after
``--never-after`` s: Argo Rollouts has no rollback of a promoted version without an analysis).

Then, at scale (``--objects``, default 200 per controller, one namespace each; 0 skips it): Ploy's
objects are created while both controllers run, then Argo's (so Argo converges with Ploy's objects
idle beside it): **all Healthy** seconds and **CPU to converge** from the first create; **idle CPU**
(CPU seconds per second of both, over ``--idle`` seconds with all objects Healthy); then
``--scale-samples`` rollouts each, interleaved, with all objects existing (same figures as above).

Prints one JSON object: per controller p50/p99/max, the ratios Ploy/Argo (p50, p99; > 1 means Ploy
is slower or costlier), and what is not equivalent. Argo Rollouts logs "Unable to Process Create
request ... Kind=replicasets" on every ReplicaSet create: its client-metrics wrapper
(argoproj/pkg ``kubeclientmetrics``) parses the protobuf body as JSON to label the request; harmless.
Figures from a 2-core machine possibly shared with other work: indicative.
Usage: ``.venv/bin/python bench/argo_rollouts_side_by_side.py [--runs 8] [--objects 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchsupport import cpu_seconds, default_bin_dir, install_crd, summary
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration
from operator_scale import free_port, start_operator
from sidebyside_controllers import ArgoController, Controller, PloyController, create, new_ready
from sidebyside_failures import failure_ratios, failure_rows, table

from ploy_localcluster import LocalCluster
from tradingbot_operator.kube import Kube

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "charts/ploy-operator/crds/tradingbots.ploy.dev.yaml"
# CRD name -> file in the module's manifests/crds (the controller's informers need all five).
ARGO_CRDS = {
    "rollouts.argoproj.io": "rollout-crd.yaml",
    "analysisruns.argoproj.io": "analysis-run-crd.yaml",
    "analysistemplates.argoproj.io": "analysis-template-crd.yaml",
    "clusteranalysistemplates.argoproj.io": "cluster-analysis-template-crd.yaml",
    "experiments.argoproj.io": "experiment-crd.yaml",
}
JSON = dict[str, Any]
NOT_EQUIVALENT = [
    "Argo Rollouts has no automatic rollback after promotion without an AnalysisTemplate; Ploy watches "
    "the new pods for postPromotionSeconds (= scaleDownDelaySeconds here) and switches back on failure, "
    "which is part of its CPU and requests here",
    "Argo Rollouts' scaleDownDelaySeconds: 0 re-queues the Rollout about 20 times a second; this bench "
    "keeps the previous version warm for --scale-down seconds (default 2) in both",
    "Ploy's pods carry health probes and a database Secret reference, Argo's a bare container; kwok "
    "makes both Ready the same way, no container runs",
    "Ploy's operator is Python (kopf, one process), Argo Rollouts Go (client-go informers)",
    "progress deadline: Argo Rollouts aborts only with progressDeadlineAbort: true and scales the aborted "
    "ReplicaSet down abortScaleDownDelaySeconds later (1 s here, its shortest: 0 keeps it up for good); "
    "Ploy scales the failed color down in the rollback itself",
]


def build_argo_rollouts() -> Path:
    """The directory with ``rollouts-controller`` and its CRDs: ``$PLOY_ARGO_ROLLOUTS_BIN`` (set by
    ``scripts/bench.sh``), else what ``scripts/build-argo-rollouts.sh`` builds or finds cached."""
    if given := os.environ.get("PLOY_ARGO_ROLLOUTS_BIN"):
        return Path(given)
    out = subprocess.run(
        ["bash", str(REPO / "scripts/build-argo-rollouts.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def start_argo(cluster: LocalCluster, binary: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    """``rollouts-controller`` against the cluster, metrics on ``port``, healthz on another free port."""
    args = [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig}",
        "--leader-elect=false",
        f"--metricsPort={port}",
        f"--healthzPort={free_port()}",
        "--loglevel=warn",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=out)


def requests_total(port: int, metric: str) -> float:
    """Sum of counter ``metric`` over all labels on ``127.0.0.1:port/metrics``."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(metric + "{"))


class Process:
    """A controller process: its pid, metrics port and request counter name."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, metric: str) -> None:
        self.proc, self.port, self.metric = proc, port, metric

    def sample(self) -> tuple[float, float]:
        """(CPU seconds, API requests) so far."""
        return cpu_seconds(self.proc.pid), requests_total(self.port, self.metric)


async def rollout(controller: Controller, process: Process, namespace: str, poll: float) -> JSON:
    """Change the image of a Healthy object; time the switch and the scale-down of the old version."""
    cpu0, requests0 = process.sample()
    sent = time.monotonic()
    await controller.change(namespace, "registry.example/app:2")
    ready_at = switched_at = None
    deadline = sent + 120
    while switched_at is None:
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"{controller.name} {namespace}: ready {ready_at} switched {switched_at}")
        if ready_at is None and await new_ready(controller, namespace):
            ready_at = now
        if await controller.switched(namespace):
            switched_at = now
            ready_at = now if ready_at is None else ready_at
        await asyncio.sleep(poll)
    while not await controller.old_scaled_down(namespace):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{controller.name} {namespace}: previous version not scaled down")
        await asyncio.sleep(poll)
    assert ready_at is not None
    await asyncio.sleep(0.5)  # the passes the scale-down's own events trigger
    cpu1, requests1 = process.sample()
    return {
        "promote_reaction": switched_at - ready_at,
        "change_to_switched": switched_at - sent,
        "cpu_seconds": cpu1 - cpu0,
        "api_requests": requests1 - requests0,
    }


async def one_run(controller: Controller, process: Process, namespace: str, poll: float) -> JSON:
    """A fresh object in its own namespace: Healthy, then one rollout; the namespace is deleted after."""
    await create(controller, namespace)
    await asyncio.sleep(1.0)  # let the passes of the first version's tail settle
    result = await rollout(controller, process, namespace, poll)
    await controller.delete(namespace)
    return result


async def converge(controller: Controller, process: Process, objects: int) -> JSON:
    """Create ``objects`` objects (one namespace each, 20 requests at a time) while the controller runs;
    seconds and controller CPU from the first create until all are Healthy."""
    prefix = f"{controller.name}-scale-"
    cpu0, started = process.sample()[0], time.monotonic()
    names = [f"{prefix}{i:04d}" for i in range(objects)]
    for at in range(0, objects, 20):
        await asyncio.gather(*(controller.submit(n) for n in names[at : at + 20]))
    while (healthy := await controller.healthy_count(prefix)) < objects:
        if time.monotonic() - started > 1800:
            raise TimeoutError(f"{controller.name}: {healthy}/{objects} Healthy after 30 min")
        await asyncio.sleep(1.0)
    return {
        "all_healthy_seconds": round(time.monotonic() - started, 1),
        "cpu_seconds_to_converge": round(process.sample()[0] - cpu0, 2),
    }


def figures(runs: list[JSON]) -> JSON:
    """p50/p99/max of the latencies, CPU and requests per rollout of one controller's runs."""
    return {
        "promote_reaction": summary([r["promote_reaction"] for r in runs]),
        "change_to_switched": summary([r["change_to_switched"] for r in runs]),
        "cpu_seconds_per_rollout": summary([r["cpu_seconds"] for r in runs]),
        "api_requests_per_rollout": round(statistics.mean(r["api_requests"] for r in runs), 1),
    }


async def at_scale(
    controllers: dict[str, Controller], processes: dict[str, Process], args: argparse.Namespace
) -> JSON:
    """``--objects`` objects per controller (Ploy's created first, then Argo's, so Argo converges with
    Ploy's objects idle beside it), idle CPU, then ``--scale-samples`` spec changes each, interleaved,
    while all of them exist."""
    out: JSON = {"objects_each": args.objects}
    for name, controller in controllers.items():
        out[name] = await converge(controller, processes[name], args.objects)
        print(f"[side-by-side] {args.objects} {name}: {json.dumps(out[name])}", file=sys.stderr, flush=True)
    cpu0 = {name: process.sample()[0] for name, process in processes.items()}
    started = time.monotonic()
    await asyncio.sleep(args.idle)
    span = time.monotonic() - started
    for name, process in processes.items():
        out[name]["idle_cpu_seconds_per_second"] = round((process.sample()[0] - cpu0[name]) / span, 4)
    step = max(1, args.objects // max(1, args.scale_samples))
    samples: dict[str, list[JSON]] = {name: [] for name in controllers}
    for turn, index in enumerate(list(range(0, args.objects, step))[: args.scale_samples]):
        order = ("ploy", "argo") if turn % 2 == 0 else ("argo", "ploy")
        for name in order:
            namespace = f"{name}-scale-{index:04d}"
            samples[name].append(await rollout(controllers[name], processes[name], namespace, args.poll))
    for name in controllers:
        out[name].update(figures(samples[name]))
    ploy, argo = out["ploy"], out["argo"]
    out["ratio_ploy_over_argo"] = {
        "all_healthy_seconds": round(ploy["all_healthy_seconds"] / argo["all_healthy_seconds"], 2),
        "cpu_seconds_to_converge": round(
            ploy["cpu_seconds_to_converge"] / max(argo["cpu_seconds_to_converge"], 0.01), 2
        ),
        **ratios(ploy, argo),
    }
    return out


def ratios(ploy: JSON, argo: JSON) -> JSON:
    """Ploy / Argo Rollouts per figure (p50 and p99; > 1 means Ploy is slower or costlier)."""

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b > 0 else None

    out: JSON = {}
    for key in ("promote_reaction", "change_to_switched", "cpu_seconds_per_rollout"):
        for q in ("p50_seconds", "p99_seconds"):
            out[f"{key}.{q.removesuffix('_seconds')}"] = ratio(ploy[key][q], argo[key][q])
    out["api_requests_per_rollout"] = ratio(
        ploy["api_requests_per_rollout"], argo["api_requests_per_rollout"]
    )
    return out


async def bench(cluster: LocalCluster, args: argparse.Namespace, argo_bin: Path, workdir: Path) -> JSON:
    """Start both controllers, run the interleaved rollouts, summarise."""
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = ApiClient(configuration)
    kube = Kube(api)
    ploy_port, argo_port = free_port(), free_port()
    ploy_proc = start_operator(cluster, workdir / "ploy-operator.log", ploy_port, 300.0)
    argo_proc = start_argo(
        cluster, argo_bin / "rollouts-controller", workdir / "argo-rollouts.log", argo_port
    )
    processes = {
        "ploy": Process(ploy_proc, ploy_port, "ploy_operator_api_requests_total"),
        "argo": Process(argo_proc, argo_port, "controller_clientset_k8s_request_total"),
    }
    controllers: dict[str, Controller] = {
        "ploy": PloyController(kube, args.scale_down),
        "argo": ArgoController(kube, args.scale_down),
    }
    results: dict[str, list[JSON]] = {"ploy": [], "argo": []}
    scale: JSON | None = None
    failures: JSON | None = None
    try:
        for name, process in processes.items():  # both metrics endpoints up = both controllers started
            deadline = time.monotonic() + 60
            while True:
                try:
                    process.sample()
                    break
                except (httpx.HTTPError, ValueError):
                    if time.monotonic() > deadline or process.proc.poll() is not None:
                        raise RuntimeError(f"{name} controller did not start; log in {workdir}") from None
                    await asyncio.sleep(0.5)
        for index in range(args.runs):
            order = ("ploy", "argo") if index % 2 == 0 else ("argo", "ploy")
            for name in order:
                run = await one_run(controllers[name], processes[name], f"{name}-{index}", args.poll)
                results[name].append(run)
                print(f"[side-by-side] run {index} {name}: {json.dumps(run)}", file=sys.stderr, flush=True)
        if args.failure_runs:
            failures = await failure_rows(
                {
                    "ploy": PloyController(kube, args.warm, args.deadline),
                    "argo": ArgoController(kube, args.warm, args.deadline),
                },
                args.failure_runs,
                args.deadline,
                args.fail_after,
                args.never_after,
                args.poll,
                lambda line: print(f"[side-by-side] {line}", file=sys.stderr, flush=True),
            )
            failures["argo_rollouts"] = failures.pop("argo")
            failures["ratio_ploy_over_argo"] = failure_ratios(failures["ploy"], failures["argo_rollouts"])
            print(*(f"[side-by-side] {line}" for line in table(failures)), sep="\n", file=sys.stderr)
        if args.objects:
            scale = await at_scale(controllers, processes, args)
    finally:
        for process in processes.values():
            process.proc.terminate()
            process.proc.wait(timeout=30)
        await api.close()
        for log in ("ploy-operator.log", "argo-rollouts.log"):  # its tail on stderr: warnings, errors
            tail = (workdir / log).read_text(errors="replace").splitlines()[-5:]
            print(f"[side-by-side] {log} tail:", *tail, sep="\n  ", file=sys.stderr)
    ploy, argo = figures(results["ploy"]), figures(results["argo"])
    return {
        "benchmark": "argo_rollouts_side_by_side",
        "python": platform.python_version(),
        "argo_rollouts_version": os.environ.get("PLOY_ARGO_ROLLOUTS_VERSION", "v1.9.3"),
        "runs_each": args.runs,
        "poll_seconds": args.poll,
        "scale_down_delay_seconds": args.scale_down,
        "ploy": ploy,
        "argo_rollouts": argo,
        "ratio_ploy_over_argo": ratios(ploy, argo),
        "failures": failures,
        "at_scale": scale,
        "not_equivalent": NOT_EQUIVALENT,
        "note": "one local control plane (kwok pods) on a 2-core machine possibly shared with other work: "
        "indicative; CPU per rollout includes each controller's idle background over the span",
    }


def main() -> None:
    """Parse arguments, build Argo Rollouts, start the control plane, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=8, help="rollouts per controller")
    parser.add_argument("--poll", type=float, default=0.01, help="seconds between polls")
    parser.add_argument("--scale-down", type=int, default=2, help="seconds the previous version stays warm")
    parser.add_argument("--objects", type=int, default=200, help="objects per controller at scale (0: skip)")
    parser.add_argument("--scale-samples", type=int, default=8, help="spec changes per controller at scale")
    parser.add_argument("--failure-runs", type=int, default=3, help="runs per failure row (0: skip)")
    parser.add_argument("--deadline", type=int, default=10, help="progress deadline s of the failure rows")
    parser.add_argument("--fail-after", type=float, default=3.0, help="s from Ready to NotReady")
    parser.add_argument("--never-after", type=float, default=30.0, help="s counted as never")
    parser.add_argument("--warm", type=int, default=15, help="s kept warm, failure rows")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured at scale")
    args = parser.parse_args()
    argo_bin = build_argo_rollouts()
    with tempfile.TemporaryDirectory(prefix="ploy-sbs-") as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir(), timeout=300)
        cluster.start()
        try:
            install_crd(cluster, CRD_FILE, "tradingbots.ploy.dev")
            for crd, file in ARGO_CRDS.items():
                install_crd(cluster, argo_bin / "crds" / file, crd)
            result = asyncio.run(bench(cluster, args, argo_bin, Path(tmp)))
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
