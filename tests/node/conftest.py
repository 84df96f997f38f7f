"""Fixtures of the ``node`` tier: one control plane with a real node for the package, and a
PostgreSQL server the node's pods reach on the bridge address, and (``node_prometheus``) a real
Prometheus scraping the node's pods through the charts' ServiceMonitors. ``PLOY_REQUIRE_TIERS`` containing
``node`` turns a missing real node into a failure instead of a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ploy_localcluster import ClusterError, default_bin_dir
from ploy_localcluster.prometheus import LocalPrometheus
from tests.support.kindnode import start_kind_cluster
from tests.support.noderelease import Release, install_release
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.support.prometheus import PrometheusError, missing_binaries, start_prometheus
from tests.support.realnode import E2ECluster, NodeCluster, NodeUnavailable, start_node_cluster, unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_machine.py needs the machine to itself, so it must run before the package's node cluster
    starts (a package-scoped fixture lives until the package's last test): fail the collection when a
    module that sorts before it would start the cluster first."""
    names = [item.path.name for item in items if item.path.parent.name == "node"]
    if "test_machine.py" in names:
        early = sorted({n for n in names[: names.index("test_machine.py")] if n != "test_machine.py"})
        if early:
            raise pytest.UsageError(f"tests/node: {early} would run before test_machine.py; rename them")


@pytest.fixture(scope="package")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    """The control plane plus the real node, torn down (machine state restored) after tests/node; with
    ``PLOY_NODE_CLUSTER=kind``, the kind cluster the workflow made (tests.support.kindnode)."""
    cluster: E2ECluster
    try:
        if os.environ.get("PLOY_NODE_CLUSTER") == "kind":
            cluster = start_kind_cluster()
        else:
            cluster = start_node_cluster(tmp_path_factory.mktemp("node-cluster"), default_bin_dir())
    except (NodeUnavailable, ClusterError) as exc:
        unavailable("node", str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="package")
def pod_postgres(node_cluster: E2ECluster) -> Iterator[PostgresServer]:
    """PostgreSQL listening on loopback and on the address pods reach (the bridge), trusting them."""
    try:
        server = start_postgres(listen_also=node_cluster.host_ip, allow_network=node_cluster.pod_sources)
    except PostgresUnavailable as exc:
        unavailable("db", str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def release(node_cluster: E2ECluster, pod_postgres: PostgresServer) -> Iterator[Release]:
    """Both charts' operator side installed in fresh namespaces (see tests.support.noderelease)."""
    yield from install_release(node_cluster, pod_postgres)


@pytest.fixture(scope="package")
def node_prometheus(
    node_cluster: E2ECluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """Real prometheus-operator and Prometheus for the node cluster (tests/support/prometheus.py): every
    ServiceMonitor and PrometheusRule of any namespace, scraped and evaluated every 2 s; the HTTP API at
    ``node_prometheus.url`` and, for pods, ``node_prometheus.url_on(node_cluster.host_ip)``.
    ``PLOY_REQUIRE_TIERS`` containing ``prometheus`` turns missing binaries (scripts/build-prometheus.sh)
    into a failure instead of a skip."""
    if message := missing_binaries():
        unavailable("prometheus", message)
    if not isinstance(node_cluster, NodeCluster):
        unavailable("prometheus", "the prometheus tier runs beside the local real node only (not on kind)")
    try:
        prom = start_prometheus(
            node_cluster.handle,
            node_cluster.local.workdir / "pki",
            tmp_path_factory.mktemp("prometheus"),
            listen_also=node_cluster.host_ip,  # pods (the operator's analysis gate) query it there
        )
    except PrometheusError as exc:
        unavailable("prometheus", str(exc))
    try:
        yield prom
    finally:
        prom.stop()
