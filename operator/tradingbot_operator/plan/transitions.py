"""The rollout's transitions up to its promotion (pure), and the bookkeeping every pass does first.

Read top to bottom as a state table over ``rollout.stage`` (:class:`~tradingbot_operator.model.
RolloutStage`): no rollout → :func:`maybe_start` (``Starting``); ``Starting`` → migration Job, then
:func:`gate`: all replicas Ready (``Baking``), ``bakeSeconds`` later with restarts in limit
(``Baked``) → :func:`promote` (``Verifying``, module ``window``). Any stage before ``Verifying`` can
fail (deadline, restarts, readiness lost, migration failed, abort) or be superseded by a newer
revision, which ends the rollout (``lastRollout``) and lets convergence scale the new color to 0.
"""

from __future__ import annotations

from tradingbot_operator.actions import EventType
from tradingbot_operator.bake import bake_start
from tradingbot_operator.model import Color, RolloutProgress, RolloutResult, RolloutStage, Standby
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY
from tradingbot_operator.observed import JobState
from tradingbot_operator.plan.analysis import REASON_ANALYSIS_FAILED, analyse
from tradingbot_operator.plan.context import (
    REASON_ABORTED,
    REASON_DEADLINE,
    REASON_MIGRATION_FAILED,
    REASON_PROMOTED_FIRST,
    REASON_READINESS_LOST,
    REASON_RESTARTS,
    REASON_SUPERSEDED,
    Pass,
)
from tradingbot_operator.plan.events import RolloutEnded
from tradingbot_operator.plan.timing import bake_end, progress_deadline, scale_down_at, scale_down_delay
from tradingbot_operator.plan.window import window_passed_by_now
from tradingbot_operator.stopping import track_stop as stop_change

# --- bookkeeping ---------------------------------------------------------------------------------


def track_annotations(p: Pass) -> None:
    """Forget handled values whose annotation is gone, so setting the same value again is a new request."""
    handled = p.status.handled_actions
    changes: dict[str, str | None] = {}
    for name, annotation in (
        ("promote", ANNOTATION_PROMOTE),
        ("abort", ANNOTATION_ABORT),
        ("retry", ANNOTATION_RETRY),
    ):
        if getattr(handled, name) is not None and not p.observed.annotations.get(annotation):
            changes[name] = None
    if changes:
        p.handle(**changes)


def track_pause(p: Pass) -> None:
    """``pausedAt`` follows ``spec.paused``; the time paused extends the rollout's deadline."""
    if p.paused and p.status.paused_at is None:
        p.update(paused_at=p.now)
        p.event(EventType.NORMAL, "Paused", "spec.paused is true: rollout progress stops")
    elif not p.paused and p.status.paused_at is not None:
        paused_for = int((p.now - p.status.paused_at).total_seconds())
        p.update(paused_at=None)
        if p.status.rollout is not None:
            p.update_rollout(paused_seconds=p.status.rollout.paused_seconds + max(paused_for, 0))
        p.event(EventType.NORMAL, "Resumed", "spec.paused is false: rollout progress resumes")


def track_stop(p: Pass) -> None:
    """``stoppedAt`` follows ``replicas: 0``; the time stopped extends the rollout's deadline."""
    change = stop_change(p.stopped, p.status.stopped_at, p.now)
    if change is None:
        return
    p.update(stopped_at=change.stopped_at)
    if p.status.rollout is not None and change.held_seconds:
        p.update_rollout(paused_seconds=p.status.rollout.paused_seconds + change.held_seconds)
    p.event(EventType.NORMAL, change.reason, change.message)


# --- a rollout before its promotion ----------------------------------------------------------------


def maybe_start(p: Pass) -> None:
    """Start a rollout of the desired revision on the idle color, unless it is running, failed or held."""
    if p.held or p.desired == p.status.active_revision:
        return
    if p.blocked():
        retry = p.pending(ANNOTATION_RETRY, p.status.handled_actions.retry)
        if retry is None:
            return
        p.handle(retry=retry)
        p.event(EventType.NORMAL, "RetryRequested", f"{ANNOTATION_RETRY}: retrying revision {p.desired}")
    active = p.status.active_color
    color = active.other if active is not None else Color.BLUE
    p.update(
        rollout=RolloutProgress(
            revision=p.desired,
            color=color,
            generation=p.observed.generation,
            started_at=p.origin(p.spec.rollout.progress_deadline_seconds),
            previous_color=active,
            previous_revision=p.status.active_revision if active is not None else None,
        ),
        standby=None,
    )
    p.event(EventType.NORMAL, "RolloutStarted", f"rolling out revision {p.desired} on {color}")


def fail(p: Pass, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str) -> None:
    """Failure before promotion: the new color is scaled to 0 (by convergence); nothing else changes."""
    last = p.finish(rollout, result, reason, message)
    event = f"rollout of revision {rollout.revision} failed: {message}"
    p.note(RolloutEnded(EventType.WARNING, reason, event, last=last))


def pre_promotion(p: Pass) -> None:
    """A rollout before its promotion: supersede, migrate, gate, promote or fail."""
    rollout = p.status.rollout
    assert rollout is not None and rollout.stage is not RolloutStage.VERIFYING
    if p.desired != rollout.revision and not p.paused:
        last = p.finish(
            rollout, RolloutResult.SUPERSEDED, REASON_SUPERSEDED, f"superseded by revision {p.desired}"
        )
        event = f"rollout of {rollout.revision} superseded by {p.desired}"
        p.note(RolloutEnded(EventType.NORMAL, "Superseded", event, last=last))
        return
    abort = p.pending(ANNOTATION_ABORT, p.status.handled_actions.abort)
    if abort is not None:
        p.handle(abort=abort)
        fail(p, rollout, RolloutResult.ABORTED, REASON_ABORTED, f"{ANNOTATION_ABORT} was set")
        return
    deadline_passed = (
        not p.held
        and rollout.stage is not RolloutStage.BAKED
        and p.now >= progress_deadline(rollout, p.spec.rollout)
    )
    if p.migrating():
        job = p.observed.job(rollout.revision)
        if job is not None and job.state is JobState.FAILED:
            detail = f": {job.message}" if job.message else ""
            message = f"migration Job failed{detail}"
            fail(p, rollout, RolloutResult.ROLLED_BACK, REASON_MIGRATION_FAILED, message)
            return
        if job is not None and job.state is JobState.SUCCEEDED:
            p.update_rollout(migrated_at=p.now)
            p.event(
                EventType.NORMAL, "MigrationSucceeded", f"migration for revision {rollout.revision} succeeded"
            )
        elif deadline_passed:
            fail(p, rollout, RolloutResult.ROLLED_BACK, REASON_DEADLINE, "migration did not finish in time")
            return
        else:
            return
    gate(p, deadline_passed)


def gate(p: Pass, deadline_passed: bool) -> None:
    """``Starting`` → ``Baking`` → ``Baked`` on the new color's health; fail on trouble; then promote."""
    rollout = p.status.rollout
    assert rollout is not None
    health = p.health(rollout.color, rollout.revision)
    if p.stopped:
        # No pod: nothing to gate. The bake starts over once pods are Ready again.
        if rollout.stage is not RolloutStage.STARTING:
            p.update_rollout(ready_since=None, baked_at=None)
        return
    max_restarts = p.spec.rollout.max_restarts
    if health.restarts > max_restarts:
        fail(
            p,
            rollout,
            RolloutResult.ROLLED_BACK,
            REASON_RESTARTS,
            f"{rollout.color} restarted {health.restarts} times (maxRestarts {max_restarts})",
        )
        return
    # Readiness loss means fewer Ready pods than wanted; a Deployment still catching up with a replica
    # change (scaling 1 -> 0 mid-bake) is not a loss, it only holds the gate until it has caught up.
    if rollout.ready_since is not None and not health.available:
        fail(
            p,
            rollout,
            RolloutResult.ROLLED_BACK,
            REASON_READINESS_LOST,
            f"{rollout.color} lost readiness ({health.ready_pods}/{p.spec.replicas} Ready) after being Ready",
        )
        return
    verdict = analyse(p, rollout)
    if verdict.failure is not None:
        fail(p, rollout, RolloutResult.ROLLED_BACK, REASON_ANALYSIS_FAILED, verdict.failure)
        return
    if health.ready:
        # Timed from this operator's own first observation of all pods Ready (module bake), never
        # from the pods' node-written timestamps: a lagging node clock cannot shorten the bake.
        since = bake_start(rollout.ready_since, p.observed.ready_seen.get(rollout.color), p.now)
        if since != rollout.ready_since:
            p.update_rollout(ready_since=since)
        # ``since`` is rounded up to the whole second (never a shorter bake); with no bake there is
        # nothing to shorten, and waiting for that second made a bakeSeconds-0 promotion 0-1 s late.
        baked = p.spec.rollout.bake_seconds == 0 or p.now >= bake_end(since, p.spec.rollout)
        # Passing the gate is progress, so it waits for the end of a pause (failures do not wait).
        # The metric analysis must have passed too (every query's last measurement Successful).
        if p.stage is RolloutStage.BAKING and baked and verdict.passed and not p.paused:
            p.update_rollout(baked_at=p.now)
            p.event(
                EventType.NORMAL,
                "GatePassed",
                f"{rollout.color} (revision {rollout.revision}) passed its gate",
            )
    rollout = p.status.rollout
    assert rollout is not None
    if rollout.stage is not RolloutStage.BAKED and deadline_passed:
        waiting = "" if verdict.passed else ", analysis not passed"
        fail(
            p,
            rollout,
            RolloutResult.ROLLED_BACK,
            REASON_DEADLINE,
            f"{rollout.color} was not Ready and baked within {p.spec.rollout.progress_deadline_seconds}s "
            f"({health.ready_pods}/{p.spec.replicas} Ready{waiting})",
        )
        return
    # Never promote a color without a Ready pod (health.ready needs at least one).
    if p.held or not health.ready or health.ready_pods < 1:
        return
    promote_request = p.pending(ANNOTATION_PROMOTE, p.status.handled_actions.promote)
    if promote_request is not None:
        p.handle(promote=promote_request)
        promote(p, rollout, f"{ANNOTATION_PROMOTE} was set")
    elif rollout.stage is RolloutStage.BAKED and p.spec.rollout.auto_promote:
        promote(p, rollout, "gate passed (autoPromote)")


def promote(p: Pass, rollout: RolloutProgress, why: str) -> None:
    """One status change: ``activeColor`` and ``epoch + 1`` together; the window starts (``Verifying``).

    The first rollout has no previous color to return to, so it finishes at once (``FirstRollout``).
    """
    epoch = p.status.epoch + 1
    previous = p.status.active_color
    p.update(active_color=rollout.color, active_revision=rollout.revision, epoch=epoch)
    switched = f"{rollout.color} is active (revision {rollout.revision}, epoch {epoch}): {why}"
    if previous is None or rollout.previous_revision is None:
        first = f"first revision {rollout.revision}"
        last = p.finish(rollout, RolloutResult.PROMOTED, REASON_PROMOTED_FIRST, first)
        p.update(stable_revision=rollout.revision)
        p.note(RolloutEnded(EventType.NORMAL, "Switched", switched, last=last))
        return
    p.event(EventType.NORMAL, "Switched", switched)
    promoted_at = p.origin(p.spec.rollout.post_promotion_seconds)
    rollout = rollout.model_copy(update={"promoted_at": promoted_at, "baked_at": rollout.baked_at or p.now})
    p.update(
        rollout=rollout,
        standby=Standby(
            color=previous,
            revision=rollout.previous_revision,
            scale_down_at=scale_down_at(p.origin(scale_down_delay(p.spec.rollout)), p.spec.rollout),
        ),
    )
    window_passed_by_now(p, rollout)


def unapplicable_requests(p: Pass) -> None:
    """Acknowledge manual requests that have nothing to act on, so they do not fire later by surprise."""
    handled = p.status.handled_actions
    promote_request = p.pending(ANNOTATION_PROMOTE, handled.promote)
    if promote_request is not None and p.stage in (None, RolloutStage.VERIFYING):
        p.handle(promote=promote_request)
        p.event(
            EventType.WARNING,
            "NothingToPromote",
            f"{ANNOTATION_PROMOTE} ignored: no rollout awaits promotion",
        )
    abort = p.pending(ANNOTATION_ABORT, handled.abort)
    if abort is not None and p.stage is None:
        p.handle(abort=abort)
        p.event(EventType.WARNING, "NothingToAbort", f"{ANNOTATION_ABORT} ignored: no rollout in progress")
    retry = p.pending(ANNOTATION_RETRY, handled.retry)
    if retry is not None and not p.blocked():
        p.handle(retry=retry)
        p.event(
            EventType.WARNING, "NothingToRetry", f"{ANNOTATION_RETRY} ignored: no failed revision to retry"
        )
