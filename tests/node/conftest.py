"""Fixtures of the ``node`` tier: one control plane with a real node for the package, and a
PostgreSQL server the node's pods reach on the bridge address. ``PLOY_REQUIRE_TIERS`` containing
``node`` turns a missing real node into a failure instead of a skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ploy_localcluster import ClusterError, default_bin_dir
from ploy_localcluster.node import POD_CIDR
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.support.realnode import NODE_IP, NodeCluster, NodeUnavailable, start_node_cluster, unavailable


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
