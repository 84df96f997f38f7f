"""``TradingBot.spec`` as pydantic models: the one source of the CRD's spec schema.

Field names are snake_case in Python and camelCase on the wire (aliases). Every field has a
description (``kubectl explain tradingbot.spec...``); every rule the API server can check statically
is a :class:`~tradingbot_operator.model.common.Rule` and therefore also checked when the operator
parses a spec. The ``trading`` block mirrors the bot's config model (``tradingbot.config.model``):
the operator renders it unchanged into the bot's config file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, StrictBool, StrictInt

from tradingbot_operator.model.analysis import AnalysisQueries
from tradingbot_operator.model.common import (
    INT_OR_STRING,
    PRESERVE_UNKNOWN,
    Checked,
    CrdModel,
    Rule,
    SchemaExtra,
    cel_matches,
    decimal_rules,
)
from tradingbot_operator.model.feed import FeedSpec

# Object defaults must be written into the schema explicitly: the API server only applies the
# defaults of nested fields when the parent object exists. `default: {}` makes it exist; objects with
# CEL rules get their full default instead, because the API server checks a default against the rules
# before nested defaults apply.
EMPTY_OBJECT_DEFAULT: dict[str, Any] = {"default": {}}


def full_default(model: type[CrdModel]) -> dict[str, Any]:
    """``json_schema_extra`` giving ``model()`` (all defaults, camelCase) as the schema default."""
    return {"default": model().model_dump(mode="json", by_alias=True, exclude_none=True)}


DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_RE = r"^[-._a-zA-Z0-9]+$"
CONDITION_ID_RE = r"^0x[0-9a-fA-F]{64}$"
IMAGE_CHARS_RE = r"^[^\s]+$"
IMAGE_REFERENCE_RE = r"^.+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$"
LABEL_VALUE_RE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A qualified name (label, annotation, nodeSelector and toleration keys), as the API validates it:
# an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters.
QUALIFIED_NAME_RE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
MAX_QUALIFIED_NAME = 253 + 1 + 63

# Labels the operator sets on every pod; a user value would break Service selectors and bookkeeping.
RESERVED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "ploy.dev/tradingbot",
    "ploy.dev/color",
    "ploy.dev/revision",
)

MAX_REPLICAS = 1
MAX_MARKETS = 50
MAX_MAP_ENTRIES = 64


# --- trading -----------------------------------------------------------------------------------------


class MarketSpec(CrdModel):
    """One Polymarket binary market: its condition id and its two outcome token ids, YES first then NO."""

    condition_id: Annotated[
        str,
        Field(max_length=66),
        Checked(
            Rule(
                cel=cel_matches(CONDITION_ID_RE),
                message="conditionId must be 0x followed by 64 hex digits (the Polymarket condition id)",
                check=lambda v: re.fullmatch(CONDITION_ID_RE, v) is not None,
            )
        ),
    ] = Field(
        alias="conditionId",
        description="Polymarket condition id of the market: 0x followed by 64 hex digits.",
    )
    tokens: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=100)], ...],
        Checked(
            Rule(
                cel="self.size() == 2",
                message="tokens must list exactly 2 token ids: the YES token, then the NO token",
                check=lambda v: len(v) == 2,
            ),
            Rule(
                cel="self.size() != 2 || self[0] != self[1]",
                message="the YES and NO token ids must differ",
                check=lambda v: len(v) != 2 or v[0] != v[1],
            ),
        ),
    ] = Field(description="The market's two outcome token (asset) ids, YES first, then NO.")
    fee_rate: Annotated[str, Field(max_length=40), decimal_rules("feeRate", unit_interval=True)] = Field(
        default="0",
        alias="feeRate",
        description='Taker fee rate, a decimal string in [0, 1), e.g. "0.02"; "0" for a fee-free market.',
    )


class StrategySpec(CrdModel):
    """The trading strategy and its parameters."""

    name: Literal["complete-set-arbitrage"] = Field(
        default="complete-set-arbitrage",
        description="Strategy. complete-set-arbitrage buys YES and NO when their asks sum below 1 - minEdge.",
    )
    min_edge: Annotated[str, Field(max_length=40), decimal_rules("strategy.minEdge", unit_interval=True)] = (
        Field(
            alias="minEdge",
            description='Minimum edge in USD per complete set, a decimal string in [0, 1), e.g. "0.01".',
        )
    )
    max_order_size: Annotated[
        str, Field(max_length=40), decimal_rules("strategy.maxOrderSize", positive=True)
    ] = Field(
        alias="maxOrderSize",
        description='Largest order per leg in shares, a decimal string greater than 0, e.g. "50".',
    )


class RiskSpec(CrdModel):
    """Risk limits checked before every order."""

    max_exposure_usd: Annotated[str, Field(max_length=40), decimal_rules("risk.maxExposureUsd")] = Field(
        alias="maxExposureUsd",
        description='Largest total open exposure in USD, a non-negative decimal string, e.g. "500".',
    )
    max_daily_loss_usd: Annotated[str, Field(max_length=40), decimal_rules("risk.maxDailyLossUsd")] = Field(
        alias="maxDailyLossUsd",
        description="Loss in USD per UTC day after which no order is placed, a non-negative decimal string.",
    )
    kill_switch: StrictBool = Field(
        default=False,
        alias="killSwitch",
        description="true blocks every new order; open orders are left alone.",
    )
    max_data_age_seconds: StrictInt = Field(
        default=30,
        ge=1,
        le=3600,
        alias="maxDataAgeSeconds",
        description="Market data older than this many seconds blocks orders and fails readiness (1..3600).",
    )


class TradingSpec(CrdModel):
    """What the bot trades and how; rendered unchanged (camelCase) into the bot's config file."""

    mode: Annotated[
        str,
        Field(max_length=16),
        Checked(
            Rule(
                cel="self == 'paper'",
                message='trading.mode must be "paper": live trading is not supported',
                check=lambda v: v == "paper",
            )
        ),
    ] = Field(
        default="paper", description='Execution mode. Only "paper" (simulated fills against the live book).'
    )
    markets: Annotated[
        tuple[MarketSpec, ...],
        Field(max_length=MAX_MARKETS),
        Checked(
            Rule(
                cel="self.size() > 0",
                message="trading.markets must list at least one market",
                check=lambda v: len(v) > 0,
            ),
            Rule(
                cel="self.all(m, self.exists_one(n, n.conditionId == m.conditionId))",
                message="trading.markets must not list the same conditionId twice",
                check=lambda v: len({m.condition_id for m in v}) == len(v),
            ),
        ),
    ] = Field(description=f"Markets to trade (1..{MAX_MARKETS}), each with exactly two outcome tokens.")
    strategy: StrategySpec = Field(description="Strategy and its parameters.")
    risk: RiskSpec = Field(description="Risk limits checked before every order.")


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


# --- pod template ------------------------------------------------------------------------------------

# A non-negative Kubernetes quantity (k8s.io/apimachinery resource.Quantity): number + optional suffix.
QUANTITY_RE = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"

Quantity = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    SchemaExtra(
        {
            INT_OR_STRING: True,
            "maxLength": 64,
            "description": "A Kubernetes quantity such as 500m, 1 or 256Mi.",
        }
    ),
    Checked(
        Rule(
            cel="isQuantity(string(self)) && !quantity(string(self)).isLessThan(quantity('0'))",
            message="podTemplate.resources values must be Kubernetes quantities such as 500m, 1 or 256Mi",
            check=lambda v: re.fullmatch(QUANTITY_RE, v) is not None,
        )
    ),
]
QuantityMap = Annotated[dict[str, Quantity], Field(max_length=MAX_MAP_ENTRIES)]


class ResourceRequirements(CrdModel):
    """CPU and memory for the bot container, as in a Pod's ``resources``."""

    limits: QuantityMap = Field(
        default_factory=dict, description='Resource limits, e.g. {"cpu": "500m", "memory": "256Mi"}.'
    )
    requests: QuantityMap = Field(
        default_factory=dict, description='Resource requests, e.g. {"cpu": "100m", "memory": "128Mi"}.'
    )


class Toleration(CrdModel):
    """A Pod toleration, as in a Pod's ``tolerations``."""

    key: Annotated[
        str | None,
        Field(max_length=MAX_QUALIFIED_NAME),
        Checked(
            Rule(
                cel=f"self == '' || (self.lastIndexOf('/') <= 253 && {cel_matches(QUALIFIED_NAME_RE)})",
                message="tolerations[].key must be a qualified name like example.com/my-key (no spaces)",
                check=lambda v: not v or qualified_name_ok(v),
            )
        ),
    ] = Field(default=None, description="Taint key (a qualified name); empty with Exists matches all.")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: str | None = Field(default=None, max_length=63, description="Taint value for Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; empty tolerates all effects."
    )
    toleration_seconds: StrictInt | None = Field(
        default=None,
        alias="tolerationSeconds",
        description="For NoExecute: seconds the pod stays bound after the taint appears.",
    )


def qualified_name_ok(key: str) -> bool:
    """True when ``key`` is a Kubernetes qualified name (prefix at most 253 characters, name at most 63)."""
    prefix, _, _ = key.rpartition("/")
    return (
        len(key) <= MAX_QUALIFIED_NAME
        and len(prefix) <= 253
        and re.fullmatch(QUALIFIED_NAME_RE, key) is not None
    )


def qualified_keys(what: str) -> Rule:
    """Rule: every key of a map is a qualified name; ``what`` names the map in the message."""
    return Rule(
        cel=f"self.all(k, k.size() <= {MAX_QUALIFIED_NAME} && k.lastIndexOf('/') <= 253 && "
        f"{cel_matches(QUALIFIED_NAME_RE, 'k')})",
        message=f"{what} keys must be qualified names like example.com/my-key or my-key: an optional DNS "
        "subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
        "letter or digit (no spaces)",
        check=lambda m: all(qualified_name_ok(k) for k in m),
    )


def label_values(what: str) -> Rule:
    """Rule: every value of a map is a valid label value; ``what`` names the map in the message."""
    return Rule(
        cel=f"self.all(k, {cel_matches(LABEL_VALUE_RE, 'self[k]')})",
        message=f"{what} values must be at most 63 letters, digits, '-', '_' or '.', starting and ending "
        "with a letter or digit",
        check=_label_values_valid,
    )


def _labels_unreserved(labels: dict[str, str]) -> bool:
    return not any(key in labels for key in RESERVED_LABELS)


def _label_values_valid(labels: dict[str, str]) -> bool:
    return all(len(v) <= 63 and re.fullmatch(LABEL_VALUE_RE, v) for v in labels.values())


_RESERVED_CEL = "[" + ", ".join(f"'{key}'" for key in RESERVED_LABELS) + "]"

LabelMap = Annotated[
    dict[str, Annotated[str, Field(max_length=63)]],
    Field(max_length=MAX_MAP_ENTRIES),
    Checked(
        Rule(
            cel=f"{_RESERVED_CEL}.all(k, !(k in self))",
            message="podTemplate.labels must not set the labels the operator manages: "
            + ", ".join(RESERVED_LABELS),
            check=_labels_unreserved,
        ),
        qualified_keys("podTemplate.labels"),
        label_values("podTemplate.labels"),
    ),
]


class PodTemplateSpec(CrdModel):
    """Pod-level settings applied to both colors' pods (part of the revision)."""

    resources: Annotated[ResourceRequirements, Field(json_schema_extra=EMPTY_OBJECT_DEFAULT)] = Field(
        default_factory=ResourceRequirements,
        description="CPU and memory requests and limits of the bot container.",
    )
    node_selector: Annotated[
        dict[str, Annotated[str, Field(max_length=63)]],
        Field(max_length=MAX_MAP_ENTRIES),
        Checked(qualified_keys("podTemplate.nodeSelector"), label_values("podTemplate.nodeSelector")),
    ] = Field(
        default_factory=dict,
        alias="nodeSelector",
        description="Node labels the pods must match: qualified-name keys, label values.",
    )
    tolerations: Annotated[tuple[Toleration, ...], Field(max_length=32)] = Field(
        default=(), description="Taints the pods tolerate."
    )
    affinity: Annotated[
        dict[str, Any],
        SchemaExtra(
            {
                "type": "object",
                PRESERVE_UNKNOWN: True,
                "description": "Pod affinity, as in a Pod's spec.affinity (passed through unchanged).",
            }
        ),
    ] = Field(default_factory=dict, description="Pod affinity, as in a Pod's spec.affinity.")
    annotations: Annotated[
        dict[str, Annotated[str, Field(max_length=4096)]],
        Field(max_length=MAX_MAP_ENTRIES),
        Checked(qualified_keys("podTemplate.annotations")),
    ] = Field(default_factory=dict, description="Extra annotations on the pods (qualified-name keys).")
    labels: LabelMap = Field(
        default_factory=dict,
        description="Extra labels on the pods; the operator's own labels (ploy.dev/*, app.kubernetes.io/*) "
        "are reserved.",
    )
    service_account_name: Annotated[
        str | None,
        Field(max_length=253),
        Checked(
            Rule(
                cel=cel_matches(DNS_SUBDOMAIN_RE),
                message="podTemplate.serviceAccountName must be a ServiceAccount name: lowercase letters, "
                "digits, '-' and '.', starting and ending with a letter or digit (no spaces)",
                check=lambda v: v is None or re.fullmatch(DNS_SUBDOMAIN_RE, v) is not None,
            )
        ),
    ] = Field(
        default=None,
        alias="serviceAccountName",
        description="ServiceAccount of the pods (a DNS subdomain name); it needs get/watch on its "
        "TradingBot.",
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
