"""The reconcile pass and its scheduling: observe -> plan -> write status once -> apply actions.

:meth:`Reconciler.reconcile` is the ONE reconcile function: it reads the TradingBot fresh from the API
server, observes its children, asks the pure :func:`tradingbot_operator.plan.plan` what to do, writes
the status (only when it changed, before any action, so promotion and rollback are committed before
the Service selectors follow) and applies the actions in order.

:meth:`Reconciler.trigger` is how everything else asks for a pass: watch events on the TradingBot and
its children, the plan's ``requeue_after`` for time-based gates (bake end, deadlines, post-promotion
window, scale-down), retries after errors, and a periodic resync. Passes for one TradingBot never
overlap; triggers arriving during a pass coalesce into one follow-up pass. Waiting is an event-loop
timer (``loop.call_later``), never a sleep. The timers are in memory only: a restarted operator
rebuilds them from the first pass over each TradingBot, because the plan's inputs are the objects
and their status alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.aio.client.exceptions import ApiException
from pydantic import ValidationError

from tradingbot_operator.actions import EnsureService
from tradingbot_operator.bake import ReadyObservations
from tradingbot_operator.children import JSON, Owner
from tradingbot_operator.epochs import EpochMemory
from tradingbot_operator.kube import Kube, StaleObject, parse_status
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.model import RolloutResult, TradingBotSpec, TradingBotStatus
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.plan import plan
from tradingbot_operator.rejections import (
    REASON_CHILD_REJECTED,
    ChildRejected,
    Rejections,
    api_message,
    is_rejection,
)
from tradingbot_operator.snapshot import Snapshot

log = logging.getLogger("tradingbot_operator.reconciler")

Key = tuple[str, str]
"""(namespace, name) of a TradingBot."""

# Seconds; a pass that finds nothing due still runs this often, in case a watch event was missed.
RESYNC_SECONDS = 300.0
# Seconds; floor of a requeue, so a gate that is due "now" cannot spin the loop.
MIN_REQUEUE_SECONDS = 0.2
# Passes running at once (over all TradingBots). Without a bound, a resync of 1,000 objects queues
# thousands of requests in the client's connection pool, where they run into their timeouts.
MAX_CONCURRENT_PASSES = 16
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# Warning Event reason when status.epoch is below an epoch this process wrote.
REASON_EPOCH_REGRESSED = "EpochRegressed"


@dataclass
class PassResult:
    """What one pass did: whether it wrote status, how many actions it applied, when to look again."""

    status_written: bool = False
    actions: int = 0
    requeue_after: float | None = None
    exists: bool = True


@dataclass
class _KeyState:
    running: asyncio.Task[None] | None = None
    dirty: bool = False
    timer: asyncio.TimerHandle | None = None
    timer_due: float = 0.0
    timer_resync: bool = False
    failures: int = 0
    invalid_generation: int | None = None
    passes: int = 0
    last_result: PassResult | None = None
    uid: str | None = None


class Reconciler:
    """Runs reconcile passes for TradingBots, one at a time per object, on the running event loop.

    ``clock`` returns the current timezone-aware UTC time (the plan's ``now``); ``resync_seconds`` is
    the longest time between two passes over an object; ``max_concurrent`` bounds the passes in flight.
    """

    def __init__(
        self,
        kube: Kube,
        metrics: OperatorMetrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        resync_seconds: float = RESYNC_SECONDS,
        max_concurrent: int = MAX_CONCURRENT_PASSES,
    ) -> None:
        self.kube = kube
        self._slots = asyncio.Semaphore(max_concurrent)
        # Periodic resyncs get their own few slots: they must never queue ahead of a pass that a
        # change (watch event) or a due gate asked for.
        self._resync_slots = asyncio.Semaphore(max(1, max_concurrent // 8))
        self.metrics = metrics
        self.clock = clock
        self.resync_seconds = resync_seconds
        self._keys: dict[Key, _KeyState] = {}
        self._closed = False
        # Paused by kopf's peering (peering_gate): no pass runs, no timer is kept; triggers wait here.
        self._paused = False
        self._held: set[Key] = set()
        # Highest epoch this process wrote per TradingBot UID: a status below it is refused.
        self.epochs = EpochMemory()
        # When this process first saw each color's pods all Ready, by ``clock``: the bake's start.
        self.ready_seen = ReadyObservations()
        # The API server's message for a refused child write, shown by the next pass's status.
        self.rejections = Rejections()

    # --- scheduling --------------------------------------------------------------------------------

    def trigger(self, namespace: str, name: str, delay: float = 0.0, *, resync: bool = False) -> None:
        """Ask for a pass over ``namespace/name`` now (``delay`` 0) or after ``delay`` seconds.

        A pending earlier timer wins over a later one; a trigger during a pass makes one more pass.
        ``resync`` marks a periodic pass nothing in particular asked for (it runs in its own lane).
        """
        if self._closed:
            return
        key = (namespace, name)
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
            state.dirty = True
            return
        state.running = loop.create_task(self._run(key, resync), name=f"reconcile {namespace}/{name}")

    def _fire(self, key: Key) -> None:
        state = self._keys.get(key)
        if state is None:
            return
        state.timer = None
        self.trigger(*key, resync=state.timer_resync)

    @property
    def paused(self) -> bool:
        """True while another operator replica is in charge (kopf peering)."""
        return self._paused

    def pause(self) -> None:
        """Stop everything: cancel the timers and the passes in flight, hold new triggers.

        A pass cancelled mid-way is safe: the status write is atomic and guarded, actions are
        idempotent, and whoever runs next resumes from the objects and their status.
        """
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
        """Run a pass over every TradingBot known or asked for while paused (they rebuild the timers)."""
        if not self._paused:
            return
        self._paused = False
        held, self._held = self._held, set()
        for key in sorted(held | set(self._keys)):
            self.trigger(*key)

    def forget(self, namespace: str, name: str) -> None:
        """Drop the timers and metrics of a deleted TradingBot."""
        state = self._keys.pop((namespace, name), None)
        if state is not None and state.timer is not None:
            state.timer.cancel()
        if state is not None and state.uid is not None:
            self.epochs.forget(state.uid)
            self.ready_seen.forget(state.uid)
            self.rejections.clear(state.uid)
        self.metrics.forget(namespace, name)

    async def close(self) -> None:
        """Cancel all timers and wait for the running passes to stop."""
        self._closed = True
        tasks = []
        for state in self._keys.values():
            if state.timer is not None:
                state.timer.cancel()
            if state.running is not None and not state.running.done():
                state.running.cancel()
                tasks.append(state.running)
        await asyncio.gather(*tasks, return_exceptions=True)

    def passes(self, namespace: str, name: str) -> int:
        """How many passes over ``namespace/name`` have finished (for tests and benchmarks)."""
        state = self._keys.get((namespace, name))
        return state.passes if state else 0

    async def _run(self, key: Key, resync: bool = False) -> None:
        state = self._keys[key]
        while True:
            state.dirty = False
            delay: float | None
            next_is_resync = False
            try:
                async with self._resync_slots if resync else self._slots:
                    result = await self.reconcile(*key)
            except StaleObject as exc:
                log.info("reconcile %s/%s: %s; trying again", *key, exc)
                state.dirty = True
                delay = None
            except asyncio.CancelledError:
                raise
            except Exception:
                self.metrics.reconcile_errors.inc()
                state.failures += 1
                delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (state.failures - 1))
                log.exception("reconcile %s/%s failed; retrying in %.1fs", *key, delay)
            else:
                state.failures = 0
                state.passes += 1
                state.last_result = result
                if not result.exists:
                    self.forget(*key)
                    return
                delay = self.resync_seconds
                next_is_resync = True
                if result.requeue_after is not None and result.requeue_after < self.resync_seconds:
                    delay = max(result.requeue_after, MIN_REQUEUE_SECONDS)
                    next_is_resync = False
            if key not in self._keys or self._closed or self._paused:
                return
            if delay is not None:
                self.trigger(*key, delay=delay, resync=next_is_resync)
            if not state.dirty:
                return
            resync = False  # the follow-up pass was asked for by an event

    # --- the pass ----------------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> PassResult:
        """One pass over ``namespace/name``: observe, plan, write status (if changed), apply actions.

        Raises :class:`~tradingbot_operator.kube.StaleObject` when the TradingBot changed while the
        pass ran (nothing was written; run it again) and API errors as they come.
        """
        body = await self.kube.get_tradingbot(namespace, name)
        if body is None:
            return PassResult(exists=False)
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            return PassResult()
        state = self._keys.setdefault((namespace, name), _KeyState())
        generation = int(meta.get("generation") or 0)
        try:
            spec = TradingBotSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            if state.invalid_generation != generation:
                state.invalid_generation = generation
                log.error("TradingBot %s/%s has an invalid spec: %s", namespace, name, exc)
                message = "; ".join(str(e.get("msg")) for e in exc.errors())[:900]
                await self.kube.emit_event(
                    Owner.from_body(body), "Warning", "InvalidSpec", f"spec rejected: {message}"
                )
            return PassResult()
        status = parse_status(body.get("status"))
        uid = str(meta["uid"])
        state.uid = uid
        highest = self.epochs.regressed(uid, status.epoch)
        if highest is not None:
            await self._refuse_regressed_epoch(body, status.epoch, highest)
            return PassResult()
        snapshot = await self.kube.observe(body)
        now = self.clock()
        seen = self.ready_seen.observe(uid, snapshot.observed, spec.replicas, now)
        observed = dataclasses.replace(
            snapshot.observed, ready_seen=seen, child_rejected=self.rejections.get(uid)
        )
        result = plan(spec, status, observed, now)
        written = False
        if result.status != status:
            await self.kube.write_status(body, result.status)
            self.epochs.wrote(uid, result.status.epoch)
            written = True
        refused: list[str] = []
        for action in result.actions:
            try:
                await self.kube.apply(body, action)
            except ApiException as exc:
                if not is_rejection(exc):
                    raise
                refused.append(api_message(exc))  # the other actions still follow the status
        if refused:
            message = "; ".join(refused)[:1000]
            if self.rejections.record(uid, message):
                log.error("TradingBot %s/%s: the API server refused a child: %s", namespace, name, message)
                await self.kube.emit_event(Owner.from_body(body), "Warning", REASON_CHILD_REJECTED, message)
            raise ChildRejected(message)
        if self.rejections.clear(uid):
            state.dirty = True  # one more pass clears the condition
        self._record(namespace, name, status, result.status, snapshot, result.actions)
        log.debug(
            "pass %s/%s: phase %s epoch %d, status %s, actions %s, requeue %s",
            namespace,
            name,
            result.status.phase,
            result.status.epoch,
            "written" if written else "unchanged",
            [type(a).__name__ for a in result.actions],
            result.requeue_after,
        )
        return PassResult(
            status_written=written, actions=len(result.actions), requeue_after=result.requeue_after
        )

    async def _refuse_regressed_epoch(self, body: JSON, epoch: int, highest: int) -> None:
        """No action on a status whose epoch fell below one this process wrote: log, Warning Event once."""
        meta = body["metadata"]
        message = (
            f"status.epoch is {epoch}, below epoch {highest} that this operator already wrote: the status "
            "was set back by someone else, and acting on it could hand out an epoch another color already "
            f"held. No action is taken until status.epoch is at least {highest} again."
        )
        log.error("TradingBot %s/%s: %s", meta["namespace"], meta["name"], message)
        if self.epochs.first_warning(str(meta["uid"]), epoch):
            await self.kube.emit_event(Owner.from_body(body), "Warning", REASON_EPOCH_REGRESSED, message)

    def _record(
        self,
        namespace: str,
        name: str,
        old: TradingBotStatus,
        new: TradingBotStatus,
        snapshot: Snapshot,
        actions: tuple[object, ...],
    ) -> None:
        self.metrics.active_epoch.labels(namespace, name).set(new.epoch)
        last = new.last_rollout
        if last is None or last == old.last_rollout:
            return
        self.metrics.rollouts.labels(namespace, name, last.result.value).inc()
        self.metrics.rollout_duration.observe(max(0.0, (last.finished_at - last.started_at).total_seconds()))
        rolled_back_after_promotion = (
            last.result in (RolloutResult.ROLLED_BACK, RolloutResult.ABORTED)
            and old.rollout is not None
            and old.rollout.promoted_at is not None
            and new.active_color != old.active_color
        )
        switched = any(isinstance(a, EnsureService) and a.role is ServiceRole.ACTIVE for a in actions)
        if rolled_back_after_promotion and old.rollout is not None:
            failed_at = snapshot.failed_at.get(old.rollout.color)
            if failed_at is not None and switched:
                seconds = (datetime.now(UTC) - failed_at).total_seconds()
                self.metrics.time_to_rollback.observe(max(0.0, seconds))
