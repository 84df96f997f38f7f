"""The ``prometheus`` tier's building blocks: prometheus-operator and Prometheus
(:class:`ploy_localcluster.prometheus.LocalPrometheus`) beside a running cluster, and
helpers that read Prometheus' own answers (alerts API, instant and range queries).

A fixture yielding a started :class:`LocalPrometheus` for the real node is ``node_prometheus`` in
tests/node/conftest.py: it scrapes whatever ServiceMonitors exist in any namespace (both charts ship
one), evaluates every PrometheusRule, and serves its HTTP API at ``node_prometheus.url``
(``http://127.0.0.1:<port>``, e.g. ``/api/v1/query``) and, for pods (the operator's analysis gate),
at ``node_prometheus.url_on(NODE_IP)`` on the bridge. Scrape and rule evaluation interval: 2 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ploy_localcluster.prometheus import (
    LocalPrometheus,
    PrometheusError,
    prometheus_bin_dir,
    prometheus_operator_bin_dir,
)
from tests.support.cluster import ClusterHandle

INTERVAL = "2s"


def missing_binaries() -> str | None:
    """What scripts/build-prometheus.sh has not built yet, in words; None when both exist."""
    for path in (prometheus_operator_bin_dir() / "operator", prometheus_bin_dir() / "prometheus"):
        if not path.is_file():
            return f"{path} not found; run scripts/build-prometheus.sh"
    return None


def start_prometheus(
    handle: ClusterHandle, pki_dir: Path, workdir: Path, listen_also: str | None = None
) -> LocalPrometheus:
    """Install the CRDs and the Prometheus resource into the cluster of ``handle`` and start both
    processes (Prometheus also listening on ``listen_also``, e.g. the bridge address pods reach); the
    caller stops the result. Raises PrometheusError."""
    prom = LocalPrometheus(
        listen_also=listen_also,
        workdir=workdir,
        kubeconfig=handle.kubeconfig,
        server=handle.server,
        pki_dir=pki_dir,
        kubectl_binary=handle.bin_dir / "kubectl",
        interval=INTERVAL,
    )
    prom.install()
    prom.start()
    return prom


def alerts_named(
    prom: LocalPrometheus, name: str, state: str = "firing", **labels: str
) -> list[dict[str, Any]]:
    """The alerts of ``/api/v1/alerts`` called ``name`` in ``state`` whose labels include ``labels``."""
    return [
        a
        for a in prom.alerts()
        if a["labels"].get("alertname") == name
        and a["state"] == state
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def overlapping_runs(
    prom: LocalPrometheus, selector: str, start: float, end: float, value: float | None = None
) -> list[tuple[str, str, tuple[float, float], tuple[float, float]]]:
    """Pairs of pods whose runs of scraped samples of ``selector`` overlap in time between ``start``
    and ``end`` (Unix seconds): a run is a stretch of one pod's consecutive samples (equal to ``value``
    when given, any value otherwise), ``(first, last)`` scrape timestamps. Built from the raw samples
    (a range vector), not from instant evaluations, which keep a pod's last sample for up to 5 minutes
    and so show two pods at once for up to a scrape interval although they never reported together.
    Returns ``(pod_a, pod_b, run_a, run_b)`` for every overlap (empty: the pods took turns)."""
    window = max(1, int(end - start) + 1)
    data = prom.api("query", query=f"{selector}[{window}s]", time=f"{end:.3f}")
    runs: list[tuple[str, tuple[float, float]]] = []
    for series in data["result"]:
        pod = series["metric"].get("pod", "")
        current: list[float] = []
        for ts, v in series["values"]:
            if float(ts) >= start and (value is None or float(v) == value):
                current.append(float(ts))
            elif current:
                runs.append((pod, (current[0], current[-1])))
                current = []
        if current:
            runs.append((pod, (current[0], current[-1])))
    return [
        (pa, pb, ra, rb)
        for i, (pa, ra) in enumerate(runs)
        for pb, rb in runs[i + 1 :]
        if pa != pb and ra[0] <= rb[1] and rb[0] <= ra[1]
    ]


def wait_scraped(prom: LocalPrometheus, scrape_pool: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until the targets of ``scrape_pool`` (``serviceMonitor/<ns>/<name>/<endpoint>``) exist and
    are all up; returns them. Raises AssertionError with the last targets seen."""
    deadline = time.monotonic() + timeout
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        last = [t for t in prom.targets() if t["scrapePool"] == scrape_pool]
        if last and all(t["health"] == "up" for t in last):
            return last
        time.sleep(1)
    raise AssertionError(
        f"targets of {scrape_pool} not all up after {timeout}s: {last}; sync: {prom.last_sync_error}"
    )


__all__ = [
    "INTERVAL",
    "PrometheusError",
    "alerts_named",
    "missing_binaries",
    "overlapping_runs",
    "start_prometheus",
]
