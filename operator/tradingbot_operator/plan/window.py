"""After a promotion (pure): the post-promotion window, its rollback, and the warm standby's scale-down.

Stage ``Verifying`` (``rollout.promotedAt`` set): the new color is active. Within
``postPromotionSeconds`` more than ``maxRestarts`` restarts, fewer than ``replicas`` Ready pods or a
new ``ploy.dev/abort`` value roll back in one status change (``activeColor`` and ``activeRevision``
back, ``epoch + 1``, ``standby`` cleared). A stop (``replicas: 0``) or a newer revision ends the window
early; a pause holds it. The previous color stays warm (``standby``) until ``scaleDownAt``.
"""

from __future__ import annotations

from tradingbot_operator.actions import EventType
from tradingbot_operator.model import RolloutProgress, RolloutResult, RolloutStage
from tradingbot_operator.names import ANNOTATION_ABORT
from tradingbot_operator.plan.analysis import REASON_ANALYSIS_FAILED, analyse
from tradingbot_operator.plan.context import (
    REASON_ABORTED,
    REASON_PROMOTED,
    REASON_READINESS_LOST,
    REASON_RESTARTS,
    REASON_WINDOW_CUT,
    Pass,
)
from tradingbot_operator.plan.events import RolledBack, RolloutEnded
from tradingbot_operator.plan.timing import window_end
from tradingbot_operator.stopping import REASON_STOPPED_IN_WINDOW


def post_promotion(p: Pass) -> None:
    """Inside the window after a promotion: roll back on trouble, else finish when the window ends."""
    rollout = p.status.rollout
    assert rollout is not None and rollout.promoted_at is not None
    health = p.health(rollout.color, rollout.revision)
    abort = p.pending(ANNOTATION_ABORT, p.status.handled_actions.abort)
    verdict = analyse(p, rollout)
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
    elif verdict.failure is not None:
        problem = (RolloutResult.ROLLED_BACK, REASON_ANALYSIS_FAILED, f"{verdict.failure} after promotion")
    elif abort is not None:
        p.handle(abort=abort)
        problem = (
            RolloutResult.ABORTED,
            REASON_ABORTED,
            f"{ANNOTATION_ABORT} during the post-promotion window",
        )
    if problem is not None:
        roll_back(p, rollout, *problem)
        return
    if p.stopped:
        _promoted(
            p,
            rollout,
            REASON_STOPPED_IN_WINDOW,
            f"revision {rollout.revision} stays active; spec.replicas 0 ended its post-promotion window",
            f"revision {rollout.revision} on {rollout.color}: window ended by a stop",
            stable=False,
        )
        return
    if p.paused:
        return
    if p.desired != rollout.revision:
        _promoted(
            p,
            rollout,
            REASON_WINDOW_CUT,
            f"revision {rollout.revision} promoted; a newer revision ended its post-promotion window early",
            f"revision {rollout.revision} is stable (window cut short)",
        )
        return
    window_passed_by_now(p, rollout, analysis_passed=verdict.passed)


def window_passed_by_now(p: Pass, rollout: RolloutProgress, *, analysis_passed: bool = True) -> None:
    """Finish the rollout as Promoted (stable) when its window has ended by ``p.now`` and the metric
    analysis (if any) has passed: an analysis still waiting for a conclusive answer holds the window."""
    assert rollout.promoted_at is not None
    if analysis_passed and p.now >= window_end(rollout.promoted_at, p.spec.rollout):
        _promoted(
            p,
            rollout,
            REASON_PROMOTED,
            f"revision {rollout.revision} on {rollout.color} passed its post-promotion window",
            f"revision {rollout.revision} on {rollout.color} is stable",
        )


def _promoted(
    p: Pass, rollout: RolloutProgress, reason: str, message: str, event: str, *, stable: bool = True
) -> None:
    """The window ended and the promoted revision stays: ``lastRollout`` Promoted, Event ``Promoted``;
    ``stable``: it also becomes ``stableRevision`` (not when a stop cut the window)."""
    last = p.finish(rollout, RolloutResult.PROMOTED, reason, message)
    if stable:
        p.update(stable_revision=rollout.revision)
    p.note(RolloutEnded(EventType.NORMAL, "Promoted", event, last=last))


def roll_back(p: Pass, rollout: RolloutProgress, result: RolloutResult, reason: str, message: str) -> None:
    """Post-promotion rollback: the previous color becomes active again in one status change."""
    assert rollout.previous_color is not None
    epoch = p.status.epoch + 1
    p.update(
        active_color=rollout.previous_color,
        active_revision=rollout.previous_revision,
        epoch=epoch,
        standby=None,
    )
    last = p.finish(rollout, result, reason, message)
    event = (
        f"{message}; {rollout.previous_color} is active again "
        f"(revision {rollout.previous_revision}, epoch {epoch})"
    )
    p.note(RolledBack(EventType.WARNING, "RolledBack", event, last=last, failed=rollout.color))


def scale_down_standby(p: Pass) -> None:
    """Let the warm previous color go once ``scaleDownAt`` has come and no window runs (not paused)."""
    standby = p.status.standby
    if standby is None or p.paused:
        return
    if p.now >= standby.scale_down_at and p.stage is not RolloutStage.VERIFYING:
        p.update(standby=None)
        p.event(EventType.NORMAL, "ScaledDown", f"{standby.color} (revision {standby.revision}) scaled to 0")
