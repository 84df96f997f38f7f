"""Fixtures of the ``node`` tier: one control plane with a real node for the package, and a
PostgreSQL server the node's pods reach on the bridge address, and (``node_prometheus``) a real
Prometheus scraping the node's pods through the charts' ServiceMonitors. ``PLOY_REQUIRE_TIERS`` containing
``node`` turns a missing real node into a failure instead of a skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.support.prometheus import PrometheusError, missing_binaries, start_prometheus
from tests.support.realnode import NODE_IP, NodeCluster, NodeUnavailable, start_node_cluster, unavailable
from tradingbot_operator.localcluster import ClusterError, default_bin_dir
from tradingbot_operator.localcluster.node import POD_CIDR
from tradingbot_operator.localcluster.prometheus import LocalPrometheus


@pytest.fixture(scope="package")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """The control plane plus the real node, torn down (machine state restored) after tests/node."""
    try:
        cluster = start_node_cluster(tmp_path_factory.mktemp("node-cluster"), default_bin_dir())
    except (NodeUnavailable, ClusterError) as exc:
        unavailable("node", str(exc))
    try:
        yield cluster
    finally:
        cluster.local.stop()


@pytest.fixture(scope="package")
def pod_postgres(node_cluster: NodeCluster) -> Iterator[PostgresServer]:
    """PostgreSQL listening on loopback and on the bridge address, trusting the pod network."""
    try:
        server = start_postgres(listen_also=NODE_IP, allow_network=POD_CIDR)
    except PostgresUnavailable as exc:
        unavailable("db", str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="package")
def node_prometheus(
    node_cluster: NodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """Real prometheus-operator and Prometheus for the node cluster (tests/support/prometheus.py): every
    ServiceMonitor and PrometheusRule of any namespace, scraped and evaluated every 2 s; the HTTP API at
    ``node_prometheus.url``. ``PLOY_REQUIRE_TIERS`` containing ``prometheus`` turns missing binaries
    (scripts/build-prometheus.sh) into a failure instead of a skip."""
    if message := missing_binaries():
        unavailable("prometheus", message)
    try:
        prom = start_prometheus(
            node_cluster.handle, node_cluster.local.workdir / "pki", tmp_path_factory.mktemp("prometheus")
        )
    except PrometheusError as exc:
        unavailable("prometheus", str(exc))
    try:
        yield prom
    finally:
        prom.stop()
