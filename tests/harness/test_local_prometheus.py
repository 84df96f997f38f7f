"""LocalPrometheus on the local control plane (no real node): prometheus-operator turns the tradingbot
chart's ServiceMonitor and PrometheusRule into configuration that Prometheus loads: the target the
ServiceMonitor selects (and no other) and every alert of the rule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ploy_localcluster.prometheus import LocalPrometheus
from tests.support.cluster import ClusterHandle
from tests.support.prometheus import missing_binaries, start_prometheus
from tests.support.realnode import unavailable

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
CHART = Path(__file__).resolve().parents[2] / "charts" / "tradingbot"
# Two selector-less Services with hand-made Endpoints (no pod answers; the target only has to exist):
# the ServiceMonitor selects the one labelled ploy.dev/tradingbot=arb, and on it the port named http.
SERVICES = """
---
apiVersion: v1
kind: Service
metadata: {name: arb, labels: {ploy.dev/tradingbot: arb}}
spec: {ports: [{name: http, port: 80, targetPort: 8080}, {name: other, port: 81, targetPort: 9090}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: arb, labels: {ploy.dev/tradingbot: arb}}
subsets: [{addresses: [{ip: 10.244.9.9}], ports: [{name: http, port: 8080}, {name: other, port: 9090}]}]
---
apiVersion: v1
kind: Service
metadata: {name: unrelated}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: unrelated}
subsets: [{addresses: [{ip: 10.244.9.10}], ports: [{name: http, port: 8080}]}]
"""


@pytest.fixture(scope="module")
def prometheus(cluster: ClusterHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    if message := missing_binaries():
        unavailable("prometheus", message)
    prom = start_prometheus(cluster, cluster.kubeconfig.parent / "pki", tmp_path_factory.mktemp("prometheus"))
    try:
        yield prom
    finally:
        prom.stop()


def test_the_charts_monitor_and_rules_become_prometheus_configuration(
    cluster: ClusterHandle, prometheus: LocalPrometheus, namespace: str
) -> None:
    rendered = cluster.helm(
        "template", "arb", str(CHART), "-n", namespace,
        "--show-only", "templates/servicemonitor.yaml", "--show-only", "templates/prometheusrule.yaml",
    ).stdout  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=rendered + SERVICES)
    (rule,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PrometheusRule"]
    expected = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    pool = f"serviceMonitor/{namespace}/arb/0"
    deadline = time.monotonic() + 90
    loaded: set[str] = set()
    targets: set[str] = set()
    while time.monotonic() < deadline:
        groups = prometheus.api("rules")["groups"]
        loaded = {r["name"] for g in groups if g["name"].endswith(f"{namespace}-arb") for r in g["rules"]}
        targets = {t["labels"]["instance"] for t in prometheus.targets() if t["scrapePool"] == pool}
        if loaded == expected and targets:
            break
        time.sleep(1)
    assert loaded == expected, (loaded, prometheus.last_sync_error)
    # Only the Service carrying ploy.dev/tradingbot=arb, only its port named http.
    assert targets == {"10.244.9.9:8080"}, (targets, prometheus.last_sync_error)
