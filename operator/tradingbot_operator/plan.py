"""The rollout plan (pure): ``plan(spec, status, observed, now) -> Plan(actions, status, requeue_after)``.

Inputs
  ``spec``      the parsed ``TradingBotSpec`` (``TradingBotSpec.model_validate(body["spec"])``).
  ``status``    the current ``TradingBotStatus``
                (``TradingBotStatus.model_validate(body.get("status") or {})``).
  ``observed``  an :class:`~tradingbot_operator.observed.Observed` snapshot of the TradingBot's
                metadata (generation, annotations, deleting) and its children.
  ``now``       timezone-aware UTC ``datetime`` (truncated to whole seconds here).

Output :class:`Plan`
  ``status``         the complete new status; write it (status subresource) when it differs from the
                     old one, BEFORE applying the actions. Promotion and rollback are one status write
                     (``activeColor`` and ``epoch`` together), and only then do the Service selectors
                     follow.
  ``actions``        :mod:`tradingbot_operator.actions` to apply in order after the status write; each
                     checks the live object before it writes. Events come first: they describe
                     transitions the status write has just committed.
  ``requeue_after``  seconds until a time-based gate (bake end, progress deadline, post-promotion
                     window end, scale-down) needs another pass, or None when only a change in the
                     cluster can move things on.

Semantics (DESIGN §3). A revision (``revision.revision``) covers image, trading config, pod template and
database reference; ``replicas``, ``paused`` and ``rollout`` are not part of it: a replica change scales
the running colors in place. A new revision goes to the idle color (blue for the very first rollout),
after its migration Job when enabled. Gate: all replicas Ready, then ``bakeSeconds`` without readiness
loss and with at most ``maxRestarts`` restarts, all within ``progressDeadlineSeconds`` (time spent
paused does not count). Promotion (``autoPromote`` or ``ploy.dev/promote``, which skips the remaining
bake but never promotes a color that is not Ready) sets ``activeColor`` and ``epoch + 1`` in one status
change. During ``postPromotionSeconds`` readiness loss or too many restarts of the new active color (or
``ploy.dev/abort``) roll back: ``activeColor`` back, ``epoch + 1``. The first rollout has no previous
color, hence no post-promotion window. The previous color stays warm until
``max(scaleDownDelaySeconds, postPromotionSeconds)`` after promotion, then it is scaled to 0 (its
Deployment stays). Failure before promotion (deadline, restarts > maxRestarts at once, readiness loss
after Ready, migration failure, ``ploy.dev/abort``) scales the new color to 0; the revision is then
not retried until ``metadata.generation`` changes or a new ``ploy.dev/retry`` value appears. A newer
revision during a rollout supersedes it (``lastRollout.result: Superseded``); during a post-promotion
window it ends the window early (the promoted revision counts as Promoted). ``spec.paused`` stops
progress (no start, supersede, promotion, window end, scale-down, deadline) but not the safety
rollbacks. Manual-action annotations are acted on once per value (``status.handledActions``); a
promote request waits until the new color is Ready. Deletion: when ``observed.deleting`` the plan
returns no actions and the status unchanged; ownerReferences let the garbage collector remove the
children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EmitEvent,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    EventType,
    PodInputs,
    ScaleDeployment,
)
from tradingbot_operator.bake import bake_start
from tradingbot_operator.conditions import ConditionStatus, set_condition
from tradingbot_operator.model import (
    Color,
    ConditionType,
    LastRollout,
    RolloutProgress,
    RolloutResult,
    Standby,
    TradingBotSpec,
    TradingBotStatus,
)
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY, ServiceRole
from tradingbot_operator.observed import JobState, Observed
from tradingbot_operator.phase import ColorHealth, color_health, compute_phase
from tradingbot_operator.rejections import REASON_CHILD_REJECTED
from tradingbot_operator.revision import config_hash, render_config, revision
from tradingbot_operator.stopping import REASON_STOPPED_IN_WINDOW, stopped_message, track_stop

# Reasons (CamelCase, used in lastRollout.reason, conditions and Events).
REASON_DEADLINE = "ProgressDeadlineExceeded"
REASON_RESTARTS = "TooManyRestarts"
REASON_READINESS_LOST = "ReadinessLost"
REASON_MIGRATION_FAILED = "MigrationFailed"
REASON_ABORTED = "AbortRequested"
REASON_SUPERSEDED = "NewerRevision"
REASON_PROMOTED = "PostPromotionWindowPassed"
REASON_PROMOTED_FIRST = "FirstRollout"
REASON_WINDOW_CUT = "NewerRevisionDuringWindow"

FAILED_RESULTS = (RolloutResult.ROLLED_BACK, RolloutResult.ABORTED)


@dataclass(frozen=True)
class Plan:
    """What one reconcile pass should do: the new status, the actions, and when to look again."""

    actions: tuple[Action, ...]
    status: TradingBotStatus
    requeue_after: float | None = None


def _seconds(value: int | float) -> timedelta:
    return timedelta(seconds=value)


def _whole_seconds(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.replace(microsecond=0)


@dataclass
class _Pass:
    """Working state of one plan pass (mutable locally; the inputs stay untouched)."""

    spec: TradingBotSpec
    observed: Observed
    now: datetime
    status: TradingBotStatus
    desired: str
    events: list[EmitEvent] = field(default_factory=list)

    # --- helpers ---------------------------------------------------------------------------------------
    def update(self, **changes: object) -> None:
        self.status = self.status.model_copy(update=changes)

    def update_rollout(self, **changes: object) -> None:
        assert self.status.rollout is not None
        self.update(rollout=self.status.rollout.model_copy(update=changes))

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.events.append(EmitEvent(type=type_, reason=reason, message=message))

    def pending(self, annotation: str, handled: str | None) -> str | None:
        value = self.observed.annotations.get(annotation, "")
        return value if value and value != handled else None

    def handle(self, **changes: str | None) -> None:
        self.update(handled_actions=self.status.handled_actions.model_copy(update=changes))

    @property
    def paused(self) -> bool:
        return self.spec.paused

    @property
    def stopped(self) -> bool:
        """``replicas: 0``: no pod runs (module ``stopping``)."""
        return self.spec.replicas == 0

    @property
    def held(self) -> bool:
        """No rollout progress: paused or stopped (safety rollbacks still happen)."""
        return self.paused or self.stopped

    def health(self, color: Color, rev: str) -> ColorHealth:
        return color_health(self.observed, color, rev, self.spec.replicas)

    def finish(self, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str) -> None:
        self.update(
            rollout=None,
            last_rollout=LastRollout(
                revision=rollout.revision,
                result=result,
                reason=reason,
                message=message,
                generation=self.observed.generation,
                started_at=rollout.started_at,
                finished_at=self.now,
            ),
        )

    def migrating(self) -> bool:
        rollout = self.status.rollout
        return (
            rollout is not None
            and rollout.promoted_at is None
            and self.spec.rollout.migration.enabled
            and rollout.migrated_at is None
        )

    def blocked(self) -> bool:
        last = self.status.last_rollout
        return (
            last is not None
            and last.revision == self.desired
            and last.result in FAILED_RESULTS
            and last.generation == self.observed.generation
            and self.status.active_revision != self.desired
        )


def plan(spec: TradingBotSpec, status: TradingBotStatus, observed: Observed, now: datetime) -> Plan:
    """Compute the next status and the actions that move the children towards it (see module docstring)."""
    now = _whole_seconds(now)
    if observed.deleting:
        return Plan(actions=(), status=status, requeue_after=None)
    p = _Pass(spec=spec, observed=observed, now=now, status=status, desired=revision(spec))
    _track_annotations(p)
    _track_pause(p)
    _track_stop(p)
    if p.status.rollout is not None and p.status.rollout.promoted_at is not None:
        _post_promotion(p)
    if p.status.rollout is not None and p.status.rollout.promoted_at is None:
        _pre_promotion(p)
    if p.status.rollout is None:
        _maybe_start(p)
        if p.status.rollout is not None:
            _pre_promotion(p)
    _unapplicable_requests(p)
    _scale_down_standby(p)
    _summarise(p)
    actions: list[Action] = [*p.events, *_converge(p)]
    return Plan(actions=tuple(actions), status=p.status, requeue_after=_requeue_after(p))


# --- transitions -------------------------------------------------------------------------------------


def _track_annotations(p: _Pass) -> None:
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


def _track_pause(p: _Pass) -> None:
    if p.paused and p.status.paused_at is None:
        p.update(paused_at=p.now)
        p.event(EventType.NORMAL, "Paused", "spec.paused is true: rollout progress stops")
    elif not p.paused and p.status.paused_at is not None:
        paused_for = int((p.now - p.status.paused_at).total_seconds())
        p.update(paused_at=None)
        if p.status.rollout is not None:
            p.update_rollout(paused_seconds=p.status.rollout.paused_seconds + max(paused_for, 0))
        p.event(EventType.NORMAL, "Resumed", "spec.paused is false: rollout progress resumes")


def _track_stop(p: _Pass) -> None:
    change = track_stop(p.stopped, p.status.stopped_at, p.now)
    if change is None:
        return
    p.update(stopped_at=change.stopped_at)
    if p.status.rollout is not None and change.held_seconds:
        p.update_rollout(paused_seconds=p.status.rollout.paused_seconds + change.held_seconds)
    p.event(EventType.NORMAL, change.reason, change.message)


def _post_promotion(p: _Pass) -> None:
    """Inside the window after a promotion: roll back on trouble, else finish when the window ends."""
    rollout = p.status.rollout
    assert rollout is not None and rollout.promoted_at is not None
    health = p.health(rollout.color, rollout.revision)
    abort = p.pending(ANNOTATION_ABORT, p.status.handled_actions.abort)
    problem: tuple[RolloutResult, str, str] | None = None
    if health.restarts > p.spec.rollout.max_restarts:
        problem = (
            RolloutResult.ROLLED_BACK,
            REASON_RESTARTS,
            f"{rollout.color} restarted {health.restarts} times after promotion (maxRestarts "
            f"{p.spec.rollout.max_restarts})",
        )
    elif not health.available:
        problem = (
            RolloutResult.ROLLED_BACK,
            REASON_READINESS_LOST,
            f"{rollout.color} lost readiness after promotion ({health.ready_pods}/{p.spec.replicas} Ready)",
        )
    elif abort is not None:
        p.handle(abort=abort)
        problem = (
            RolloutResult.ABORTED,
            REASON_ABORTED,
            f"{ANNOTATION_ABORT} during the post-promotion window",
        )
    if problem is not None:
        _roll_back(p, rollout, *problem)
        return
    if p.stopped:
        p.finish(
            rollout,
            RolloutResult.PROMOTED,
            REASON_STOPPED_IN_WINDOW,
            f"revision {rollout.revision} stays active; spec.replicas 0 ended its post-promotion window",
        )
        p.event(
            EventType.NORMAL,
            "Promoted",
            f"revision {rollout.revision} on {rollout.color}: window ended by a stop",
        )
        return
    if p.paused:
        return
    if p.desired != rollout.revision:
        p.finish(
            rollout,
            RolloutResult.PROMOTED,
            REASON_WINDOW_CUT,
            f"revision {rollout.revision} promoted; a newer revision ended its post-promotion window early",
        )
        p.update(stable_revision=rollout.revision)
        p.event(EventType.NORMAL, "Promoted", f"revision {rollout.revision} is stable (window cut short)")
        return
    if p.now >= rollout.promoted_at + _seconds(p.spec.rollout.post_promotion_seconds):
        _window_passed(p, rollout)


def _window_passed(p: _Pass, rollout: RolloutProgress) -> None:
    p.finish(
        rollout,
        RolloutResult.PROMOTED,
        REASON_PROMOTED,
        f"revision {rollout.revision} on {rollout.color} passed its post-promotion window",
    )
    p.update(stable_revision=rollout.revision)
    p.event(EventType.NORMAL, "Promoted", f"revision {rollout.revision} on {rollout.color} is stable")


def _roll_back(p: _Pass, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str) -> None:
    """Post-promotion rollback: the previous color becomes active again in one status change."""
    assert rollout.previous_color is not None
    epoch = p.status.epoch + 1
    p.update(
        active_color=rollout.previous_color,
        active_revision=rollout.previous_revision,
        epoch=epoch,
        standby=None,
    )
    p.finish(rollout, result, reason, message)
    p.event(
        EventType.WARNING,
        "RolledBack",
        f"{message}; {rollout.previous_color} is active again "
        f"(revision {rollout.previous_revision}, epoch {epoch})",
    )


def _fail(p: _Pass, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str) -> None:
    """Failure before promotion: the new color is scaled to 0 (by convergence); nothing else changes."""
    p.finish(rollout, result, reason, message)
    p.event(EventType.WARNING, reason, f"rollout of revision {rollout.revision} failed: {message}")


def _pre_promotion(p: _Pass) -> None:
    """A rollout before its promotion: supersede, migrate, gate, promote or fail."""
    rollout = p.status.rollout
    assert rollout is not None and rollout.promoted_at is None
    if p.desired != rollout.revision and not p.paused:
        p.finish(rollout, RolloutResult.SUPERSEDED, REASON_SUPERSEDED, f"superseded by revision {p.desired}")
        p.event(EventType.NORMAL, "Superseded", f"rollout of {rollout.revision} superseded by {p.desired}")
        return
    abort = p.pending(ANNOTATION_ABORT, p.status.handled_actions.abort)
    if abort is not None:
        p.handle(abort=abort)
        _fail(p, rollout, RolloutResult.ABORTED, REASON_ABORTED, f"{ANNOTATION_ABORT} was set")
        return
    deadline = rollout.started_at + _seconds(
        p.spec.rollout.progress_deadline_seconds + rollout.paused_seconds
    )
    deadline_passed = not p.held and rollout.baked_at is None and p.now >= deadline
    if p.migrating():
        job = p.observed.job(rollout.revision)
        if job is not None and job.state is JobState.FAILED:
            detail = f": {job.message}" if job.message else ""
            _fail(
                p,
                rollout,
                RolloutResult.ROLLED_BACK,
                REASON_MIGRATION_FAILED,
                f"migration Job failed{detail}",
            )
            return
        if job is not None and job.state is JobState.SUCCEEDED:
            p.update_rollout(migrated_at=p.now)
            p.event(
                EventType.NORMAL, "MigrationSucceeded", f"migration for revision {rollout.revision} succeeded"
            )
        elif deadline_passed:
            _fail(p, rollout, RolloutResult.ROLLED_BACK, REASON_DEADLINE, "migration did not finish in time")
            return
        else:
            return
    _gate(p, deadline_passed)


def _gate(p: _Pass, deadline_passed: bool) -> None:
    rollout = p.status.rollout
    assert rollout is not None
    health = p.health(rollout.color, rollout.revision)
    if p.stopped:
        # No pod: nothing to gate. The bake starts over once pods are Ready again.
        if rollout.ready_since is not None or rollout.baked_at is not None:
            p.update_rollout(ready_since=None, baked_at=None)
        return
    max_restarts = p.spec.rollout.max_restarts
    if health.restarts > max_restarts:
        _fail(
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
        _fail(
            p,
            rollout,
            RolloutResult.ROLLED_BACK,
            REASON_READINESS_LOST,
            f"{rollout.color} lost readiness ({health.ready_pods}/{p.spec.replicas} Ready) after being Ready",
        )
        return
    if health.ready:
        # Timed from this operator's own first observation of all pods Ready (module bake), never
        # from the pods' node-written timestamps: a lagging node clock cannot shorten the bake.
        since = bake_start(rollout.ready_since, p.observed.ready_seen.get(rollout.color), p.now)
        if since != rollout.ready_since:
            p.update_rollout(ready_since=since)
        rollout = p.status.rollout
        assert rollout is not None and rollout.ready_since is not None
        baked = p.now >= rollout.ready_since + _seconds(p.spec.rollout.bake_seconds)
        # Passing the gate is progress, so it waits for the end of a pause (failures do not wait).
        if rollout.baked_at is None and baked and not p.paused:
            p.update_rollout(baked_at=p.now)
            p.event(
                EventType.NORMAL,
                "GatePassed",
                f"{rollout.color} (revision {rollout.revision}) passed its gate",
            )
    rollout = p.status.rollout
    assert rollout is not None
    if rollout.baked_at is None and deadline_passed:
        _fail(
            p,
            rollout,
            RolloutResult.ROLLED_BACK,
            REASON_DEADLINE,
            f"{rollout.color} was not Ready and baked within {p.spec.rollout.progress_deadline_seconds}s "
            f"({health.ready_pods}/{p.spec.replicas} Ready)",
        )
        return
    # Never promote a color without a Ready pod (health.ready needs at least one).
    if p.held or not health.ready or health.ready_pods < 1:
        return
    promote = p.pending(ANNOTATION_PROMOTE, p.status.handled_actions.promote)
    if promote is not None:
        p.handle(promote=promote)
        _promote(p, rollout, f"{ANNOTATION_PROMOTE} was set")
    elif rollout.baked_at is not None and p.spec.rollout.auto_promote:
        _promote(p, rollout, "gate passed (autoPromote)")


def _promote(p: _Pass, rollout: RolloutProgress, why: str) -> None:
    """One status change: ``activeColor`` and ``epoch + 1`` together."""
    epoch = p.status.epoch + 1
    previous = p.status.active_color
    p.update(active_color=rollout.color, active_revision=rollout.revision, epoch=epoch)
    p.event(
        EventType.NORMAL,
        "Switched",
        f"{rollout.color} is active (revision {rollout.revision}, epoch {epoch}): {why}",
    )
    if previous is None or rollout.previous_revision is None:
        p.finish(rollout, RolloutResult.PROMOTED, REASON_PROMOTED_FIRST, f"first revision {rollout.revision}")
        p.update(stable_revision=rollout.revision)
        return
    rollout = rollout.model_copy(update={"promoted_at": p.now, "baked_at": rollout.baked_at or p.now})
    window = p.spec.rollout.post_promotion_seconds
    p.update(
        rollout=rollout,
        standby=Standby(
            color=previous,
            revision=rollout.previous_revision,
            scale_down_at=p.now + _seconds(max(p.spec.rollout.scale_down_delay_seconds, window)),
        ),
    )
    if window == 0:
        _window_passed(p, rollout)


def _maybe_start(p: _Pass) -> None:
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
            started_at=p.now,
            previous_color=active,
            previous_revision=p.status.active_revision if active is not None else None,
        ),
        standby=None,
    )
    p.event(EventType.NORMAL, "RolloutStarted", f"rolling out revision {p.desired} on {color}")


def _unapplicable_requests(p: _Pass) -> None:
    """Acknowledge manual requests that have nothing to act on, so they do not fire later by surprise."""
    rollout = p.status.rollout
    handled = p.status.handled_actions
    promote = p.pending(ANNOTATION_PROMOTE, handled.promote)
    if promote is not None and (rollout is None or rollout.promoted_at is not None):
        p.handle(promote=promote)
        p.event(
            EventType.WARNING,
            "NothingToPromote",
            f"{ANNOTATION_PROMOTE} ignored: no rollout awaits promotion",
        )
    abort = p.pending(ANNOTATION_ABORT, handled.abort)
    if abort is not None and rollout is None:
        p.handle(abort=abort)
        p.event(EventType.WARNING, "NothingToAbort", f"{ANNOTATION_ABORT} ignored: no rollout in progress")
    retry = p.pending(ANNOTATION_RETRY, handled.retry)
    if retry is not None and not p.blocked():
        p.handle(retry=retry)
        p.event(
            EventType.WARNING, "NothingToRetry", f"{ANNOTATION_RETRY} ignored: no failed revision to retry"
        )


def _scale_down_standby(p: _Pass) -> None:
    standby = p.status.standby
    if standby is None or p.paused:
        return
    rollout = p.status.rollout
    in_window = rollout is not None and rollout.promoted_at is not None
    if p.now >= standby.scale_down_at and not in_window:
        p.update(standby=None)
        p.event(EventType.NORMAL, "ScaledDown", f"{standby.color} (revision {standby.revision}) scaled to 0")


# --- summary: conditions, phase, message -------------------------------------------------------------


def _summarise(p: _Pass) -> None:
    s = p.status
    rollout = s.rollout
    generation = p.observed.generation
    active = s.active_color
    active_health = p.health(active, s.active_revision) if active is not None and s.active_revision else None
    active_ready = active_health is not None and active_health.available
    failed = p.blocked()
    phase = compute_phase(
        paused=p.paused,
        stopped=p.stopped,
        rolling_out=rollout is not None,
        migrating=p.migrating(),
        ready_since=rollout.ready_since if rollout else None,
        baked=rollout is not None and rollout.baked_at is not None,
        promoted=rollout is not None and rollout.promoted_at is not None,
        failed=failed,
        has_active=active is not None,
        active_ready=active_ready,
    )
    conditions = s.conditions
    for type_, status, reason, message in _condition_values(p, phase.value, failed, active_ready):
        conditions = set_condition(conditions, type_, status, reason, message, p.now, generation)
    if rollout is not None and rollout.promoted_at is None:
        preview_revision: str | None = rollout.revision
    elif s.standby is not None:
        preview_revision = s.standby.revision
    else:
        preview_revision = None
    message = _message(p, phase.value, failed)
    if p.observed.child_rejected is not None:
        message = f"{message}; {REASON_CHILD_REJECTED}: {p.observed.child_rejected}"
    p.update(
        observed_generation=generation,
        phase=phase,
        message=message,
        conditions=conditions,
        preview_revision=preview_revision,
    )


def _condition_values(
    p: _Pass, phase: str, failed: bool, active_ready: bool
) -> list[tuple[ConditionType, ConditionStatus, str, str]]:
    """(type, status, reason, message) of the four conditions; messages hold no times, so they stay put."""
    s = p.status
    rollout, last, active = s.rollout, s.last_rollout, s.active_color
    values: list[tuple[ConditionType, ConditionStatus, str, str]] = []
    if p.stopped:
        values.append((ConditionType.AVAILABLE, "False", "Stopped", stopped_message(active, s.epoch)))
    elif active is None:
        values.append((ConditionType.AVAILABLE, "False", "NoActiveColor", "no color has been promoted yet"))
    elif active_ready:
        values.append(
            (ConditionType.AVAILABLE, "True", "ActiveReady", f"{active} serves revision {s.active_revision}")
        )
    else:
        values.append(
            (
                ConditionType.AVAILABLE,
                "False",
                "ActiveNotReady",
                f"{active} (revision {s.active_revision}) is not Ready",
            )
        )
    if rollout is not None:
        progressing: ConditionStatus = "False" if p.held else "True"
        reason = "RolloutStopped" if p.stopped else "RolloutPaused" if p.paused else phase
        values.append(
            (
                ConditionType.PROGRESSING,
                progressing,
                reason,
                f"revision {rollout.revision} on {rollout.color}",
            )
        )
    elif failed and last is not None:
        values.append(
            (ConditionType.PROGRESSING, "False", "RolloutFailed", f"revision {last.revision}: {last.message}")
        )
    elif active is not None:
        values.append(
            (ConditionType.PROGRESSING, "False", "RolloutComplete", f"revision {s.active_revision} is active")
        )
    else:
        values.append((ConditionType.PROGRESSING, "False", "NoRollout", "nothing to roll out"))
    rejected = p.observed.child_rejected
    if rejected is not None:
        values.append((ConditionType.DEGRADED, "True", REASON_CHILD_REJECTED, rejected))
    elif failed and last is not None:
        values.append(
            (ConditionType.DEGRADED, "True", last.reason, f"revision {last.revision}: {last.message}")
        )
    elif active is not None and not active_ready and not p.stopped:
        values.append(
            (
                ConditionType.DEGRADED,
                "True",
                "ActiveNotReady",
                f"{active} (revision {s.active_revision}) is not Ready",
            )
        )
    else:
        values.append((ConditionType.DEGRADED, "False", "AsExpected", ""))
    if p.paused:
        values.append((ConditionType.PAUSED, "True", "PausedBySpec", "spec.paused is true"))
    else:
        values.append((ConditionType.PAUSED, "False", "NotPaused", ""))
    return values


def _message(p: _Pass, phase: str, failed: bool) -> str:
    s = p.status
    rollout = s.rollout
    if p.stopped:
        held = f"; rollout of revision {rollout.revision} on {rollout.color} waits" if rollout else ""
        return stopped_message(s.active_color, s.epoch) + held
    if rollout is not None:
        return f"{phase}: revision {rollout.revision} on {rollout.color}"
    if failed and s.last_rollout is not None:
        return f"revision {s.last_rollout.revision} {s.last_rollout.result}: {s.last_rollout.reason}"
    if s.active_color is not None:
        return f"{s.active_color} active, revision {s.active_revision}, epoch {s.epoch}"
    return "waiting for the first rollout"


# --- convergence: children from the new status ------------------------------------------------------


def _pod_inputs(spec: TradingBotSpec) -> PodInputs:
    return PodInputs(
        image=spec.image,
        config_hash=config_hash(spec),
        database=spec.database.secret_ref,
        pod_template=spec.pod_template,
    )


def _converge(p: _Pass) -> list[Action]:
    """Actions that make the children match the new status; nothing when they already do."""
    s = p.status
    spec = p.spec
    observed = p.observed
    rollout = s.rollout
    targets: dict[Color, tuple[str | None, int]] = {c: (None, 0) for c in Color}
    if s.standby is not None:
        targets[s.standby.color] = (s.standby.revision, spec.replicas)
    if rollout is not None:
        targets[rollout.color] = (rollout.revision, 0 if p.migrating() else spec.replicas)
    if s.active_color is not None:
        targets[s.active_color] = (s.active_revision, spec.replicas)

    config_needed = False
    ensure: list[Action] = []
    scale_up: list[Action] = []
    scale_down: list[Action] = []
    for color in Color:
        rev, replicas = targets[color]
        deployment = observed.deployments.get(color)
        if rev == p.desired and (replicas > 0 or deployment is not None):
            config_needed = True
            if deployment is None or deployment.revision != rev or deployment.replicas != replicas:
                ensure.append(
                    EnsureDeployment(
                        color=color, revision=p.desired, replicas=replicas, pod=_pod_inputs(spec)
                    )
                )
        elif deployment is not None and deployment.replicas != replicas:
            bucket = scale_down if replicas < deployment.replicas else scale_up
            bucket.append(ScaleDeployment(color=color, replicas=replicas))

    jobs: list[Action] = []
    if p.migrating():
        assert rollout is not None
        config_needed = True
        if observed.job(rollout.revision) is None:
            jobs.append(
                EnsureMigrationJob(
                    revision=rollout.revision, args=spec.rollout.migration.args, pod=_pod_inputs(spec)
                )
            )
    keep = {r.revision for r in (rollout, s.last_rollout) if r is not None}
    deletions: list[Action] = [
        DeleteMigrationJob(revision=j.revision)
        for j in observed.jobs
        if j.revision not in keep and j.state is not JobState.RUNNING
    ]

    services: list[Action] = []
    preview: Color | None = None
    if rollout is not None and rollout.promoted_at is None:
        preview = rollout.color
    elif s.standby is not None:
        preview = s.standby.color
    selectors: tuple[tuple[ServiceRole, Color | None], ...] = (
        (ServiceRole.ACTIVE, s.active_color),
        (ServiceRole.PREVIEW, preview),
    )
    for role, selected in selectors:
        service = observed.services.get(role)
        if service is None or service.color != selected or service.drifted:
            services.append(EnsureService(role=role, color=selected))

    config: list[Action] = []
    chash = config_hash(spec)
    if config_needed and chash not in observed.config_maps:
        config.append(EnsureConfigMap(config_hash=chash, data=render_config(spec)))
    return [*config, *jobs, *ensure, *scale_up, *services, *scale_down, *deletions]


def _requeue_after(p: _Pass) -> float | None:
    s = p.status
    spec = p.spec.rollout
    due: list[datetime] = []
    rollout = s.rollout
    if rollout is not None and not p.held:
        if rollout.promoted_at is not None:
            due.append(rollout.promoted_at + _seconds(spec.post_promotion_seconds))
        elif rollout.baked_at is None:
            due.append(rollout.started_at + _seconds(spec.progress_deadline_seconds + rollout.paused_seconds))
            if rollout.ready_since is not None:
                due.append(rollout.ready_since + _seconds(spec.bake_seconds))
    if s.standby is not None and not p.paused:
        due.append(s.standby.scale_down_at)
    if not due:
        return None
    return max(0.0, (min(due) - p.now).total_seconds())
