"""Standard Kubernetes conditions (pure): set one, keeping ``lastTransitionTime`` when status is unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from tradingbot_operator.model import Condition, ConditionType

ConditionStatus = Literal["True", "False", "Unknown"]

# Order in which conditions are listed in status (stable, so an unchanged status compares equal).
ORDER = (ConditionType.AVAILABLE, ConditionType.PROGRESSING, ConditionType.DEGRADED, ConditionType.PAUSED)


def set_condition(
    conditions: Iterable[Condition],
    type_: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> tuple[Condition, ...]:
    """Return ``conditions`` with ``type_`` set; ``lastTransitionTime`` moves only when ``status`` changes.

    Reason and message may change without a transition (the ``metav1.Condition`` convention).
    The result is ordered by :data:`ORDER`, unknown types last in their previous order.
    """
    previous = {c.type: c for c in conditions}
    old = previous.get(type_.value)
    transition = old.last_transition_time if old is not None and old.status == status else now
    previous[type_.value] = Condition(
        type=type_.value,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    known = [previous[t.value] for t in ORDER if t.value in previous]
    rest = [c for key, c in previous.items() if key not in {t.value for t in ORDER}]
    return (*known, *rest)


def get_condition(conditions: Iterable[Condition], type_: ConditionType) -> Condition | None:
    """The condition of ``type_``, or None."""
    return next((c for c in conditions if c.type == type_.value), None)
