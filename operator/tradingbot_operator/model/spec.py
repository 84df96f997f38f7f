"""``TradingBot.spec`` as pydantic models: the one source of the CRD's spec schema.

Field names are snake_case in Python and camelCase on the wire (aliases). Every field has a
description (``kubectl explain tradingbot.spec...``); every rule the API server can check statically
is a :class:`~tradingbot_operator.model.common.Rule` and therefore also checked when the operator
parses a spec. The ``trading`` block is the trading-config contract (:mod:`trading_config`), which the
bot reads too: the operator renders it unchanged into the bot's config file. The pod template is in
:mod:`.pod_template`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import Field, StrictBool, StrictInt

from trading_config import TradingSpec
from tradingbot_operator.model.analysis import AnalysisQueries
from tradingbot_operator.model.common import EMPTY_OBJECT_DEFAULT, Checked, CrdModel, Rule, cel_matches
from tradingbot_operator.model.feed import FeedSpec
from tradingbot_operator.model.pod_template import DNS_SUBDOMAIN_RE, PodTemplateSpec


def full_default(model: type[CrdModel]) -> dict[str, Any]:
    """``json_schema_extra`` giving ``model()`` (all defaults, camelCase) as the schema default."""
    return {"default": model().model_dump(mode="json", by_alias=True, exclude_none=True)}


SECRET_KEY_RE = r"^[-._a-zA-Z0-9]+$"
IMAGE_CHARS_RE = r"^[^\s]+$"
IMAGE_REFERENCE_RE = r"^.+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$"
MAX_REPLICAS = 1


# --- database ----------------------------------------------------------------------------------------


class SecretKeyRef(CrdModel):
    """A key of a Secret in the TradingBot's namespace."""

    name: Annotated[
        str,
        Field(max_length=253),
        Checked(
            Rule(
                cel=cel_matches(DNS_SUBDOMAIN_RE),
                message="secretRef.name must be a Secret name: lowercase letters, digits, '-' and '.'",
                check=lambda v: re.fullmatch(DNS_SUBDOMAIN_RE, v) is not None,
            )
        ),
    ] = Field(description="Name of the Secret.")
    key: Annotated[
        str,
        Field(max_length=253),
        Checked(
            Rule(
                cel=cel_matches(SECRET_KEY_RE),
                message="secretRef.key must be a Secret key: letters, digits, '-', '_' and '.'",
                check=lambda v: re.fullmatch(SECRET_KEY_RE, v) is not None,
            )
        ),
    ] = Field(default="url", description="Key in the Secret whose value is the PostgreSQL URL.")


class DatabaseSpec(CrdModel):
    """Where the bot's PostgreSQL lives: only by reference to a Secret, never a literal credential."""

    secret_ref: SecretKeyRef = Field(
        alias="secretRef",
        description="Secret key holding the PostgreSQL URL; passed to the bot as PLOY_DATABASE_URL.",
    )
    url: Annotated[
        str | None,
        Field(max_length=4096),
        Checked(
            # A field that may never be set: declared only so the API server can say why it is refused
            # (an undeclared field would be pruned or refused as "unknown field", with no hint at secretRef).
            Rule(
                cel="false",
                message="database.url is not accepted: put the URL into a Secret and reference it with "
                "database.secretRef",
                check=lambda v: v is None,
            )
        ),
    ] = Field(
        default=None,
        description="Not accepted: a literal URL would put a credential into the resource. Use secretRef.",
    )


# --- rollout -----------------------------------------------------------------------------------------


class MigrationSpec(CrdModel):
    """Database migration Job run with the new revision's image before its pods start."""

    enabled: StrictBool = Field(
        default=False, description="Run the migration Job before the new color starts."
    )
    args: Annotated[tuple[Annotated[str, Field(max_length=1024)], ...], Field(max_length=32)] = Field(
        default=("migrate",),
        description="Arguments to the image's ploy-bot command for the migration Job.",
    )

    cel_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!self.enabled || self.args.size() > 0",
            message="rollout.migration.args must not be empty when the migration is enabled",
            check=lambda m: not m.enabled or len(m.args) > 0,
            field_path=".args",
        ),
    )


class RolloutSpec(CrdModel):
    """How a new revision is started, gated, promoted and, if it misbehaves, rolled back."""

    auto_promote: StrictBool = Field(
        default=True,
        alias="autoPromote",
        description="Promote as soon as the gate passes; false waits for the ploy.dev/promote annotation.",
    )
    bake_seconds: StrictInt = Field(
        default=30,
        ge=0,
        le=86400,
        alias="bakeSeconds",
        description="Seconds the new color must stay Ready, with at most maxRestarts restarts, to pass.",
    )
    max_restarts: StrictInt = Field(
        default=0,
        ge=0,
        le=100,
        alias="maxRestarts",
        description="Container restarts of the new color tolerated before it is rolled back (crash loop).",
    )
    progress_deadline_seconds: StrictInt = Field(
        default=300,
        ge=1,
        le=86400,
        alias="progressDeadlineSeconds",
        description="Seconds from the rollout's start by which the new color must be Ready and baked, "
        "else it is rolled back. Must exceed bakeSeconds.",
    )
    post_promotion_seconds: StrictInt = Field(
        default=60,
        ge=0,
        le=86400,
        alias="postPromotionSeconds",
        description="Seconds after the switch during which readiness loss or restarts of the new active "
        "color roll back to the previous color.",
    )
    scale_down_delay_seconds: StrictInt = Field(
        default=300,
        ge=0,
        le=604800,
        alias="scaleDownDelaySeconds",
        description="Seconds the previous color stays warm after the switch, for instant rollback; then it "
        "is scaled to 0 (its Deployment is kept). Must be at least postPromotionSeconds.",
    )
    migration: Annotated[MigrationSpec, Field(json_schema_extra=full_default(MigrationSpec))] = Field(
        default_factory=MigrationSpec,
        description="Optional database migration Job before the new color starts.",
    )
    analysis: AnalysisQueries = Field(
        default=(),
        description="Metric analysis gate (model/analysis.py): PromQL queries evaluated against the new "
        "color from its bake to the end of its post-promotion window; a failed one rolls back "
        "(AnalysisFailed). Needs the operator's Prometheus address (--prometheus-url).",
    )

    cel_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="self.bakeSeconds < self.progressDeadlineSeconds",
            message="rollout.bakeSeconds must be less than rollout.progressDeadlineSeconds, or no rollout "
            "could ever pass its gate",
            check=lambda r: r.bake_seconds < r.progress_deadline_seconds,
            field_path=".bakeSeconds",
        ),
        Rule(
            cel="self.scaleDownDelaySeconds >= self.postPromotionSeconds",
            message="rollout.scaleDownDelaySeconds must be at least rollout.postPromotionSeconds: the "
            "previous color must stay warm for the whole post-promotion window",
            check=lambda r: r.scale_down_delay_seconds >= r.post_promotion_seconds,
            field_path=".scaleDownDelaySeconds",
        ),
    )


# --- spec --------------------------------------------------------------------------------------------


class TradingBotSpec(CrdModel):
    """Desired state of a TradingBot: what to run, how to trade, and how to roll out changes."""

    image: Annotated[
        str,
        Field(max_length=512),
        Checked(
            Rule(
                cel=cel_matches(IMAGE_CHARS_RE),
                message="spec.image must be a non-empty image reference without spaces",
                check=lambda v: re.fullmatch(IMAGE_CHARS_RE, v) is not None,
            ),
            Rule(
                cel=cel_matches(IMAGE_REFERENCE_RE),
                message="spec.image must name a tag or a digest, e.g. registry.example/ploy-bot:1.4.0",
                check=lambda v: re.fullmatch(IMAGE_REFERENCE_RE, v) is not None,
            ),
            Rule(
                cel="!self.endsWith(':latest')",
                message='spec.image must not use the tag "latest": a revision must name one fixed build',
                check=lambda v: not v.endswith(":latest"),
            ),
        ),
    ] = Field(description="Container image of the bot, with a tag or digest (not :latest).")
    replicas: StrictInt = Field(
        default=1,
        ge=0,
        le=MAX_REPLICAS,
        description=f"Pods per color (0..{MAX_REPLICAS}). A trading bot is a singleton: two pods of the "
        "active color would both trade. 0 stops the bot: phase Stopped, every color scaled to 0 so nobody "
        "trades, activeColor and epoch kept, no rollout progresses and nothing is promoted (a color is "
        "promoted only with at least one Ready pod). Not part of the revision: scaled in place.",
    )
    paused: StrictBool = Field(
        default=False,
        description="true stops rollout progress: no new rollout, promotion or scale-down; safety rollbacks "
        "still happen.",
    )
    trading: TradingSpec = Field(description="Trading configuration, rendered into the bot's config file.")
    feed: FeedSpec | None = Field(
        default=None,
        description="Market data: the recorded replay in the image (the default when absent) or Polymarket's "
        "live WebSocket market channel; rendered into the bot's config file, part of the revision.",
    )
    database: DatabaseSpec = Field(description="PostgreSQL connection, by Secret reference only.")
    rollout: Annotated[RolloutSpec, Field(json_schema_extra=full_default(RolloutSpec))] = Field(
        default_factory=RolloutSpec, description="Blue-green rollout settings."
    )
    pod_template: Annotated[PodTemplateSpec, Field(json_schema_extra=EMPTY_OBJECT_DEFAULT)] = Field(
        default_factory=PodTemplateSpec,
        alias="podTemplate",
        description="Pod settings (resources, scheduling, extra labels, annotations); part of the revision.",
    )
