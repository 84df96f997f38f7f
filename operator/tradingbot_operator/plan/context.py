"""The working state of one plan pass, what the pass returns, and the reasons it writes (pure).

:class:`Pass` holds the inputs (spec, observed children, ``now``) and the status as the transitions
change it; it is local to one call of :func:`tradingbot_operator.plan.plan` and never shared.
:class:`Plan` is the frozen result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tradingbot_operator.actions import Action, EventType
from tradingbot_operator.health import ColorHealth, color_health
from tradingbot_operator.model import (
    Color,
    LastRollout,
    RolloutProgress,
    RolloutResult,
    RolloutStage,
    TradingBotSpec,
    TradingBotStatus,
)
from tradingbot_operator.observed import Observed
from tradingbot_operator.plan.events import Transition

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
# The API server refused a child write (module rejections): Degraded condition, Warning Event.
REASON_CHILD_REJECTED = "ChildRejected"

FAILED_RESULTS = (RolloutResult.ROLLED_BACK, RolloutResult.ABORTED)


@dataclass(frozen=True)
class Plan:
    """What one reconcile pass should do: the new status, the actions, and when to look again.

    ``actions`` start with the Events of ``transitions`` (what the pass committed, in order);
    ``requeue_after``: seconds (>= 0) until a time-based gate needs another pass, or None.
    """

    actions: tuple[Action, ...]
    status: TradingBotStatus
    requeue_after: float | None = None
    transitions: tuple[Transition, ...] = ()


def whole_seconds(now: datetime) -> datetime:
    """``now`` without its microseconds; ValueError when it is naive (not timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.replace(microsecond=0)


def migration_pending(spec: TradingBotSpec, rollout: RolloutProgress) -> bool:
    """True while the rollout waits for its migration Job: enabled, not succeeded, not promoted."""
    return (
        rollout.stage is not RolloutStage.VERIFYING
        and spec.rollout.migration.enabled
        and rollout.migrated_at is None
    )


def preview(status: TradingBotStatus) -> tuple[Color, str] | None:
    """(color, revision) the preview Service selects: the rollout before its promotion, else the warm
    previous color (``standby``), else None."""
    rollout = status.rollout
    if rollout is not None and rollout.stage is not RolloutStage.VERIFYING:
        return rollout.color, rollout.revision
    if status.standby is not None:
        return status.standby.color, status.standby.revision
    return None


@dataclass
class Pass:
    """Working state of one plan pass (mutable locally; the inputs stay untouched).

    ``desired`` is the spec's revision; ``transitions`` collects what the pass changed, in order.
    """

    spec: TradingBotSpec
    observed: Observed
    now: datetime
    status: TradingBotStatus
    desired: str
    # The exact clock reading rounded up to a whole second: the origin of every interval the pass
    # starts (progress deadline, post-promotion window, scale-down delay), so that, stored in whole
    # seconds, none of them ends before its full length. ``now`` (rounded down) is what gates compare.
    now_up: datetime | None = None
    transitions: list[Transition] = field(default_factory=list)

    def origin(self, seconds: int) -> datetime:
        """Where an interval of ``seconds`` the pass starts begins (whole seconds, UTC): ``now_up``, or
        ``now`` for an empty interval (nothing to cut short; waiting for the next second only delays)."""
        return self.now_up or self.now if seconds > 0 else self.now

    def update(self, **changes: object) -> None:
        """Replace status fields (snake_case names)."""
        self.status = self.status.model_copy(update=changes)

    def update_rollout(self, **changes: object) -> None:
        """Replace fields of the rollout in progress (there must be one)."""
        assert self.status.rollout is not None
        self.update(rollout=self.status.rollout.model_copy(update=changes))

    def event(self, type_: EventType, reason: str, message: str) -> None:
        """Record a transition with nothing more to it than its Event."""
        self.transitions.append(Transition(type=type_, reason=reason, message=message))

    def note(self, transition: Transition) -> None:
        """Record a typed transition (a rollout's end, a rollback)."""
        self.transitions.append(transition)

    def pending(self, annotation: str, handled: str | None) -> str | None:
        """The annotation's value when it is set and not handled yet, else None."""
        value = self.observed.annotations.get(annotation, "")
        return value if value and value != handled else None

    def handle(self, **changes: str | None) -> None:
        """Record manual-action annotation values as handled (None forgets one)."""
        self.update(handled_actions=self.status.handled_actions.model_copy(update=changes))

    @property
    def stage(self) -> RolloutStage | None:
        """The stage of the rollout in progress, None without one."""
        rollout = self.status.rollout
        return rollout.stage if rollout is not None else None

    @property
    def paused(self) -> bool:
        """``spec.paused``."""
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
        """How ``color``'s pods of revision ``rev`` are doing."""
        return color_health(self.observed, color, rev, self.spec.replicas)

    def finish(
        self, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str
    ) -> LastRollout:
        """End the rollout in progress: ``rollout`` cleared, ``lastRollout`` written and returned."""
        last = LastRollout(
            revision=rollout.revision,
            result=result,
            reason=reason,
            message=message,
            generation=self.observed.generation,
            started_at=rollout.started_at,
            finished_at=self.now,
        )
        self.update(rollout=None, last_rollout=last)
        return last

    def migrating(self) -> bool:
        """A rollout in progress waits for its migration Job."""
        rollout = self.status.rollout
        return rollout is not None and migration_pending(self.spec, rollout)

    def blocked(self) -> bool:
        """The desired revision failed in this generation and waits for a spec change or a retry."""
        last = self.status.last_rollout
        return (
            last is not None
            and last.revision == self.desired
            and last.result in FAILED_RESULTS
            and last.generation == self.observed.generation
            and self.status.active_revision != self.desired
        )
