"""Session fixtures shared by every tier: the real PostgreSQL server and the local control plane.

``PLOY_REQUIRE_TIERS`` (set by ``make test``) lists tiers whose resources must exist; a missing
resource then fails the session instead of skipping, so CI can never pass on skipped tiers.

Tier fixtures elsewhere: tests/node/conftest.py has the real node (``node_cluster``), PostgreSQL for its
pods (``pod_postgres``) and a real Prometheus scraping them through the charts' ServiceMonitors
(``node_prometheus``: a started LocalPrometheus, API at ``.url``; tier ``prometheus``, helpers in
tests/support/prometheus.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration

from ploy_localcluster import LocalCluster, default_bin_dir
from tests.support.cluster import ClusterHandle
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres


def _required(tier: str) -> bool:
    return tier in {t.strip() for t in os.environ.get("PLOY_REQUIRE_TIERS", "").split(",")}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; tests own their databases inside it."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if _required("db"):
            pytest.fail(f"db tier required but unavailable: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    """A running Kubernetes control plane for the whole session (see tests/support/cluster.py)."""
    if os.environ.get("PLOY_TEST_CLUSTER") == "kind":
        yield from _kind_cluster()
        return
    bin_dir = default_bin_dir()
    if not (bin_dir / "kube-apiserver").is_file():
        message = f"control-plane binaries not found in {bin_dir}; run scripts/build-control-plane.sh"
        if _required("cluster"):
            pytest.fail(message)
        pytest.skip(message)
    local = LocalCluster(workdir=tmp_path_factory.mktemp("cluster"), bin_dir=bin_dir)
    local.start()
    try:
        yield ClusterHandle(kubeconfig=local.kubeconfig, server=local.server, bin_dir=bin_dir)
    finally:
        local.stop()


def _kind_cluster() -> Iterator[ClusterHandle]:
    from pytest_kind import KindCluster

    kind = KindCluster("ploy")
    kind.create()
    try:
        yield ClusterHandle(
            kubeconfig=Path(kind.kubeconfig_path), server="", bin_dir=default_bin_dir(), kind="kind"
        )
    finally:
        kind.delete()


@pytest.fixture
def namespace(cluster: ClusterHandle) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def k8s_api(cluster: ClusterHandle) -> AsyncIterator[ApiClient]:
    """An asyncio API client (``kubernetes.aio``) authenticated as the cluster admin."""
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    client = ApiClient(configuration)
    try:
        yield client
    finally:
        await client.close()
