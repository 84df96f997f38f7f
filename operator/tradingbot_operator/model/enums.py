"""Closed vocabularies of the TradingBot resource: colors, phases, rollout stages and results, conditions."""

from __future__ import annotations

from enum import StrEnum


class Color(StrEnum):
    """One of the two Deployments of a TradingBot (``<name>-blue``, ``<name>-green``)."""

    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        """The opposite color."""
        return Color.GREEN if self is Color.BLUE else Color.BLUE


class Phase(StrEnum):
    """``status.phase``: a display summary calculated by ``plan.phase.compute_phase``, never branched on."""

    PENDING = "Pending"  # no active color yet and no rollout running
    MIGRATING = "Migrating"  # the migration Job of the new revision runs
    PROGRESSING = "Progressing"  # the new color starts; not all replicas Ready yet
    BAKING = "Baking"  # all replicas Ready; waiting bakeSeconds without readiness loss or restarts
    AWAITING_PROMOTION = "AwaitingPromotion"  # baked; autoPromote is off, waiting for ploy.dev/promote
    VERIFYING = "Verifying"  # promoted; inside the post-promotion window, rollback still automatic
    HEALTHY = "Healthy"  # active color serves the desired revision and is Ready
    DEGRADED = "Degraded"  # the desired revision failed, or the active color is not Ready
    PAUSED = "Paused"  # spec.paused: no rollout progress
    STOPPED = "Stopped"  # spec.replicas 0: no pod runs, nobody trades, no rollout progress or promotion


class RolloutStage(StrEnum):
    """Where a rollout in progress stands (``RolloutProgress.stage``), derived from its timestamps.

    ``Starting``: the new color is starting (or its migration runs); not all replicas Ready yet.
    ``Baking``: all replicas Ready since ``readySince``; the bake runs. ``Baked``: ``bakedAt`` is set,
    the gate passed; promotion waits for ``autoPromote`` or ``ploy.dev/promote``. ``Verifying``:
    ``promotedAt`` is set; the new color is active and inside its post-promotion window.
    """

    STARTING = "Starting"
    BAKING = "Baking"
    BAKED = "Baked"
    VERIFYING = "Verifying"


class RolloutResult(StrEnum):
    """How a rollout ended (``status.lastRollout.result``)."""

    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"


class ConditionType(StrEnum):
    """The standard conditions the operator maintains."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
