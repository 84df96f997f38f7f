"""Runs every benchmark in ``bench/`` and gathers their JSON into one report plus a PNG plot.

Each benchmark is a script printing one JSON object on its last stdout line (or a whole JSON document).
``make bench`` calls this; figures land in ``bench/out/report.json`` and ``bench/out/report.png``.
Benchmarks never assert on timings; this only records what they measured on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
# name -> extra arguments; order: cheap first, so a partial run still reports something.
BENCHMARKS: dict[str, list[str]] = {
    "book_updates": ["--seconds", "3"],
    "ledger_throughput": ["--seconds", "10"],
    "health_ready": [],
    "rollout_latency": [],
    "control_plane_floor": [],
    "operator_scale": [],
    "argo_rollouts_side_by_side": [],
    "real_node": [],
    "fence_chaos": ["--sequences", "1000", "--lanes", "4"],
}

# Benchmarks that need longer than --timeout: 1,000 fence chaos sequences take about half an hour; the
# side-by-side failure rows add about 3 minutes to that bench (they wait out progress deadlines and a
# 30 s "never" per Argo run) on top of its 200-object phase.
TIMEOUTS: dict[str, float] = {"fence_chaos": 5400, "argo_rollouts_side_by_side": 1800}

# Scalar figures a benchmark's panel shows (dotted keys containing one of these); others: the first 14.
PLOT_KEYS: dict[str, tuple[str, ...]] = {
    "health_ready": ("latency_ms.p99", "throughput_per_s", "_ratio_"),
    "book_updates": ("book_updates_per_s", "book_updates_per_cpu_s"),
    "argo_rollouts_side_by_side": ("ratio_ploy_over_argo",),
}


def parse_output(stdout: str) -> Any:
    """The benchmark's JSON: the whole output if it parses, else its last line that does."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        for line in reversed(stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON in the benchmark's output")


def run(name: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run one benchmark script; returns its figures or an ``error`` entry (never raises)."""
    script = BENCH / f"{name}.py"
    if not script.exists():
        return {"error": f"{script.name} not found"}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PYTHONPATH": str(BENCH.parent)},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    elapsed = round(time.monotonic() - started, 1)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}", "wall_seconds": elapsed}
    try:
        figures = parse_output(proc.stdout)
    except ValueError as exc:
        return {"error": str(exc), "wall_seconds": elapsed}
    return {"figures": figures, "wall_seconds": elapsed}


def numeric_leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Flatten nested figures into ``(dotted.key, number)`` pairs (bools and lists skipped)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield prefix, float(value)


def distributions(value: Any, prefix: str = "") -> Iterator[tuple[str, list[float]]]:
    """Lists of at least 5 numbers (latency samples and the like), with their dotted keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from distributions(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and len(value) >= 5 and all(isinstance(v, int | float) for v in value):
        yield prefix, [float(v) for v in value]


def plot(report: dict[str, Any], path: Path) -> None:
    """One panel per benchmark: sample distributions as box plots, otherwise the scalar figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = {k: v["figures"] for k, v in report["benchmarks"].items() if "figures" in v}
    if not results:
        return
    fig, axes = plt.subplots(len(results), 1, figsize=(11, 3.6 * len(results)), squeeze=False)
    for ax, (name, figures) in zip(axes[:, 0], results.items(), strict=True):
        dists = list(distributions(figures))
        if dists:
            ax.boxplot([d for _, d in dists], vert=False, tick_labels=[k for k, _ in dists])
            ax.set_xlabel("value (units as in the key; seconds for latencies)")
        else:
            # Rates, latencies and sizes; skip bookkeeping such as measuring time and pass counts.
            skip = (".seconds", ".passes", "duration", "count", "runs", "clients")
            wanted = PLOT_KEYS.get(name)
            leaves = [
                (k, v)
                for k, v in numeric_leaves(figures)
                if v > 0 and not k.endswith(skip) and (wanted is None or any(w in k for w in wanted))
            ][: 14 if wanted is None else 40]
            ax.barh([k for k, _ in leaves], [v for _, v in leaves])
            ax.set_xscale("log")
        ax.set_title(name)
    fig.suptitle(f"Ploy benchmarks on {report['machine']['node']} ({report['machine']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    """Run the selected benchmarks, write report.json and report.png, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per benchmark")
    options = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "machine": {"node": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    for name, args in BENCHMARKS.items():
        if options.names and name not in options.names:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        report["benchmarks"][name] = run(name, args, max(options.timeout, TIMEOUTS.get(name, 0)))
        (OUT / "report.json").write_text(json.dumps(report, indent=2))
    plot(report, OUT / "report.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
