"""Fixtures the operator's cluster tests share: the operator in-process, and a namespace ready for bots."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from tests.operator.operator_harness import create_db_secret, install_crd, operator_in_process
from tests.support.cluster import ClusterHandle


@pytest.fixture(scope="module")
async def operator(cluster: ClusterHandle) -> AsyncIterator[CollectorRegistry]:
    """The operator, running in this event loop for the whole module; its metrics registry."""
    if cluster.kind != "local":
        pytest.skip("fault injection needs the kwok stages of the local control plane")
    install_crd(cluster)
    async with operator_in_process(cluster) as registry:
        yield registry


@pytest.fixture
def bot_ns(cluster: ClusterHandle, namespace: str) -> str:
    """A fresh namespace with the database Secret."""
    create_db_secret(cluster, namespace)
    return namespace
