"""The ``trading`` block of a TradingBot spec (a TradingBot spec field), as pydantic models.

Field names are the camelCase keys of the YAML the operator renders into the bot's config file.
Prices, sizes and USD amounts are ``Decimal`` and must be written as strings in YAML (``"0.01"``):
a bare YAML number would pass through a binary float first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

SUPPORTED_MODES = ("paper",)
SUPPORTED_STRATEGIES = ("complete-set-arbitrage",)


def _decimal_from_string(value: Any) -> Any:
    """Accept strings and ints; refuse floats and booleans with a message that says what to write."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "decimal_type", 'expected a decimal string such as "0.01", got {got}', {"got": value}
        )
    if isinstance(value, float):
        raise PydanticCustomError(
            "decimal_float",
            'write decimals as quoted strings (e.g. "{got}"), got the bare number {got}',
            {"got": repr(value)},
        )
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except ArithmeticError:
            raise PydanticCustomError(
                "decimal_parse", 'not a decimal number: "{got}"', {"got": value}
            ) from None
        if not parsed.is_finite():
            raise PydanticCustomError("decimal_parse", 'not a finite decimal number: "{got}"', {"got": value})
        return _bounded(parsed, value)
    if isinstance(value, int):
        return _bounded(Decimal(value), str(value))
    return value


MAX_DECIMAL_MAGNITUDE_DIGITS = 12
"""Config decimals are below 10**12 in magnitude: no price, share count or USD limit of a paper bot
comes near it, and together with ``MAX_DECIMAL_PLACES`` every value keeps at most 24 significant digits,
inside the 28 of Python's default decimal context, so arithmetic on it stays exact."""

MAX_DECIMAL_PLACES = 12
"""Config decimals have at most 12 digits after the point (trailing zeros aside). The recorded books in
``shared/data/polymarket`` carry at most 3 decimals in prices and 2 in sizes, and USDC has 6, so more
than 12 is a typo, not a limit."""


def _bounded(parsed: Decimal, raw: str) -> Decimal:
    """``parsed`` when |parsed| < 10**12 with at most 12 decimal places, else a one-line error quoting
    (the start of) ``raw``. A value such as ``1E+999999999`` is finite but not a usable limit."""
    shown = raw.strip() if len(raw.strip()) <= 40 else raw.strip()[:37] + "..."
    # adjusted() is the exponent of the leading digit and needs no decimal context (no rounding).
    if parsed != 0 and parsed.adjusted() >= MAX_DECIMAL_MAGNITUDE_DIGITS:
        raise PydanticCustomError(
            "decimal_range",
            'must be below 1E+{digits} in magnitude, got "{got}"',
            {"digits": MAX_DECIMAL_MAGNITUDE_DIGITS, "got": shown},
        )
    if parsed == 0:
        return Decimal(0)  # "0E-1000" is zero; keep no absurd exponent around
    _sign, digits, exponent = parsed.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the callers
    if -(exponent + _trailing_zeros(digits)) > MAX_DECIMAL_PLACES:
        raise PydanticCustomError(
            "decimal_places",
            'must have at most {places} decimal places, got "{got}"',
            {"places": MAX_DECIMAL_PLACES, "got": shown},
        )
    return parsed


def _trailing_zeros(digits: tuple[int, ...]) -> int:
    count = 0
    for digit in reversed(digits):
        if digit != 0:
            break
        count += 1
    return count


def _nonnegative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError("decimal_range", 'must be >= 0, got "{got}"', {"got": str(value)})
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("decimal_range", 'must be > 0, got "{got}"', {"got": str(value)})
    return value


def _unit_interval(value: Decimal) -> Decimal:
    if not Decimal(0) <= value < Decimal(1):
        raise PydanticCustomError("decimal_range", 'must be in [0, 1), got "{got}"', {"got": str(value)})
    return value


DecimalStr = Annotated[Decimal, BeforeValidator(_decimal_from_string)]


class _Model(BaseModel):
    """Frozen, camelCase-keyed, unknown keys rejected (a typo must not silently drop a limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MarketConfig(_Model):
    """One binary market: its condition id and its two outcome token ids, YES first then NO."""

    condition_id: str = Field(alias="conditionId", min_length=1)
    tokens: tuple[str, ...]
    fee_rate: DecimalStr = Field(default=Decimal(0), alias="feeRate")

    @field_validator("tokens")
    @classmethod
    def _two_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) != 2:
            raise PydanticCustomError(
                "tokens_count", "must list exactly 2 token ids (yes, no), got {n}", {"n": len(value)}
            )
        if value[0] == value[1]:
            raise PydanticCustomError("tokens_distinct", "the yes and no token ids must differ", {})
        if any(not token for token in value):
            raise PydanticCustomError("tokens_empty", "token ids must not be empty", {})
        return value

    @field_validator("fee_rate")
    @classmethod
    def _fee_rate_range(cls, value: Decimal) -> Decimal:
        return _unit_interval(value)

    @property
    def yes_token(self) -> str:
        """Token id of the YES outcome."""
        return self.tokens[0]

    @property
    def no_token(self) -> str:
        """Token id of the NO outcome."""
        return self.tokens[1]


class StrategyConfig(_Model):
    """Strategy parameters: ``minEdge`` in USD per complete set, ``maxOrderSize`` in shares per leg."""

    name: str
    min_edge: DecimalStr = Field(alias="minEdge")
    max_order_size: DecimalStr = Field(alias="maxOrderSize")

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in SUPPORTED_STRATEGIES:
            raise PydanticCustomError(
                "strategy_name",
                'unknown strategy "{got}"; supported: {supported}',
                {"got": value, "supported": ", ".join(SUPPORTED_STRATEGIES)},
            )
        return value

    @field_validator("min_edge")
    @classmethod
    def _edge_range(cls, value: Decimal) -> Decimal:
        return _unit_interval(value)

    @field_validator("max_order_size")
    @classmethod
    def _size_positive(cls, value: Decimal) -> Decimal:
        return _positive(value)


class RiskConfig(_Model):
    """Risk limits in USD; ``killSwitch: true`` blocks every new order."""

    max_exposure_usd: DecimalStr = Field(alias="maxExposureUsd")
    max_daily_loss_usd: DecimalStr = Field(alias="maxDailyLossUsd")
    kill_switch: bool = Field(default=False, alias="killSwitch")
    max_data_age_seconds: float = Field(
        default=30.0, alias="maxDataAgeSeconds", gt=0, le=86400, allow_inf_nan=False
    )

    @field_validator("max_exposure_usd", "max_daily_loss_usd")
    @classmethod
    def _limits_nonnegative(cls, value: Decimal) -> Decimal:
        return _nonnegative(value)


class TradingConfig(_Model):
    """The ``trading`` block: mode (only ``paper``), markets, strategy and risk limits."""

    mode: str
    markets: tuple[MarketConfig, ...]
    strategy: StrategyConfig
    risk: RiskConfig

    @field_validator("mode")
    @classmethod
    def _paper_only(cls, value: str) -> str:
        if value not in SUPPORTED_MODES:
            raise PydanticCustomError("mode", 'only "paper" is supported, got "{got}"', {"got": value})
        return value

    @field_validator("markets")
    @classmethod
    def _some_markets(cls, value: tuple[MarketConfig, ...]) -> tuple[MarketConfig, ...]:
        if not value:
            raise PydanticCustomError("markets_empty", "must list at least one market", {})
        tokens = [token for market in value for token in market.tokens]
        if len(set(tokens)) != len(tokens):
            raise PydanticCustomError("markets_tokens", "a token id appears in more than one market", {})
        return value

    def market_of(self, token_id: str) -> MarketConfig | None:
        """The configured market that trades ``token_id``, or None."""
        for market in self.markets:
            if token_id in market.tokens:
                return market
        return None
