"""``TradingBot.spec.podTemplate``: pod-level settings applied to both colors' pods (part of the revision).

Each value is passed on to the Deployment's pod template in the API's own formats, so every rule here is
the API server's own validation of that format, written as a CEL rule the CRD carries (a bad value is
refused when the TradingBot is applied, not when the operator writes the Deployment).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictInt

from tradingbot_operator.model.common import (
    EMPTY_OBJECT_DEFAULT,
    INT_OR_STRING,
    PRESERVE_UNKNOWN,
    Checked,
    CrdModel,
    Rule,
    SchemaExtra,
    cel_matches,
)

DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
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

MAX_MAP_ENTRIES = 64

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
