"""LocalPrometheus on the local control plane (no real node): prometheus-operator turns the tradingbot
chart's ServiceMonitor and PrometheusRule into configuration that Prometheus loads: the target the
ServiceMonitor selects (and no other) and every alert of the rule; and Prometheus answers on its second
listen address (``listen_also``, here another loopback address; beside the real node, the bridge)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ploy_localcluster.prometheus import LocalPrometheus, PrometheusError
from tests.support.cluster import ClusterHandle
from tests.support.prometheus import missing_binaries, start_prometheus
from tests.support.realnode import unavailable

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
LISTEN_ALSO = "127.0.0.2"  # Linux routes all of 127.0.0.0/8 to lo
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
    prom = start_prometheus(
        cluster, cluster.kubeconfig.parent / "pki", tmp_path_factory.mktemp("prometheus"), LISTEN_ALSO
    )
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


def test_prometheus_answers_on_its_second_address(prometheus: LocalPrometheus) -> None:
    url = prometheus.url_on(LISTEN_ALSO)
    assert url == prometheus.url.replace("127.0.0.1", LISTEN_ALSO)
    with urllib.request.urlopen(f"{url}/api/v1/query?query=vector(7)", timeout=10) as response:  # noqa: S310
        assert json.loads(response.read())["data"]["result"][0]["value"][1] == "7"
    with pytest.raises(PrometheusError, match=r"does not listen on 127\.0\.0\.3"):
        prometheus.url_on("127.0.0.3")
