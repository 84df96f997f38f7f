"""``spec.replicas: 0`` means Stopped (pure): what starting and stopping change, and what people see.

A stopped TradingBot runs no pod: every color's Deployment is scaled to 0, so nobody trades.
``status.activeColor`` and ``status.epoch`` are kept (the color that trades once the bot is started
again is the one that traded before; no epoch is spent on a stop). While stopped, no rollout starts,
a rollout before its promotion is held (its bake restarts when pods are Ready again, the stopped time
extends its progress deadline like a pause does), and nothing is promoted: a color is promoted only
with at least one Ready pod (:func:`tradingbot_operator.health.color_health`). Stopping inside a
post-promotion window ends the window (``StoppedDuringWindow``): with no pod there is nothing left to
verify, and pods starting again later must not count as readiness lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradingbot_operator.model import Color

REASON_STOPPED = "Stopped"
REASON_STARTED = "Started"
REASON_STOPPED_IN_WINDOW = "StoppedDuringWindow"


@dataclass(frozen=True)
class StopChange:
    """A start or a stop seen by this pass.

    ``stopped_at``: the new ``status.stoppedAt`` (UTC, or None once started); ``held_seconds``: seconds
    the bot was stopped (>= 0), added to the running rollout's ``pausedSeconds``; ``reason`` and
    ``message``: the Normal Event.
    """

    stopped_at: datetime | None
    held_seconds: int
    reason: str
    message: str


def track_stop(stopped: bool, stopped_at: datetime | None, now: datetime) -> StopChange | None:
    """The change when ``stopped`` (``spec.replicas == 0``) disagrees with ``status.stoppedAt``, else None."""
    if stopped and stopped_at is None:
        return StopChange(
            stopped_at=now,
            held_seconds=0,
            reason=REASON_STOPPED,
            message="spec.replicas is 0: every color is scaled to 0 and nobody trades; rollouts and "
            "promotion wait until the bot is started again",
        )
    if not stopped and stopped_at is not None:
        return StopChange(
            stopped_at=None,
            held_seconds=max(int((now - stopped_at).total_seconds()), 0),
            reason=REASON_STARTED,
            message="spec.replicas is above 0 again: pods start and rollouts resume",
        )
    return None


def stopped_message(active: Color | None, epoch: int) -> str:
    """``status.message`` and the ``Available`` condition's message of a stopped TradingBot."""
    if active is None:
        return "Stopped: spec.replicas is 0, no pod runs"
    return (
        f"Stopped: spec.replicas is 0, no pod runs and nobody trades; {active} stays active (epoch {epoch})"
    )
