"""Decimals written as strings (``"0.01"``): prices, sizes and USD amounts of the trading config.

On the wire (the TradingBot spec, the bot's config file) a decimal is a string, so no value passes
through a binary float; in Python it is a ``Decimal``. CEL has no decimal type, so the API server checks
the text: the patterns below are the whole syntax, and every range rule has a CEL form on the text and a
Python form on the parsed value, with one message (:class:`~trading_config.rules.Rule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from trading_config.rules import Rule, add_rules, cel_matches

DECIMAL_RE = r"^[0-9]+(\.[0-9]+)?$"
UNIT_INTERVAL_RE = r"^0(\.[0-9]+)?$"
ZERO_RE = r"^0+(\.0+)?$"
MAX_DECIMAL_LENGTH = 40

MAX_DECIMAL_MAGNITUDE_DIGITS = 12
"""Config decimals are below 10**12: no price, share count or USD limit of a paper bot comes near it,
and together with ``MAX_DECIMAL_PLACES`` every value keeps at most 24 significant digits, inside the 28
of Python's default decimal context, so arithmetic on it stays exact."""

MAX_DECIMAL_PLACES = 12
"""Config decimals have at most 12 digits after the point (trailing zeros aside). The recorded books in
``shared/data/polymarket`` carry at most 3 decimals in prices and 2 in sizes, and USDC has 6, so more
than 12 is a typo, not a limit."""

# At most 12 significant integer digits (leading zeros aside) and 12 decimal places (trailing zeros aside).
BOUNDED_RE = r"^0*[0-9]{1,12}(\.[0-9]{0,12}0*)?$"


def parse_decimal(text: str) -> Decimal | None:
    """``Decimal`` of ``text`` when it is a plain non-negative decimal (``"0.01"``, ``"50"``), else None."""
    if not re.fullmatch(DECIMAL_RE, text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None


def _within_bounds(value: Decimal) -> bool:
    if value != 0 and value.adjusted() >= MAX_DECIMAL_MAGNITUDE_DIGITS:
        return False
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: parse_decimal only returns plain decimals
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return -(exponent + trailing) <= MAX_DECIMAL_PLACES


def _shown(text: str) -> str:
    """``text`` for an error message: at most 40 characters."""
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Decimal) -> str:
    """The wire form: plain notation (never ``1E-7``), the digits as written (``"0.010"`` stays)."""
    return format(value, "f")


@dataclass(frozen=True)
class DecimalText:
    """``Annotated[Decimal, DecimalText("strategy.minEdge", unit_interval=True)]``: a decimal written as a
    string; ``field`` names it in messages. Always: the syntax of ``DECIMAL_RE``, at most 40 characters,
    below ``1E+12`` with at most 12 decimal places; ``unit_interval``: in ``[0, 1)``; ``positive``: > 0.

    Validation takes a string (a ``Decimal`` passes as is) and raises ``PydanticCustomError`` with the
    rule's message; a bare YAML number is refused with a hint to quote it. JSON output is the string.
    """

    field: str
    unit_interval: bool = False
    positive: bool = False

    def rules(self) -> tuple[Rule, ...]:
        """The CEL/Python rules of this decimal, syntax first (the range rules skip a malformed text)."""
        field = self.field
        well_formed = cel_matches(DECIMAL_RE)
        rules = [
            Rule(
                cel=well_formed,
                message=f'{field} must be a non-negative decimal written as a string, e.g. "0.01"',
                check=lambda v: parse_decimal(v) is not None,
                json_schema={"pattern": DECIMAL_RE},
            ),
            Rule(
                cel=f"!{well_formed} || {cel_matches(BOUNDED_RE)}",
                message=f"{field} must be below 1E+12 and have at most 12 decimal places",
                check=lambda v: (d := parse_decimal(v)) is None or _within_bounds(d),
            ),
        ]
        if self.unit_interval:
            rules.append(
                Rule(
                    cel=f"!{well_formed} || {cel_matches(UNIT_INTERVAL_RE)}",
                    message=f"{field} must be at least 0 and below 1",
                    check=lambda v: (d := parse_decimal(v)) is None or d < 1,
                )
            )
        if self.positive:
            rules.append(
                Rule(
                    cel=f"!{cel_matches(ZERO_RE)}",
                    message=f"{field} must be greater than 0",
                    check=lambda v: (d := parse_decimal(v)) is None or d > 0,
                )
            )
        return tuple(rules)

    def parse(self, value: Any) -> Decimal:
        """The ``Decimal`` of a valid decimal string; ``PydanticCustomError`` naming the problem otherwise."""
        if isinstance(value, Decimal):
            return value
        if isinstance(value, bool) or not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                raise PydanticCustomError(
                    "decimal_type",
                    'write decimals as quoted strings (e.g. "{got}"), got the bare number {got}',
                    {"got": _shown(repr(value))},
                )
            raise PydanticCustomError(
                "decimal_type", 'expected a decimal string such as "0.01", got {got}', {"got": repr(value)}
            )
        if len(value) > MAX_DECIMAL_LENGTH:
            raise PydanticCustomError(
                "string_too_long",
                "{field} must be at most {max_length} characters",
                {"field": self.field, "max_length": MAX_DECIMAL_LENGTH},
            )
        for rule in self.rules():
            rule.enforce(value)
        return Decimal(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(_text, when_used="json"),
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = {"type": "string", "maxLength": MAX_DECIMAL_LENGTH}
        add_rules(json_schema, self.rules())
        return json_schema
