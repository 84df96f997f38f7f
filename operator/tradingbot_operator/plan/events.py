"""What a plan pass committed, as typed facts (pure); each one is reported as one Kubernetes Event.

The reconciler applies :meth:`Transition.event` of each (first among the actions, after the status
write) and the metrics read the typed ones: :class:`RolloutEnded` (``ploy_operator_rollouts_total``,
the rollout duration) and :class:`RolledBack` (time to rollback), so nothing has to be inferred by
comparing the old and the new status.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradingbot_operator.actions import EmitEvent, EventType
from tradingbot_operator.model import Color, LastRollout


@dataclass(frozen=True)
class Transition:
    """A change the pass made (``reason`` CamelCase, ``message`` for people)."""

    type: EventType
    reason: str
    message: str

    def event(self) -> EmitEvent:
        """The Event that reports it on the TradingBot."""
        return EmitEvent(type=self.type, reason=self.reason, message=self.message)


@dataclass(frozen=True)
class RolloutEnded(Transition):
    """A rollout finished; ``last`` is the ``status.lastRollout`` the pass wrote for it."""

    last: LastRollout


@dataclass(frozen=True)
class RolledBack(RolloutEnded):
    """A rollback after promotion: ``failed`` (the color that was active) gave the role back."""

    failed: Color
