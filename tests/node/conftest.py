"""Fixtures of the ``node`` tier: one control plane with a real node for the session, and a
PostgreSQL server the node's pods reach on the bridge address. ``PLOY_REQUIRE_TIERS`` containing
``node`` turns a missing real node into a failure instead of a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.support.realnode import NODE_IP, NodeCluster, NodeUnavailable, start_node_cluster
from tradingbot_operator.localcluster import ClusterError, default_bin_dir
from tradingbot_operator.localcluster.node import POD_CIDR


def _unavailable(tier: str, message: str) -> None:
    required = {t.strip() for t in os.environ.get("PLOY_REQUIRE_TIERS", "").split(",")}
    if tier in required:
        pytest.fail(f"{tier} tier required but unavailable: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """The control plane plus the real node, torn down (machine state restored) after the session."""
    try:
        cluster = start_node_cluster(tmp_path_factory.mktemp("node-cluster"), default_bin_dir())
    except (NodeUnavailable, ClusterError) as exc:
        _unavailable("node", str(exc))
        raise  # unreachable: _unavailable fails or skips
    try:
        yield cluster
    finally:
        cluster.local.stop()


@pytest.fixture(scope="session")
def pod_postgres(node_cluster: NodeCluster) -> Iterator[PostgresServer]:
    """PostgreSQL listening on loopback and on the bridge address, trusting the pod network."""
    try:
        server = start_postgres(listen_also=NODE_IP, allow_network=POD_CIDR)
    except PostgresUnavailable as exc:
        _unavailable("db", str(exc))
        raise
    try:
        yield server
    finally:
        server.destroy()
