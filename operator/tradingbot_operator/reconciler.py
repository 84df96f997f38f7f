"""The reconcile pass: observe -> plan -> write status once -> apply actions -> record metrics.

:meth:`Reconciler.reconcile` is the ONE reconcile function: it reads the TradingBot fresh from the API
server, observes its children, asks the pure :func:`tradingbot_operator.plan.plan` what to do, writes
the status (only when it changed, before any action, so promotion and rollback are committed before
the Service selectors follow), applies the actions in order and hands the plan's transitions to the
metrics.

Scheduling is a :class:`~tradingbot_operator.workqueue.WorkQueue` keyed by (namespace, name):
:meth:`Reconciler.trigger` is how everything else asks for a pass (watch events on the TradingBot and
its children, the plan's ``requeue_after`` for time-based gates, retries after errors, a periodic
resync). Passes for one TradingBot never overlap; the timers are in memory only: a restarted operator
rebuilds them from the first pass over each TradingBot, because the plan's inputs are the objects and
their status alone. Time is read from the injected ``clock`` only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.aio.client.exceptions import ApiException
from pydantic import ValidationError

from tradingbot_operator.actions import EmitEvent, EnsureService
from tradingbot_operator.bake import ReadyObservations
from tradingbot_operator.children import JSON, Owner
from tradingbot_operator.epochs import EpochMemory
from tradingbot_operator.kube import Kube, StaleObject, parse_status
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.model import TradingBotSpec, TradingBotStatus
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.plan import plan
from tradingbot_operator.plan.analysis import due_promql
from tradingbot_operator.plan.context import REASON_CHILD_REJECTED
from tradingbot_operator.prometheus import Prometheus
from tradingbot_operator.rejections import (
    ChildRejected,
    Rejections,
    api_message,
    is_namespace_terminating,
    is_rejection,
)
from tradingbot_operator.workqueue import MAX_CONCURRENT, RESYNC_SECONDS, Done, WorkQueue

log = logging.getLogger("tradingbot_operator.reconciler")

Key = tuple[str, str]
"""(namespace, name) of a TradingBot."""

# Passes running at once (over all TradingBots). Without a bound, a resync of 1,000 objects queues
# thousands of requests in the client's connection pool, where they run into their timeouts.
MAX_CONCURRENT_PASSES = MAX_CONCURRENT
# Warning Event reason when status.epoch is below an epoch this process wrote.
REASON_EPOCH_REGRESSED = "EpochRegressed"


@dataclass
class PassResult:
    """What one pass did: whether it wrote status, how many actions it applied, when to look again.

    ``again``: one more pass is due at once (a cleared rejection's condition must be written);
    ``exists``: False when the TradingBot is gone.
    """

    status_written: bool = False
    actions: int = 0
    requeue_after: float | None = None
    exists: bool = True
    again: bool = False


# Seconds; the shortest wait for a gate not yet due, so a gate due "any moment" cannot spin the loop.
MIN_GATE_WAIT_SECONDS = 0.001


def remaining(requeue_after: float | None, planned_at: datetime, finished_at: datetime) -> float | None:
    """The plan's ``requeue_after`` (seconds from ``planned_at``) as seconds from ``finished_at``.

    The pass's writes take time after the plan read the clock; the timer starts after them, so without
    this a gate fired that much late. A gate still ahead when planned stays positive (at least
    ``MIN_GATE_WAIT_SECONDS``); 0 (due now) and None pass through unchanged.
    """
    if requeue_after is None or requeue_after <= 0:
        return requeue_after
    elapsed = (finished_at - planned_at).total_seconds()
    return max(MIN_GATE_WAIT_SECONDS, requeue_after - max(0.0, elapsed))


def utc_now() -> datetime:
    """The wall clock, timezone-aware UTC (the default ``clock``)."""
    return datetime.now(UTC)


class Reconciler:
    """Runs reconcile passes for TradingBots, one at a time per object, on the running event loop.

    ``clock`` returns the current timezone-aware UTC time (the plan's ``now``); ``resync_seconds`` is
    the longest time between two passes over an object; ``max_concurrent`` bounds the passes in flight;
    ``prometheus`` answers the metric analysis queries (module ``prometheus``).
    """

    def __init__(
        self,
        kube: Kube,
        metrics: OperatorMetrics,
        *,
        clock: Callable[[], datetime] = utc_now,
        resync_seconds: float = RESYNC_SECONDS,
        max_concurrent: int = MAX_CONCURRENT_PASSES,
        prometheus: Prometheus | None = None,
    ) -> None:
        self.kube = kube
        self.metrics = metrics
        # The metric analysis gate's Prometheus (operator setting --prometheus-url); none configured:
        # every analysis query is inconclusive.
        self.prometheus = prometheus or Prometheus(None)
        self.clock = clock
        self.queue: WorkQueue[Key] = WorkQueue(
            self._work,
            resync_seconds=resync_seconds,
            max_concurrent=max_concurrent,
            retry_at_once=(StaleObject,),
            on_error=self._failed,
            on_forget=self._forgotten,
            on_run=metrics.pass_timing,
        )
        # Per TradingBot: its UID (to drop the memories below when it is gone) and the generation whose
        # invalid spec was already reported.
        self._uids: dict[Key, str] = {}
        self._invalid_generation: dict[Key, int] = {}
        # Highest epoch this process wrote per TradingBot UID: a status below it is refused.
        self.epochs = EpochMemory()
        # When this process first saw each color's pods all Ready, by ``clock``: the bake's start.
        self.ready_seen = ReadyObservations()
        # The API server's message for a refused child write, shown by the next pass's status.
        self.rejections = Rejections()

    # --- scheduling (the work queue) ---------------------------------------------------------------

    def changed(
        self,
        plural: str,
        namespace: str,
        name: str,
        resource_version: str | None,
        owner: str,
        *,
        deleted: bool = False,
        listing: bool = False,
    ) -> None:
        """A watch event: ``plural/name`` (the TradingBot ``owner`` or one of its children) changed.

        Triggers a pass over ``owner`` unless the event carries a version already known
        (:meth:`Kube.seen`: this process wrote it, or an earlier event carried it), whose state a pass
        already planned from (issue 14: such passes were half of all, and a re-listing by kopf queued
        one per object). A change of the TradingBot itself runs in the work queue's urgent lane, unless
        it comes from kopf's listing (``listing``: at startup every TradingBot is "changed").
        """
        if deleted:
            self.kube.versions.forget_object(plural, namespace, name)
        elif self.kube.versions.seen(plural, namespace, name, resource_version):
            return
        # A TradingBot change not written by this process is someone's intent (spec, promote/abort/retry
        # annotations): it runs in the urgent lane, never behind the passes of other bots' rollouts.
        self.queue.trigger((namespace, owner), urgent=plural == "tradingbots" and not listing)

    def trigger(self, namespace: str, name: str, delay: float = 0.0, *, resync: bool = False) -> None:
        """Ask for a pass over ``namespace/name`` now (``delay`` 0) or after ``delay`` seconds.

        A pending earlier timer wins over a later one; a trigger during a pass makes one more pass.
        ``resync`` marks a periodic pass nothing in particular asked for (it runs in its own lane).
        """
        self.queue.trigger((namespace, name), delay, resync=resync)

    @property
    def paused(self) -> bool:
        """True while another operator replica is in charge (kopf peering)."""
        return self.queue.paused

    def pause(self) -> None:
        """Stop everything: cancel the timers and the passes in flight, hold new triggers.

        A pass cancelled mid-way is safe: the status write is atomic and guarded, actions are
        idempotent, and whoever runs next resumes from the objects and their status.
        """
        self.queue.pause()

    def resume(self) -> None:
        """Run a pass over every TradingBot known or asked for while paused (they rebuild the timers).

        Those passes LIST the children: kopf's watches were paused too, so the children cache missed
        the other replica's writes (kopf re-lists when its watches resume, which drops the primes
        again).
        """
        if self.kube.cache is not None:
            self.kube.cache.unprime_all()
        self.queue.resume()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the timers, memories and metric series of a deleted TradingBot."""
        self.queue.forget((namespace, name))
        self.kube.versions.forget_tradingbot(namespace, name)
        if self.kube.cache is not None:
            self.kube.cache.forget_owner(namespace, name)

    async def close(self) -> None:
        """Cancel all timers and wait for the running passes to stop."""
        await self.queue.close()

    def passes(self, namespace: str, name: str) -> int:
        """How many passes over ``namespace/name`` have finished (for tests and benchmarks)."""
        return self.queue.runs((namespace, name))

    async def _work(self, key: Key) -> Done:
        try:
            result = await self.reconcile(*key)
        except StaleObject as exc:
            log.info("reconcile %s/%s: %s; trying again", *key, exc)
            raise  # the queue runs it again at once
        except ApiException as exc:
            if not is_namespace_terminating(exc):
                raise
            # Backing off and retrying would only repeat the 403 until the TradingBot is deleted with
            # its namespace; its DELETED event (or the resync) is the next word.
            log.info("reconcile %s/%s: the namespace is being deleted; no retry", *key)
            return Done()
        return Done(requeue_after=result.requeue_after, again=result.again, gone=not result.exists)

    def _failed(self, key: Key, retry_in: float) -> None:
        self.metrics.reconcile_errors.inc()
        log.exception("reconcile %s/%s failed; retrying in %.1fs", *key, retry_in)

    def _forgotten(self, key: Key) -> None:
        uid = self._uids.pop(key, None)
        self._invalid_generation.pop(key, None)
        if uid is not None:
            self.epochs.forget(uid)
            self.ready_seen.forget(uid)
            self.rejections.clear(uid)
        self.metrics.forget(*key)

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
        key = (namespace, name)
        generation = int(meta.get("generation") or 0)
        try:
            spec = TradingBotSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            if self._invalid_generation.get(key) != generation:
                self._invalid_generation[key] = generation
                log.error("TradingBot %s/%s has an invalid spec: %s", namespace, name, exc)
                message = "; ".join(str(e.get("msg")) for e in exc.errors())[:900]
                await self.kube.emit_event(
                    Owner.from_body(body), "Warning", "InvalidSpec", f"spec rejected: {message}"
                )
            return PassResult()
        status = parse_status(body.get("status"))
        uid = str(meta["uid"])
        self._uids[key] = uid
        highest = self.epochs.regressed(uid, status.epoch)
        if highest is not None:
            await self._refuse_regressed_epoch(body, status.epoch, highest)
            return PassResult()
        snapshot = await self.kube.observe(body)
        now = self.clock()
        seen = self.ready_seen.observe(uid, snapshot.observed, spec.replicas, now)
        # The analysis queries due now (pure), measured here: their readings are an input of the plan.
        promql = due_promql(spec, status, now, namespace=namespace, name=name)
        readings = await self.prometheus.read_all(promql) if promql else {}
        observed = dataclasses.replace(
            snapshot.observed, ready_seen=seen, child_rejected=self.rejections.get(uid), readings=readings
        )
        result = plan(spec, status, observed, now)
        written = False
        if result.status != status:
            await self.kube.write_status(body, result.status)
            self.epochs.wrote(uid, result.status.epoch)
            written = True
            # Counted with the write that recorded them, so an action failing below loses no count.
            self._count_measurements(namespace, name, readings, status, result.status)
        refused: list[str] = []
        listed = dict(snapshot.listed)
        # Events are for people (Kube.apply never raises for them): they go out alongside the child
        # writes instead of ahead of them, so they cannot hold back a switch.
        events: list[asyncio.Task[None]] = []
        try:
            for action in result.actions:
                if isinstance(action, EmitEvent):
                    events.append(asyncio.create_task(self.kube.apply(body, action)))
                    continue
                try:
                    await self.kube.apply(body, action, listed)
                except ApiException as exc:
                    if not is_rejection(exc):
                        raise
                    refused.append(api_message(exc))  # the other actions still follow the status
        except BaseException:
            for task in events:
                task.cancel()
            raise
        await asyncio.gather(*events)
        if refused:
            message = "; ".join(refused)[:1000]
            if self.rejections.record(uid, message):
                log.error("TradingBot %s/%s: the API server refused a child: %s", namespace, name, message)
                await self.kube.emit_event(Owner.from_body(body), "Warning", REASON_CHILD_REJECTED, message)
            raise ChildRejected(message)
        again = self.rejections.clear(uid)  # one more pass clears the condition
        switched = any(isinstance(a, EnsureService) and a.role is ServiceRole.ACTIVE for a in result.actions)
        self.metrics.record_pass(
            namespace,
            name,
            result.status.epoch,
            result.transitions,
            failed_at=snapshot.failed_at,
            switched=switched,
            now=self.clock(),
        )
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
            status_written=written,
            actions=len(result.actions),
            requeue_after=remaining(result.requeue_after, now, self.clock()),
            again=again,
        )

    def _count_measurements(
        self,
        namespace: str,
        name: str,
        readings: Mapping[str, object],
        before: TradingBotStatus,
        after: TradingBotStatus,
    ) -> None:
        """Count the analysis measurements ``after`` (just written) has and ``before`` had not."""
        if not readings or after.analysis is None:
            return
        old = before.analysis.measurements if before.analysis is not None else ()
        taken = [m for m in after.analysis.measurements if m.name in readings and m not in old]
        self.metrics.record_measurements(namespace, name, taken)

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
