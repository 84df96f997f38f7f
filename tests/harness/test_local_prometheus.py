"""LocalPrometheus on the local control plane (no real node): prometheus-operator turns the tradingbot
chart's ServiceMonitor and PrometheusRule into configuration that Prometheus loads, with the
ServiceMonitor's scrape pool and every alert of the rule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.cluster import ClusterHandle
from tests.support.prometheus import missing_binaries, start_prometheus
from tests.support.realnode import unavailable
from tradingbot_operator.localcluster.prometheus import LocalPrometheus

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
CHART = Path(__file__).resolve().parents[2] / "charts" / "tradingbot"


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
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=rendered)
    (rule,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PrometheusRule"]
    expected = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    pool = f"serviceMonitor/{namespace}/arb/0"
    deadline = time.monotonic() + 90
    loaded: set[str] = set()
    pools: set[str] = set()
    while time.monotonic() < deadline:
        groups = prometheus.api("rules")["groups"]
        loaded = {r["name"] for g in groups if g["name"].endswith(f"{namespace}-arb") for r in g["rules"]}
        pools = _scrape_pools(prometheus)
        if loaded == expected and pool in pools:
            break
        time.sleep(1)
    assert loaded == expected, (loaded, prometheus.last_sync_error)
    assert pool in pools, (pools, prometheus.last_sync_error)


def _scrape_pools(prom: LocalPrometheus) -> set[str]:
    pools: list[str] = prom.api("scrape_pools")["scrapePools"]
    return set(pools)
