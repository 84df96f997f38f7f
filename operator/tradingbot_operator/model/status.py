"""``TradingBot.status`` as pydantic models: what the operator knows and the bots obey.

``activeColor`` + ``epoch`` are the single source of truth for which color may trade
(docs/ARCHITECTURE.md, "Status").
The timestamps the rollout gates need (``rollout.startedAt``, ``rollout.readySince``,
``rollout.promotedAt``, ...) are facts kept here so the operator can be killed at any point and resume
from the objects and status alone. ``phase`` is written for display only; the plan never reads it.
Times are UTC, whole seconds (RFC 3339 on the wire).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from tradingbot_operator.model.analysis import AnalysisStatus
from tradingbot_operator.model.common import CrdModel
from tradingbot_operator.model.enums import Color, Phase, RolloutResult, RolloutStage

Revision = Annotated[str, Field(max_length=64)]


class Condition(CrdModel):
    """A standard Kubernetes condition (``metav1.Condition`` shape)."""

    type: str = Field(
        max_length=316, description="Condition type: Available, Progressing, Degraded or Paused."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="One CamelCase word saying why.")
    message: str = Field(default="", max_length=32768, description="What happened, for people.")
    last_transition_time: datetime = Field(
        alias="lastTransitionTime", description="When status last changed (reason/message changes keep it)."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        alias="observedGeneration",
        description="metadata.generation this was computed from.",
    )


class RolloutProgress(CrdModel):
    """Facts about the rollout in progress: the new revision on the idle color, up to the window's end."""

    revision: Revision = Field(description="Revision being rolled out.")
    color: Color = Field(description="Color that runs the new revision.")
    generation: int = Field(ge=0, description="metadata.generation that asked for this revision.")
    started_at: datetime = Field(alias="startedAt", description="When the rollout started.")
    paused_seconds: int = Field(
        default=0,
        ge=0,
        alias="pausedSeconds",
        description="Seconds spent paused or stopped (replicas 0); they extend the deadline.",
    )
    migrated_at: datetime | None = Field(
        default=None,
        alias="migratedAt",
        description="When the migration Job succeeded (if migration is enabled).",
    )
    ready_since: datetime | None = Field(
        default=None,
        alias="readySince",
        description="Since when all new replicas are Ready (bake starts here).",
    )
    baked_at: datetime | None = Field(
        default=None,
        alias="bakedAt",
        description="When the gate passed (Ready for bakeSeconds, restarts in limit).",
    )
    promoted_at: datetime | None = Field(
        default=None,
        alias="promotedAt",
        description="When the new color became active (post-promotion window).",
    )
    previous_color: Color | None = Field(
        default=None, alias="previousColor", description="Active color before promotion; the rollback target."
    )
    previous_revision: Revision | None = Field(
        default=None, alias="previousRevision", description="Active revision before promotion."
    )

    @property
    def stage(self) -> RolloutStage:
        """The stage, from the latest timestamp set: promotedAt, bakedAt, readySince, else Starting.

        Promotion sets ``bakedAt`` too (a promote request skips the rest of the bake), so every later
        timestamp implies the earlier stages passed.
        """
        if self.promoted_at is not None:
            return RolloutStage.VERIFYING
        if self.baked_at is not None:
            return RolloutStage.BAKED
        if self.ready_since is not None:
            return RolloutStage.BAKING
        return RolloutStage.STARTING


class LastRollout(CrdModel):
    """How the most recent finished rollout ended."""

    revision: Revision = Field(description="Revision of that rollout.")
    result: RolloutResult = Field(description="Promoted, RolledBack, Aborted or Superseded.")
    reason: str = Field(max_length=1024, description="CamelCase reason, e.g. ProgressDeadlineExceeded.")
    message: str = Field(default="", max_length=32768, description="What happened, for people.")
    generation: int = Field(
        ge=0, description="metadata.generation when it finished (a failed revision waits for a newer one)."
    )
    started_at: datetime = Field(alias="startedAt", description="When it started.")
    finished_at: datetime = Field(alias="finishedAt", description="When it finished.")


class Standby(CrdModel):
    """The previous color, kept warm after a promotion for instant rollback until ``scaleDownAt``."""

    color: Color = Field(description="The warm previous color.")
    revision: Revision = Field(description="Revision it runs.")
    scale_down_at: datetime = Field(alias="scaleDownAt", description="When it is scaled to 0.")


class HandledActions(CrdModel):
    """Values of the manual-action annotations already acted on; a different value is a new request."""

    promote: str | None = Field(default=None, max_length=1024, description="Handled ploy.dev/promote value.")
    abort: str | None = Field(default=None, max_length=1024, description="Handled ploy.dev/abort value.")
    retry: str | None = Field(default=None, max_length=1024, description="Handled ploy.dev/retry value.")


class TradingBotStatus(CrdModel):
    """Observed state of a TradingBot, written by the operator only."""

    observed_generation: int | None = Field(
        default=None, ge=0, alias="observedGeneration", description="metadata.generation last acted on."
    )
    phase: Phase | None = Field(
        default=None, description="Calculated summary for display; never a stored state."
    )
    message: str | None = Field(default=None, max_length=32768, description="One line for people.")
    active_color: Color | None = Field(
        default=None,
        alias="activeColor",
        description="The color allowed to trade; absent before the first promotion.",
    )
    active_revision: Revision | None = Field(
        default=None, alias="activeRevision", description="Revision of the active color."
    )
    preview_revision: Revision | None = Field(
        default=None, alias="previewRevision", description="Revision of the standby color (new or previous)."
    )
    stable_revision: Revision | None = Field(
        default=None,
        alias="stableRevision",
        description="Last revision that passed its post-promotion window.",
    )
    epoch: int = Field(
        default=0,
        ge=0,
        description="Fencing token: +1 on every promotion and every rollback; never decreases.",
    )
    conditions: Annotated[
        tuple[Condition, ...],
        Field(
            max_length=16,
            json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        ),
    ] = Field(default=(), description="Available, Progressing, Degraded and Paused.")
    rollout: RolloutProgress | None = Field(default=None, description="The rollout in progress, if any.")
    last_rollout: LastRollout | None = Field(
        default=None, alias="lastRollout", description="The most recent finished rollout."
    )
    standby: Standby | None = Field(default=None, description="The warm previous color after a promotion.")
    paused_at: datetime | None = Field(
        default=None, alias="pausedAt", description="Since when spec.paused has been seen true."
    )
    stopped_at: datetime | None = Field(
        default=None,
        alias="stoppedAt",
        description="Since when spec.replicas has been seen 0 (Stopped: no pod runs, nobody trades).",
    )
    analysis: AnalysisStatus | None = Field(
        default=None, description="Last measurements of the metric analysis gate (spec.rollout.analysis)."
    )
    handled_actions: HandledActions = Field(
        default_factory=HandledActions,
        alias="handledActions",
        description="Manual-action annotation values already handled.",
    )

    def to_wire(self) -> dict[str, Any]:
        """The status as the JSON object to write (camelCase, absent fields omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
