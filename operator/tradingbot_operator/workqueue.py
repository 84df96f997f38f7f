"""A keyed work queue on the running asyncio event loop (generic: no Kubernetes, no clock but the loop's).

:meth:`WorkQueue.trigger` asks for the work of one key now or after a delay. The work of one key never
overlaps itself; triggers arriving while it runs coalesce into one follow-up run. After a run the key
is due again after the :class:`Done`'s ``requeue_after`` (a requeue of 0, "due now", waits
``min_requeue_seconds``; a positive one is a gate's due time and is kept exactly), else after
``resync_seconds`` (a *resync*: a run nothing in particular asked for, which runs in its own small
lane so it never queues ahead of a run a change asked for). An *urgent* run (a change a person or
tool asked for, e.g. a new spec) has its own lane too, so it never queues behind the runs a burst of
other changes asked for. A run still waiting for its lane's slot gives way to a trigger of a more
urgent lane (resync < change < urgent), which does the same work. A run that raised is retried after
``backoff_first_seconds``, doubling up to ``backoff_max_seconds``; an exception of ``retry_at_once``
(e.g. an optimistic-concurrency conflict) runs the work again at once instead. Waiting is an event-loop
timer (``loop.call_later``), never a sleep; the timers are in memory only.

:meth:`pause` cancels every timer and every run in flight and holds new triggers; :meth:`resume` runs
every key known or asked for meanwhile. Keys must be hashable and sortable (resume runs them in order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Seconds; a run that finds nothing due still runs this often.
RESYNC_SECONDS = 300.0
# Seconds; what a requeue of 0 ("due now") waits, so work that stays due cannot spin the loop. A
# positive requeue is a gate's due time and is kept as it is: flooring it made gates fire late.
MIN_REQUEUE_SECONDS = 0.2
# Runs at once in the change lane and as many in the urgent lane; resyncs get an eighth of it (at
# least one) in their own lane. A run mostly waits for the API server: at 1,000 TradingBots 16 slots
# were the limit (converging took 105 s, a spec change beside 100 rollouts in flight 0.88 s p99),
# 64 were not (84-94 s, 0.19 s; bench/operator_scale.py).
MAX_CONCURRENT = 64
RESYNC, CHANGE, URGENT = 0, 1, 2
LANE_NAMES = ("resync", "change", "urgent")
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Done:
    """How one run of a key's work ended.

    ``requeue_after``: seconds until the key is due again (None: after the resync interval; 0: after
    the queue's ``min_requeue_seconds``);
    ``again``: run once more right away (something this run changed needs another look);
    ``gone``: the key's object no longer exists: forget the key (no timer, ``on_forget`` called).
    """

    requeue_after: float | None = None
    again: bool = False
    gone: bool = False


@dataclass
class _KeyState:
    running: asyncio.Task[None] | None = None
    dirty: bool = False
    timer: asyncio.TimerHandle | None = None
    timer_due: float = 0.0
    timer_resync: bool = False
    failures: int = 0
    runs: int = 0
    # The lane whose slot the run in flight still waits for (None: it has started the work).
    waiting: int | None = None
    # The most urgent lane a trigger during the run asked for (its follow-up runs there).
    dirty_lane: int = CHANGE


class WorkQueue(Generic[K]):
    """Runs ``work(key)`` per key, one run at a time per key, on the running event loop.

    ``on_error(key, retry_in_seconds)`` is called inside the ``except`` block of a run that raised (so
    ``logging.exception`` works there); ``on_forget(key)`` when a key is forgotten; ``on_run(lane,
    waited_seconds, worked_seconds)`` after every run that got its slot (``lane`` ``"resync"``,
    ``"change"`` or ``"urgent"``; the wait for a slot and the work, by the loop's clock).
    """

    def __init__(
        self,
        work: Callable[[K], Awaitable[Done]],
        *,
        resync_seconds: float = RESYNC_SECONDS,
        max_concurrent: int = MAX_CONCURRENT,
        min_requeue_seconds: float = MIN_REQUEUE_SECONDS,
        backoff_first_seconds: float = BACKOFF_FIRST_SECONDS,
        backoff_max_seconds: float = BACKOFF_MAX_SECONDS,
        retry_at_once: tuple[type[BaseException], ...] = (),
        on_error: Callable[[K, float], None] = lambda key, delay: None,
        on_forget: Callable[[K], None] = lambda key: None,
        on_run: Callable[[str, float, float], None] = lambda lane, waited, worked: None,
    ) -> None:
        self._work = work
        self.resync_seconds = resync_seconds
        self._min_requeue = min_requeue_seconds
        self._backoff = (backoff_first_seconds, backoff_max_seconds)
        self._retry_at_once = retry_at_once
        self._on_error = on_error
        self._on_forget = on_forget
        self._on_run = on_run
        self._lanes = (
            asyncio.Semaphore(max(1, max_concurrent // 8)),
            asyncio.Semaphore(max_concurrent),
            asyncio.Semaphore(max_concurrent),
        )
        self._keys: dict[K, _KeyState] = {}
        self._closed = False
        self._paused = False
        self._held: set[K] = set()

    def trigger(self, key: K, delay: float = 0.0, *, resync: bool = False, urgent: bool = False) -> None:
        """Ask for a run of ``key`` now (``delay`` 0) or after ``delay`` seconds.

        A pending earlier timer wins over a later one; a trigger during a run makes one more run.
        ``resync`` marks a periodic run nothing in particular asked for, ``urgent`` a change a person
        or tool asked for (each runs in its own lane).
        """
        lane = URGENT if urgent else RESYNC if resync else CHANGE
        if self._closed:
            return
        if self._paused:
            self._held.add(key)
            return
        state = self._keys.setdefault(key, _KeyState())
        loop = asyncio.get_running_loop()
        if delay > 0:
            due = loop.time() + delay
            if state.timer is not None and state.timer_due <= due:
                return
            if state.timer is not None:
                state.timer.cancel()
            state.timer_due = due
            state.timer_resync = resync
            state.timer = loop.call_later(delay, self._fire, key)
            return
        if state.running is not None and not state.running.done():
            if state.waiting is None or state.waiting >= lane:
                state.dirty = True
                state.dirty_lane = max(state.dirty_lane, lane)
                return
            # A run still queueing for a slot of a less urgent lane gives way (issue 14: a spec change
            # waited behind 1,000 queued resyncs, or behind a burst of other bots' passes).
            state.running.cancel()
        state.waiting = None
        state.running = loop.create_task(self._run(key, lane), name=f"work {key}")

    def _fire(self, key: K) -> None:
        state = self._keys.get(key)
        if state is None:
            return
        state.timer = None
        self.trigger(key, resync=state.timer_resync)

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    def pause(self) -> None:
        """Cancel the timers and the runs in flight, hold new triggers until :meth:`resume`."""
        if self._paused:
            return
        self._paused = True
        for key, state in self._keys.items():
            self._held.add(key)
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
            if state.running is not None and not state.running.done():
                state.running.cancel()
            state.dirty = False

    def resume(self) -> None:
        """Run every key known or asked for while paused (in sorted order)."""
        if not self._paused:
            return
        self._paused = False
        held, self._held = self._held, set()
        for key in sorted(held | set(self._keys)):  # type: ignore[type-var]
            self.trigger(key)

    def forget(self, key: K) -> None:
        """Drop the key and its timer, and call ``on_forget(key)``."""
        state = self._keys.pop(key, None)
        if state is not None and state.timer is not None:
            state.timer.cancel()
        self._on_forget(key)

    async def close(self) -> None:
        """Cancel all timers and wait for the runs in flight to stop; later triggers are ignored."""
        self._closed = True
        tasks = []
        for state in self._keys.values():
            if state.timer is not None:
                state.timer.cancel()
            if state.running is not None and not state.running.done():
                state.running.cancel()
                tasks.append(state.running)
        await asyncio.gather(*tasks, return_exceptions=True)

    def runs(self, key: K) -> int:
        """How many runs of ``key`` have finished without raising (0 for an unknown key)."""
        state = self._keys.get(key)
        return state.runs if state else 0

    async def _run(self, key: K, lane: int = CHANGE) -> None:
        state = self._keys[key]
        while True:
            state.dirty = False
            state.dirty_lane = CHANGE
            delay: float | None
            next_is_resync = False
            loop = asyncio.get_running_loop()
            queued = loop.time()
            try:
                state.waiting = lane
                async with self._lanes[lane]:
                    state.waiting = None
                    started = loop.time()
                    try:
                        done = await self._work(key)
                    finally:
                        self._on_run(LANE_NAMES[lane], started - queued, loop.time() - started)
            except asyncio.CancelledError:
                raise
            except self._retry_at_once:
                state.dirty = True
                state.dirty_lane = max(state.dirty_lane, lane)
                delay = None
            except Exception:
                state.failures += 1
                first, most = self._backoff
                delay = min(most, first * 2 ** (state.failures - 1))
                self._on_error(key, delay)
            else:
                state.failures = 0
                state.runs += 1
                if done.gone:
                    self.forget(key)
                    return
                if done.again:
                    state.dirty = True
                    state.dirty_lane = max(state.dirty_lane, lane)
                delay = self.resync_seconds
                next_is_resync = True
                if done.requeue_after is not None and done.requeue_after < self.resync_seconds:
                    delay = done.requeue_after if done.requeue_after > 0 else self._min_requeue
                    next_is_resync = False
            if key not in self._keys or self._closed or self._paused:
                return
            if delay is not None:
                self.trigger(key, delay=delay, resync=next_is_resync)
            if not state.dirty:
                return
            lane = state.dirty_lane  # the follow-up run was asked for by a trigger
