"""kopf's peering rule as the reconciler's pause decision (pure), and the reconciler held while paused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tradingbot_operator.child_cache import ChildCache, Children
from tradingbot_operator.kube import Kube
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.peering_gate import PeeringGate, peering_paths, should_pause
from tradingbot_operator.reconciler import PassResult, Reconciler

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def peer(priority: int, seen_ago: float = 1, lifetime: int = 30) -> dict[str, Any]:
    lastseen = (NOW - timedelta(seconds=seen_ago)).isoformat()
    return {"priority": priority, "lifetime": lifetime, "lastseen": lastseen}


@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        ({}, False),
        ({"me": peer(10)}, False),
        ({"me": peer(10), "other": peer(5)}, False),
        ({"me": peer(10), "other": peer(20)}, True),
        ({"me": peer(10), "other": peer(10)}, True),  # same priority: kopf pauses everyone
        ({"me": peer(10), "other": peer(20, seen_ago=31)}, False),  # dead peer
        ({"me": peer(10), "other": peer(20, seen_ago=29)}, True),
        ({"me": peer(10), "other": None}, False),  # a peer removed by a merge patch
    ],
)
def test_should_pause(peers: dict[str, Any], expected: bool) -> None:
    assert should_pause(peers, "me", 10, NOW) is expected


def test_peering_paths() -> None:
    assert peering_paths("ploy", ("a", "b")) == (
        "/apis/kopf.dev/v1/namespaces/a/kopfpeerings/ploy",
        "/apis/kopf.dev/v1/namespaces/b/kopfpeerings/ploy",
    )
    assert peering_paths("ploy", ()) == ("/apis/kopf.dev/v1/clusterkopfpeerings/ploy",)


class CountingReconciler(Reconciler):
    """A reconciler whose pass only counts (the scheduling is what is under test)."""

    def __init__(self) -> None:
        # No API client: the pass below never sends a request; the children cache is real.
        kube = Kube(None, cache=ChildCache())  # type: ignore[arg-type]
        super().__init__(kube=kube, metrics=OperatorMetrics(CollectorRegistry()))
        self.calls: list[str] = []

    async def reconcile(self, namespace: str, name: str) -> PassResult:
        self.calls.append(name)
        return PassResult(requeue_after=0.2)


class FakePeering:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def get(self, path: str) -> dict[str, Any] | None:
        return {"status": self.status}


async def test_paused_reconciler_runs_no_timer_and_resumes_every_key() -> None:
    reconciler = CountingReconciler()
    peering = FakePeering()
    gate = PeeringGate(peering, reconciler, identity="me", priority=10, paths=("/p",), clock=lambda: NOW)
    reconciler.trigger("ns", "a")
    await asyncio.sleep(0.05)
    assert reconciler.calls == ["a"]  # ran, and armed a 0.2 s timer
    peering.status = {"me": peer(10), "other": peer(20)}
    assert await gate.check() is True and reconciler.paused
    reconciler.trigger("ns", "b")  # a watch event while paused is held, not run
    await asyncio.sleep(0.6)
    assert reconciler.calls == ["a"], "a paused reconciler ran a pass from its own timer or queue"
    cache = reconciler.kube.cache
    assert cache is not None
    token = cache.begin()
    cache.seed(token, "ns", "a", Children([], [], [], [], []))
    cache.finish(token)
    peering.status = {"me": peer(10)}
    assert await gate.check() is False and not reconciler.paused
    # kopf's watches were paused as well: the passes after resuming LIST the children again.
    assert not cache.primed("ns", "a")
    await asyncio.sleep(0.05)
    assert sorted(reconciler.calls) == ["a", "a", "b"]
    await reconciler.close()
