"""The generic work queue on its own (pure asyncio, no Kubernetes): coalescing, timers, backoff, pause."""

from __future__ import annotations

import asyncio
from typing import Any

from tradingbot_operator.workqueue import Done, WorkQueue


class Conflict(Exception):
    """Stands for an optimistic-concurrency conflict (run again at once)."""


class Script:
    """Work that records its keys and returns (or raises) the next scripted outcome."""

    def __init__(self, *outcomes: Done | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []
        self.errors: list[tuple[str, float]] = []
        self.forgotten: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, key: str) -> Done:
        self.calls.append(key)
        await self.release.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else Done()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def queue(self, **kwargs: Any) -> WorkQueue[str]:
        return WorkQueue(
            self,
            retry_at_once=(Conflict,),
            on_error=lambda key, delay: self.errors.append((key, delay)),
            on_forget=self.forgotten.append,
            **kwargs,
        )


async def test_triggers_during_a_run_coalesce_into_one_more_run() -> None:
    work = Script()
    queue = work.queue()
    work.release.clear()
    queue.trigger("a")
    await asyncio.sleep(0.02)
    for _ in range(5):
        queue.trigger("a")
    work.release.set()
    await asyncio.sleep(0.05)
    assert work.calls == ["a", "a"]
    assert queue.runs("a") == 2
    await queue.close()


async def test_requeue_after_and_the_earliest_timer_wins() -> None:
    work = Script(Done(requeue_after=0.25))
    queue = work.queue()
    queue.trigger("a")
    await asyncio.sleep(0.05)
    assert work.calls == ["a"]
    queue.trigger("a", delay=5.0)  # later than the pending 0.25 s: ignored
    await asyncio.sleep(0.3)
    assert work.calls == ["a", "a"]
    await queue.close()


async def test_requeue_has_a_floor() -> None:
    work = Script(Done(requeue_after=0.0))
    queue = work.queue(min_requeue_seconds=0.2)
    queue.trigger("a")
    await asyncio.sleep(0.1)
    assert work.calls == ["a"], "a requeue of 0 s must not spin"
    await asyncio.sleep(0.2)
    assert work.calls == ["a", "a"]
    await queue.close()


async def test_a_positive_requeue_below_the_floor_is_kept() -> None:
    work = Script(Done(requeue_after=0.03))
    queue = work.queue(min_requeue_seconds=0.2)
    queue.trigger("a")
    await asyncio.sleep(0.1)
    assert len(work.calls) >= 2, "a gate due in 30 ms is not held back to the 0.2 s floor"
    await queue.close()


async def test_errors_back_off_doubling_and_reset_after_success() -> None:
    work = Script(RuntimeError("1"), RuntimeError("2"), Done(), RuntimeError("3"))
    queue = work.queue(backoff_first_seconds=0.05, backoff_max_seconds=0.08)
    queue.trigger("a")
    await asyncio.sleep(0.2)
    assert work.errors == [("a", 0.05), ("a", 0.08)], "doubled, capped"
    assert queue.runs("a") == 1
    queue.trigger("a")
    await asyncio.sleep(0.02)
    assert work.errors[-1] == ("a", 0.05), "a success resets the backoff"
    await queue.close()


async def test_retry_at_once_and_again_run_the_work_immediately() -> None:
    work = Script(Conflict(), Done(again=True), Done())
    queue = work.queue()
    queue.trigger("a")
    await asyncio.sleep(0.05)
    assert work.calls == ["a", "a", "a"]
    assert work.errors == [], "a conflict is no error"
    assert queue.runs("a") == 2, "the conflicted run did not finish"
    await queue.close()


async def test_gone_keys_are_forgotten_without_a_resync() -> None:
    work = Script(Done(gone=True))
    queue = work.queue(resync_seconds=0.05)
    queue.trigger("a")
    await asyncio.sleep(0.2)
    assert work.calls == ["a"]
    assert work.forgotten == ["a"]
    assert queue.runs("a") == 0
    await queue.close()


async def test_resyncs_run_in_their_own_lane() -> None:
    work = Script()
    queue = work.queue(max_concurrent=16)
    work.release.clear()
    for i in range(4):
        queue.trigger(f"idle-{i}", resync=True)
    await asyncio.sleep(0.02)
    assert len(work.calls) == 2, "16 // 8 = 2 resync slots"
    queue.trigger("changed")
    await asyncio.sleep(0.02)
    assert "changed" in work.calls
    work.release.set()
    await asyncio.sleep(0.05)
    assert len(work.calls) == 5
    await queue.close()


async def test_pause_holds_everything_and_resume_runs_every_key_once() -> None:
    work = Script(Done(requeue_after=0.05))
    queue = work.queue(min_requeue_seconds=0.01)
    queue.trigger("a")
    await asyncio.sleep(0.02)
    queue.pause()
    queue.trigger("b")
    await asyncio.sleep(0.1)
    assert work.calls == ["a"], "no timer and no trigger runs while paused"
    assert queue.paused
    queue.resume()
    await asyncio.sleep(0.02)
    assert sorted(work.calls) == ["a", "a", "b"]
    await queue.close()


async def test_closed_queue_ignores_triggers() -> None:
    work = Script()
    queue = work.queue()
    await queue.close()
    queue.trigger("a")
    await asyncio.sleep(0.02)
    assert work.calls == []


async def test_a_change_does_not_wait_behind_queued_resyncs() -> None:
    """A key whose resync waits for the (busy) resync lane runs at once in the main lane when a change
    asks for it; the resync that was waiting does not run as well."""
    blocked = asyncio.Event()
    calls: list[str] = []

    async def work(key: str) -> Done:
        calls.append(key)
        if key == "a":
            await blocked.wait()
        return Done()

    queue: WorkQueue[str] = WorkQueue(work, max_concurrent=8)  # one resync slot
    queue.trigger("a", resync=True)  # holds the resync lane
    queue.trigger("b", resync=True)  # waits for it
    await asyncio.sleep(0.02)
    assert calls == ["a"]
    queue.trigger("b")  # a change
    await asyncio.sleep(0.02)
    assert calls == ["a", "b"], "the change ran in the main lane, not behind the resync lane"
    blocked.set()
    await asyncio.sleep(0.02)
    assert calls == ["a", "b"], "the replaced resync did not run on top"
    assert queue.runs("b") == 1
    await queue.close()


async def test_each_run_reports_its_lane_wait_and_duration() -> None:
    timings: list[tuple[str, float, float]] = []
    work = Script()
    work.release.clear()
    queue = WorkQueue(work, max_concurrent=1, on_run=lambda *t: timings.append(t))
    queue.trigger("a")
    queue.trigger("b")  # waits for the one slot
    await asyncio.sleep(0.05)
    work.release.set()
    await asyncio.sleep(0.02)
    assert [lane for lane, _, _ in timings] == ["change", "change"]
    (_, wait_a, work_a), (_, wait_b, _) = timings
    assert wait_a < 0.01, "a got the slot at once"
    assert work_a >= 0.04, "a worked until released"
    assert wait_b >= 0.04, "b waited for a's slot"
    queue.trigger("c", resync=True)
    await asyncio.sleep(0.02)
    assert timings[-1][0] == "resync"
    await queue.close()


async def test_an_urgent_change_does_not_wait_behind_a_burst_of_changes() -> None:
    """The change lane is full and has a queue; an urgent trigger runs at once in its own lane, also
    for a key that was queueing in the change lane."""
    blocked = asyncio.Event()
    calls: list[str] = []
    lanes: list[str] = []

    async def work(key: str) -> Done:
        calls.append(key)
        if key.startswith("busy"):
            await blocked.wait()
        return Done()

    queue: WorkQueue[str] = WorkQueue(work, max_concurrent=4, on_run=lambda lane, *_: lanes.append(lane))
    for i in range(4):
        queue.trigger(f"busy-{i}")  # the change lane's 4 slots
    queue.trigger("queued")  # waits in the change lane
    await asyncio.sleep(0.02)
    assert "queued" not in calls
    queue.trigger("queued", urgent=True)
    queue.trigger("new", urgent=True)
    await asyncio.sleep(0.02)
    assert calls[4:] == ["queued", "new"], "both ran at once in the urgent lane"
    blocked.set()
    await asyncio.sleep(0.02)
    assert calls.count("queued") == 1, "the change-lane run gave way, it did not run as well"
    assert lanes.count("urgent") == 2
    await queue.close()
