"""When the time-based gates of a rollout are due (pure), and the plan's ``requeue_after``.

Each due time is computed here once and read by the transitions and by :func:`requeue_after`. Times
are timezone-aware UTC ``datetime``s; durations come from ``spec.rollout`` in whole seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tradingbot_operator.model import RolloutProgress, RolloutSpec, RolloutStage
from tradingbot_operator.plan.analysis import next_due
from tradingbot_operator.plan.context import Pass


def progress_deadline(rollout: RolloutProgress, spec: RolloutSpec) -> datetime:
    """``startedAt + progressDeadlineSeconds + pausedSeconds``: not baked by then fails the rollout."""
    return rollout.started_at + timedelta(seconds=spec.progress_deadline_seconds + rollout.paused_seconds)


def bake_end(ready_since: datetime, spec: RolloutSpec) -> datetime:
    """``readySince + bakeSeconds``: Ready since ``ready_since`` and still Ready then passes the gate."""
    return ready_since + timedelta(seconds=spec.bake_seconds)


def window_end(promoted_at: datetime, spec: RolloutSpec) -> datetime:
    """``promotedAt + postPromotionSeconds``: the end of the post-promotion window."""
    return promoted_at + timedelta(seconds=spec.post_promotion_seconds)


def scale_down_delay(spec: RolloutSpec) -> int:
    """Seconds the previous color stays after a promotion: ``max(scaleDownDelaySeconds,
    postPromotionSeconds)``, so it stays warm for a rollback for the whole window."""
    return max(spec.scale_down_delay_seconds, spec.post_promotion_seconds)


def scale_down_at(promoted_at: datetime, spec: RolloutSpec) -> datetime:
    """When the previous color is scaled to 0: :func:`scale_down_delay` after ``promoted_at``."""
    return promoted_at + timedelta(seconds=scale_down_delay(spec))


def requeue_after(p: Pass, now: datetime) -> float | None:
    """Seconds (>= 0) from ``now`` to the earliest due gate of the new status, or None.

    ``now`` is the pass's exact clock reading (timezone-aware UTC, with its microseconds), not the
    whole-second ``p.now`` the transitions compare against: the caller's timer runs on the real clock,
    so counting from the truncated time would fire it up to a second after the gate is due. At the
    due instant the whole-second ``p.now`` equals the due time (all due times are whole seconds), so
    the pass that timer starts finds the gate due. Held rollouts (paused or stopped) have no due gate;
    a paused bot does not scale its standby down.
    """
    s = p.status
    spec = p.spec.rollout
    due: list[datetime] = []
    rollout = s.rollout
    if rollout is not None and not p.held:
        stage = rollout.stage
        if stage is RolloutStage.VERIFYING:
            assert rollout.promoted_at is not None
            due.append(window_end(rollout.promoted_at, spec))
        elif stage is not RolloutStage.BAKED:
            due.append(progress_deadline(rollout, spec))
            if rollout.ready_since is not None:
                due.append(bake_end(rollout.ready_since, spec))
    measure_at = next_due(p.spec, s)
    if measure_at is not None:
        # Measured even while paused: a failed analysis is a safety rollback (not while stopped).
        due.append(measure_at)
    if s.standby is not None and not p.paused:
        due.append(s.standby.scale_down_at)
    if not due:
        return None
    return max(0.0, (min(due) - now).total_seconds())
