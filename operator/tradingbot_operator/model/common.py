"""Building blocks of the TradingBot models: validation rules written once, enforced twice.

A :class:`Rule` carries a CEL expression (for the CRD's ``x-kubernetes-validations``, enforced by the
API server) and the same check as a Python predicate (enforced when the operator parses a spec), with
one message for both. A rule on a field is attached with ``Annotated[T, Checked(rule, ...)]``; a rule
on an object is listed in the model's ``cel_rules`` class variable. ``crd.py`` turns the pydantic JSON
schema into the CRD schema; the rules arrive there through ``__get_pydantic_json_schema__``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# Extension keys of the Kubernetes structural schema (apiextensions.k8s.io/v1).
VALIDATIONS = "x-kubernetes-validations"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"


@dataclass(frozen=True)
class Rule:
    """One validation rule: ``cel`` for the API server, ``check`` for Python, one ``message`` for people.

    ``check`` receives the validated Python value (a model instance for object rules, the field value
    for field rules) and returns True when the value is valid. ``field_path`` is the CEL ``fieldPath``
    (e.g. ``".bakeSeconds"``) the API server reports the error against.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry of this rule."""
        entry = {"rule": self.cel, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry

    def enforce(self, value: Any) -> None:
        """Raise ``PydanticCustomError`` with this rule's message when ``check(value)`` is false."""
        if not self.check(value):
            raise PydanticCustomError("cel_rule", self.message)


@dataclass(frozen=True)
class Checked:
    """``Annotated`` marker: field rules, checked in Python and written into the schema."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", rules)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def run(value: Any) -> Any:
            for rule in self.rules:
                rule.enforce(value)
            return value

        return core_schema.no_info_after_validator_function(run, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault(VALIDATIONS, []).extend(rule.to_schema() for rule in self.rules)
        return json_schema


@dataclass(frozen=True)
class SchemaExtra:
    """``Annotated`` marker: replace a field's JSON schema by ``schema`` (e.g. int-or-string)."""

    schema: dict[str, Any]

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return dict(self.schema)


class CrdModel(BaseModel):
    """Base of every TradingBot model: frozen, camelCase on the wire, unknown keys rejected.

    Subclasses list object-level rules in ``cel_rules``; they run after field validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    cel_rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _run_cel_rules(self) -> CrdModel:
        for rule in type(self).cel_rules:
            rule.enforce(self)
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        rules = cls.__dict__.get("cel_rules", ())
        if rules:
            target[VALIDATIONS] = [rule.to_schema() for rule in rules]
        return json_schema


def cel_quote(text: str) -> str:
    """``text`` as a single-quoted CEL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_matches(regex: str, subject: str = "self") -> str:
    """CEL ``subject.matches(regex)``; ``regex`` must be anchored (CEL's RE2 match is a search)."""
    return f"{subject}.matches({cel_quote(regex)})"


# --- decimals written as strings --------------------------------------------------------------------
# CEL has no decimal type, so ranges are checked on the text: the patterns below are the whole syntax.
DECIMAL_RE = r"^[0-9]+(\.[0-9]+)?$"
UNIT_INTERVAL_RE = r"^0(\.[0-9]+)?$"
ZERO_RE = r"^0+(\.0+)?$"


def parse_decimal(text: str) -> Decimal | None:
    """``Decimal`` of ``text`` when it is a plain non-negative decimal (``"0.01"``, ``"50"``), else None."""
    if not re.fullmatch(DECIMAL_RE, text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None


def decimal_rules(field: str, *, unit_interval: bool = False, positive: bool = False) -> Checked:
    """Rules for a decimal written as a string: syntax, then ``[0, 1)`` or ``> 0`` when asked.

    ``field`` names the field in messages (e.g. ``"strategy.minEdge"``).
    """
    rules = [
        Rule(
            cel=cel_matches(DECIMAL_RE),
            message=f'{field} must be a non-negative decimal written as a string, e.g. "0.01"',
            check=lambda v: parse_decimal(v) is not None,
        )
    ]
    if unit_interval:
        rules.append(
            Rule(
                cel=f"!{cel_matches(DECIMAL_RE)} || {cel_matches(UNIT_INTERVAL_RE)}",
                message=f"{field} must be at least 0 and below 1",
                check=lambda v: (d := parse_decimal(v)) is None or d < 1,
            )
        )
    if positive:
        rules.append(
            Rule(
                cel=f"!{cel_matches(ZERO_RE)}",
                message=f"{field} must be greater than 0",
                check=lambda v: (d := parse_decimal(v)) is None or d > 0,
            )
        )
    return Checked(*rules)
