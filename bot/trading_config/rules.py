"""Validation rules written once, enforced twice, and the base model of everything a CRD schema is made of.

A :class:`Rule` carries a CEL expression (for the CRD's ``x-kubernetes-validations``, enforced by the
API server) and the same check as a Python predicate (enforced when a model is parsed: by the operator
for a spec, by the bot for its config file), with one message for both. A rule on a field is attached
with ``Annotated[T, Checked(rule, ...)]``; a rule on an object is listed in the model's ``cel_rules``
class variable. ``tradingbot_operator.crd`` turns the pydantic JSON schema into the CRD schema; the rules
arrive there through ``__get_pydantic_json_schema__``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# Extension key of the Kubernetes structural schema (apiextensions.k8s.io/v1).
VALIDATIONS = "x-kubernetes-validations"
# Our own extension key: plain JSON Schema equivalents of rules, for schemas that have no CEL.
PLAIN_JSON_SCHEMA = "x-ploy-json-schema"


@dataclass(frozen=True)
class Rule:
    """One validation rule: ``cel`` for the API server, ``check`` for Python, one ``message`` for people.

    ``check`` receives the validated Python value (a model instance for object rules, the field value
    for field rules) and returns True when the value is valid. ``field_path`` is the CEL ``fieldPath``
    (e.g. ``".bakeSeconds"``) the API server reports the error against. ``json_schema`` is the same
    check in plain JSON Schema keywords where it has one (``{"pattern": ...}``), for schemas without CEL
    such as the tradingbot chart's ``values.schema.json``; the CRD keeps the CEL rule alone.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    json_schema: Mapping[str, Any] | None = None

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
        add_rules(json_schema, self.rules)
        return json_schema


def add_rules(json_schema: dict[str, Any], rules: tuple[Rule, ...]) -> None:
    """Write ``rules`` into one JSON-schema node: their CEL under ``x-kubernetes-validations``, their plain
    JSON Schema equivalents (if any) under ``x-ploy-json-schema`` (which the CRD generator drops)."""
    json_schema.setdefault(VALIDATIONS, []).extend(rule.to_schema() for rule in rules)
    for rule in rules:
        if rule.json_schema:
            json_schema.setdefault(PLAIN_JSON_SCHEMA, {}).update(rule.json_schema)


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
