"""The metric analysis gate's models: ``spec.rollout.analysis`` and ``status.analysis``.

``spec.rollout.analysis`` lists PromQL queries the operator evaluates against the NEW color (module
``tradingbot_operator.analysis``) from the start of its bake to the end of its post-promotion window;
each has a success condition (``op`` and a decimal ``value``), an interval and a failure limit. A query
is a template: ``{{namespace}}``, ``{{name}}``, ``{{color}}`` and ``{{revision}}`` are replaced by the
TradingBot's namespace and name and the new color and revision; no other ``{{…}}`` is allowed. A query
must return one number (an instant vector of one sample, or a scalar); anything else, an unreachable
Prometheus, NaN or no series at all is *inconclusive*, and ``onInconclusive`` says what that does.

``status.analysis`` holds the last measurement of each query for the rollout in progress (or the
last one), so ``kubectl get -o yaml``, ``ploy status`` and ArgoCD show why a revision passed or failed.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from tradingbot_operator.model.common import Checked, CrdModel, Rule, cel_matches, cel_quote
from tradingbot_operator.model.enums import Color

PLACEHOLDERS = ("namespace", "name", "color", "revision")
MAX_QUERIES = 10
QUERY_NAME_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A threshold: an optionally signed decimal, e.g. "0.5", "-3", "100".
THRESHOLD_RE = r"^-?[0-9]+(\.[0-9]+)?$"
OPS = ("<", "<=", ">", ">=", "==", "!=")
Op = Literal["<", "<=", ">", ">=", "==", "!="]


def strip_placeholders(query: str) -> str:
    """``query`` without the allowed ``{{…}}`` placeholders (what is left must hold no ``{{`` or ``}}``)."""
    for key in PLACEHOLDERS:
        query = query.replace("{{" + key + "}}", "")
    return query


def _cel_strip_placeholders() -> str:
    expr = "self"
    for key in PLACEHOLDERS:
        expr = f"{expr}.replace({cel_quote('{{' + key + '}}')}, '')"
    return expr


def parse_threshold(text: str) -> Decimal | None:
    """``Decimal`` of a threshold string (``"0.5"``, ``"-3"``), else None."""
    if re.fullmatch(THRESHOLD_RE, text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None


class SuccessCondition(CrdModel):
    """``<measured value> <op> <value>`` must hold for a measurement to be successful."""

    op: Op = Field(description="Comparison of the measured value with value: <, <=, >, >=, == or !=.")
    value: Annotated[
        str,
        Field(max_length=40),
        Checked(
            Rule(
                cel=cel_matches(THRESHOLD_RE),
                message="analysis successCondition.value must be a decimal number written as a string, e.g. "
                '"0.5" or "-3" (quote it in YAML)',
                check=lambda v: parse_threshold(v) is not None,
            )
        ),
    ] = Field(description='The threshold, a decimal written as a string, e.g. "0.5".')

    def holds(self, measured: float) -> bool:
        """True when ``measured <op> value`` (``measured`` a finite float)."""
        threshold = float(self.value)
        return {
            "<": measured < threshold,
            "<=": measured <= threshold,
            ">": measured > threshold,
            ">=": measured >= threshold,
            "==": measured == threshold,
            "!=": measured != threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value}"


class OnInconclusive(StrEnum):
    """What an inconclusive measurement does: ``Wait`` holds the gate; ``Fail`` counts as a failure."""

    WAIT = "Wait"
    FAIL = "Fail"


class AnalysisQuery(CrdModel):
    """One PromQL query of the analysis gate, evaluated every ``intervalSeconds`` against the new color."""

    name: Annotated[
        str,
        Field(max_length=63),
        Checked(
            Rule(
                cel=cel_matches(QUERY_NAME_RE),
                message="analysis[].name must be lowercase letters, digits and '-', starting and ending with "
                "a letter or digit, e.g. market-data-age",
                check=lambda v: re.fullmatch(QUERY_NAME_RE, v) is not None,
            )
        ),
    ] = Field(description="Name of the query, unique in the list (shown in status and Events).")
    query: Annotated[
        str,
        Field(max_length=4096),
        Checked(
            Rule(
                cel="self.trim().size() > 0",
                message="analysis[].query must be a PromQL expression, not empty",
                check=lambda v: v.strip() != "",
            ),
            Rule(
                cel=f"!{_cel_strip_placeholders()}.contains('{{{{') && "
                f"!{_cel_strip_placeholders()}.contains('}}}}')",
                message="analysis[].query may use only the placeholders {{namespace}}, {{name}}, {{color}} "
                "and {{revision}} (no spaces inside the braces)",
                check=lambda v: "{{" not in strip_placeholders(v) and "}}" not in strip_placeholders(v),
            ),
        ),
    ] = Field(
        description="PromQL returning one number for the new color, e.g. "
        'max(ploy_market_data_age_seconds{namespace="{{namespace}}",color="{{color}}",'
        'revision="{{revision}}"}). Placeholders: {{namespace}}, {{name}}, {{color}}, {{revision}}; '
        "select the revision too: a previous rollout's pod of the same color keeps its last sample in "
        "Prometheus for minutes after it is gone."
    )
    success_condition: SuccessCondition = Field(
        alias="successCondition",
        description='The measured value must satisfy it, e.g. {op: "<=", value: "5"}.',
    )
    interval_seconds: StrictInt = Field(
        default=10,
        ge=1,
        le=3600,
        alias="intervalSeconds",
        description="Seconds between two measurements (1..3600).",
    )
    failure_limit: StrictInt = Field(
        default=0,
        ge=0,
        le=100,
        alias="failureLimit",
        description="Consecutive failed measurements tolerated; one more rolls back (0: the first does). "
        "A successful measurement resets the count.",
    )
    on_inconclusive: OnInconclusive = Field(
        default=OnInconclusive.WAIT,
        alias="onInconclusive",
        description="Prometheus unreachable, no series, NaN or more than one series: Wait holds the gate "
        "(the bake waits until the progress deadline; the window does not end) until a conclusive "
        "measurement; Fail counts it as a failed measurement.",
    )


AnalysisQueries = Annotated[
    tuple[AnalysisQuery, ...],
    Field(max_length=MAX_QUERIES),
    Checked(
        Rule(
            cel="self.all(q, self.exists_one(r, r.name == q.name))",
            message="analysis must not list the same query name twice",
            check=lambda v: len({q.name for q in v}) == len(v),
        )
    ),
]


# --- status -------------------------------------------------------------------------------------------


class MeasurementResult(StrEnum):
    """The result of one measurement."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class Measurement(CrdModel):
    """The last measurement of one analysis query, and the counts the gate decides on."""

    name: str = Field(max_length=63, description="Name of the query.")
    result: MeasurementResult = Field(description="Successful, Failed or Inconclusive.")
    value: str | None = Field(
        default=None, max_length=64, description="The measured value (absent when inconclusive)."
    )
    message: str = Field(default="", max_length=1024, description="What was measured, or why it failed.")
    measured_at: datetime = Field(alias="measuredAt", description="When it was measured (operator clock).")
    failures: int = Field(default=0, ge=0, description="Consecutive failed measurements.")
    count: int = Field(default=0, ge=0, description="Measurements of this query in this rollout.")


class AnalysisStatus(CrdModel):
    """The analysis of the rollout in progress (or of the last one): which color and revision, and the
    last measurement of each query."""

    revision: str = Field(max_length=64, description="Revision analysed.")
    color: Color = Field(description="Color analysed.")
    started_at: datetime = Field(alias="startedAt", description="startedAt of the rollout analysed.")
    measurements: Annotated[tuple[Measurement, ...], Field(max_length=MAX_QUERIES)] = Field(
        default=(), description="The last measurement of each query."
    )

    def of(self, name: str) -> Measurement | None:
        """The last measurement of query ``name``, if any."""
        return next((m for m in self.measurements if m.name == name), None)
