"""The summary of the new status (pure): phase, conditions, message, ``previewRevision``.

The phase is *calculated* every pass from the spec, the new status and the active color's health, the
way argo-rollouts' ``CalculateRolloutPhase`` does, and written to ``status.phase`` for display; no
code path branches on a stored phase.
"""

from __future__ import annotations

from tradingbot_operator.conditions import ConditionStatus, set_condition
from tradingbot_operator.health import ColorHealth
from tradingbot_operator.model import ConditionType, Phase, RolloutStage, TradingBotSpec, TradingBotStatus
from tradingbot_operator.plan.context import REASON_CHILD_REJECTED, Pass, migration_pending, preview
from tradingbot_operator.stopping import stopped_message

# The phase of a rollout in progress by its stage (a pending migration shows as Migrating first).
STAGE_PHASES = {
    RolloutStage.STARTING: Phase.PROGRESSING,
    RolloutStage.BAKING: Phase.BAKING,
    RolloutStage.BAKED: Phase.AWAITING_PROMOTION,
    RolloutStage.VERIFYING: Phase.VERIFYING,
}


def compute_phase(
    spec: TradingBotSpec, status: TradingBotStatus, active: ColorHealth | None, *, failed: bool
) -> Phase:
    """The phase for display.

    ``spec`` and ``status`` are the TradingBot's (the status as this pass writes it); ``active`` is the
    health of the active color running ``activeRevision`` (None without one); ``failed``: the desired
    revision failed and waits for a spec change or ``ploy.dev/retry``. Order: ``Stopped``
    (``replicas`` 0), ``Paused``, the rollout's stage (``Migrating`` while its migration Job has not
    succeeded), then ``Degraded`` (failed, or the active color not Ready), ``Healthy``, ``Pending``.
    """
    if spec.replicas == 0:
        return Phase.STOPPED
    if spec.paused:
        return Phase.PAUSED
    rollout = status.rollout
    if rollout is not None:
        if migration_pending(spec, rollout):
            return Phase.MIGRATING
        return STAGE_PHASES[rollout.stage]
    active_ready = active is not None and active.available
    if failed or (status.active_color is not None and not active_ready):
        return Phase.DEGRADED
    if status.active_color is not None:
        return Phase.HEALTHY
    return Phase.PENDING


def summarise(p: Pass) -> None:
    """Write the summary fields of ``p.status``: observedGeneration, phase, message, conditions,
    previewRevision."""
    s = p.status
    generation = p.observed.generation
    active = s.active_color
    active_health = p.health(active, s.active_revision) if active is not None and s.active_revision else None
    active_ready = active_health is not None and active_health.available
    failed = p.blocked()
    phase = compute_phase(p.spec, s, active_health, failed=failed)
    conditions = s.conditions
    for type_, status, reason, message in _condition_values(p, phase.value, failed, active_ready):
        conditions = set_condition(conditions, type_, status, reason, message, p.now, generation)
    previewed = preview(s)
    message = _message(p, phase.value, failed)
    if p.observed.child_rejected is not None:
        message = f"{message}; {REASON_CHILD_REJECTED}: {p.observed.child_rejected}"
    p.update(
        observed_generation=generation,
        phase=phase,
        message=message,
        conditions=conditions,
        preview_revision=previewed[1] if previewed is not None else None,
    )


def _condition_values(
    p: Pass, phase: str, failed: bool, active_ready: bool
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


def _message(p: Pass, phase: str, failed: bool) -> str:
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
