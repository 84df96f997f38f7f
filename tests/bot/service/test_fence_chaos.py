"""Randomized fault sequences against the fence (tests/support/fence_chaos.py): real bot processes,
the real PostgreSQL, the real API server. CI plays a few sequences; ``bench/fence_chaos.py`` plays
thousands and prints the violation count.

``PLOY_CHAOS_SEED`` replays a run; the seeds of a failing run are in the assertion message.
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import pytest
from kubernetes.aio.client import ApiClient

from tests.support.cluster import ClusterHandle
from tests.support.fence_chaos import FenceChaos, migrated_database
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.db, pytest.mark.cluster]

CRD = Path(__file__).resolve().parents[3] / "manifests" / "crds" / "tradingbots.ploy.dev.yaml"
SEQUENCES = 4


async def test_random_fault_sequences_keep_exactly_one_trader(
    postgres: PostgresServer, cluster: ClusterHandle, namespace: str, k8s_api: ApiClient
) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.wait_crd_established("tradingbots.ploy.dev")
    dsn = await migrated_database(postgres.dsn, f"chaos_{uuid.uuid4().hex[:12]}")
    base = int(os.environ.get("PLOY_CHAOS_SEED") or random.randrange(1_000_000))
    async with FenceChaos(postgres, dsn, cluster.kubeconfig, k8s_api, namespace) as chaos:
        outcomes = [await chaos.run(base + n, steps=6) for n in range(SEQUENCES)]
    report = [(o.seed, o.actions, o.violations) for o in outcomes if o.violations]
    assert not report, f"fence violations (PLOY_CHAOS_SEED={base}): {report}"
    assert sum(o.executed_orders for o in outcomes) > 0, "the bots traded at all"
    assert all(o.tokens >= 2 for o in outcomes), "every sequence handed the fence over"
