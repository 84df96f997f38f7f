"""Helpers the cluster benchmarks share: where the control-plane binaries are, kubectl, and latency
summaries."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from ploy_localcluster import LocalCluster, default_bin_dir

__all__ = [
    "cpu_seconds",
    "cpu_seconds_by_process",
    "cpu_spent",
    "default_bin_dir",
    "install_crd",
    "kubectl",
    "summary",
]


def summary(values: list[float]) -> dict[str, float | int]:
    """Count, p50, p99 and max of latency samples in seconds (rounded to ms)."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50_seconds": round(statistics.median(ordered), 3),
        "p99_seconds": round(p99, 3),
        "max_seconds": round(ordered[-1], 3),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat``); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_process(pids: dict[str, int]) -> dict[str, float]:
    """:func:`cpu_seconds` of each named process (e.g. ``LocalCluster.pids()`` plus the operator)."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two :func:`cpu_seconds_by_process` readings, rounded to
    0.1 s, with their ``total``."""
    spent = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    return {**spent, "total": round(sum(spent.values()), 1)}


def kubectl(cluster: LocalCluster, *args: str, stdin: str | None = None, timeout: float = 1800) -> None:
    """Run kubectl against ``cluster``; CalledProcessError on failure, TimeoutExpired after ``timeout`` s."""
    subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )


def install_crd(cluster: LocalCluster, path: Path, name: str, timeout: float = 180) -> None:
    """Apply the CRD at ``path`` and wait until ``name`` is Established. ``kubectl wait`` fails at once
    while a new CRD has no conditions yet, so it is retried; TimeoutError after ``timeout`` seconds."""
    kubectl(cluster, "apply", "--server-side", "-f", str(path))
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl(
                cluster, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=10s", timeout=30
            )
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s") from None
            time.sleep(0.2)
