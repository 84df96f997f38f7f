"""The reconciler's scheduling: one pass at a time per object, coalesced triggers, timers, backoff.

The pass itself is replaced by a scripted coroutine (subclass); what is under test is only when
passes run. The passes against a real API server are covered by the cluster tests.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.reconciler import PassResult, Reconciler
from tradingbot_operator.workqueue import MAX_CONCURRENT


class ScriptedReconciler(Reconciler):
    """Records passes; each pass waits for ``release`` and returns the next scripted result."""

    def __init__(self, results: list[PassResult | Exception], *, resync_seconds: float = 300.0) -> None:
        metrics = OperatorMetrics(CollectorRegistry())
        super().__init__(kube=None, metrics=metrics, resync_seconds=resync_seconds)  # type: ignore[arg-type]
        self.results = results
        self.calls: list[tuple[str, str]] = []
        self.running = 0
        self.max_running = 0
        self.release = asyncio.Event()
        self.release.set()

    async def reconcile(self, namespace: str, name: str) -> PassResult:
        self.calls.append((namespace, name))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await self.release.wait()
            result = self.results.pop(0) if self.results else PassResult()
            if isinstance(result, Exception):
                raise result
            return result
        finally:
            self.running -= 1


async def _settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


async def test_triggers_during_a_pass_coalesce_into_one_more_pass() -> None:
    r = ScriptedReconciler([])
    r.release.clear()
    r.trigger("ns", "a")
    await _settle()
    for _ in range(5):
        r.trigger("ns", "a")
    assert r.running == 1
    r.release.set()
    await _settle()
    assert r.calls == [("ns", "a"), ("ns", "a")], "five triggers during a pass make exactly one more"
    assert r.max_running == 1
    await r.close()


async def test_requeue_after_runs_the_next_pass_on_time() -> None:
    r = ScriptedReconciler([PassResult(requeue_after=0.3), PassResult()])
    r.trigger("ns", "a")
    await _settle(0.1)
    assert len(r.calls) == 1
    await _settle(0.4)
    assert len(r.calls) == 2
    await r.close()


async def test_earlier_timer_wins() -> None:
    r = ScriptedReconciler([])
    r.trigger("ns", "a", delay=5.0)
    r.trigger("ns", "a", delay=0.2)
    r.trigger("ns", "a", delay=3.0)
    await _settle(0.4)
    assert len(r.calls) == 1
    await r.close()


async def test_errors_back_off_and_are_counted() -> None:
    r = ScriptedReconciler([RuntimeError("boom"), PassResult()])
    r.trigger("ns", "a")
    await _settle(0.2)
    assert len(r.calls) == 1
    assert r.metrics.registry.get_sample_value("ploy_operator_reconcile_errors_total") == 1
    await _settle(0.6)  # first backoff is 0.5 s
    assert len(r.calls) == 2
    await r.close()


async def test_gone_object_is_forgotten() -> None:
    r = ScriptedReconciler([PassResult(exists=False)], resync_seconds=0.1)
    r.trigger("ns", "gone")
    await _settle(0.4)
    assert r.calls == [("ns", "gone")], "no resync for an object that no longer exists"
    assert r.passes("ns", "gone") == 0
    await r.close()


@pytest.mark.parametrize("objects", [3])
async def test_different_objects_run_in_parallel(objects: int) -> None:
    r = ScriptedReconciler([])
    r.release.clear()
    for i in range(objects):
        r.trigger("ns", f"bot-{i}")
    await _settle()
    assert r.running == objects
    r.release.set()
    await _settle()
    await r.close()


async def test_resyncs_never_hold_back_a_pass_an_event_asked_for() -> None:
    r = ScriptedReconciler([])
    r.release.clear()
    slots = MAX_CONCURRENT // 8
    for i in range(slots + 2):  # more resyncs than their lane has slots
        r.trigger("ns", f"idle-{i}", resync=True)
    await _settle()
    assert r.running == slots, "resyncs run in their own small lane"
    r.trigger("ns", "changed")
    await _settle()
    assert ("ns", "changed") in r.calls, "a change is not queued behind the resyncs"
    r.release.set()
    await _settle()
    assert len(r.calls) == slots + 3
    await r.close()
