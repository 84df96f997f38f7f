"""The ``trading`` block of a TradingBot spec, which the operator renders unchanged (camelCase) into the
bot's config file and the bot reads back: one definition for the CRD schema, the bot's config and the
tradingbot chart's values schema.

Field names are snake_case in Python and camelCase on the wire (aliases). Every field has a description
(``kubectl explain tradingbot.spec.trading...``); every rule is a :class:`~trading_config.rules.Rule`,
checked by the API server (CEL) and in Python. Decimals are strings on the wire and ``Decimal`` in Python
(:mod:`trading_config.decimals`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt

from trading_config.decimals import DecimalText
from trading_config.rules import Checked, CrdModel, Rule, cel_matches

CONDITION_ID_RE = r"^0x[0-9a-fA-F]{64}$"
MAX_MARKETS = 50
# Far above the two a binary market has: a bound lets the API server estimate the cost of the CEL rules
# over tokens; the exact count is a rule with its own message.
MAX_TOKENS = 8


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
                json_schema={"pattern": CONDITION_ID_RE},
            )
        ),
    ] = Field(
        alias="conditionId",
        description="Polymarket condition id of the market: 0x followed by 64 hex digits.",
    )
    tokens: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=100)], ...],
        Field(max_length=MAX_TOKENS),
        Checked(
            Rule(
                cel="self.size() == 2",
                message="tokens must list exactly 2 token ids: the YES token, then the NO token",
                check=lambda v: len(v) == 2,
                json_schema={"minItems": 2, "maxItems": 2},
            ),
            Rule(
                cel="self.size() != 2 || self[0] != self[1]",
                message="the YES and NO token ids must differ",
                check=lambda v: len(v) != 2 or v[0] != v[1],
            ),
        ),
    ] = Field(description="The market's two outcome token (asset) ids, YES first, then NO.")
    fee_rate: Annotated[Decimal, DecimalText("feeRate", unit_interval=True)] = Field(
        default=Decimal("0"),
        alias="feeRate",
        description='Taker fee rate, a decimal string in [0, 1), e.g. "0.02"; "0" for a fee-free market.',
    )

    @property
    def yes_token(self) -> str:
        """Token id of the YES outcome."""
        return self.tokens[0]

    @property
    def no_token(self) -> str:
        """Token id of the NO outcome."""
        return self.tokens[1]


class StrategySpec(CrdModel):
    """The trading strategy and its parameters."""

    name: Literal["complete-set-arbitrage"] = Field(
        default="complete-set-arbitrage",
        description="Strategy. complete-set-arbitrage buys YES and NO when their asks sum below 1 - minEdge.",
    )
    min_edge: Annotated[Decimal, DecimalText("strategy.minEdge", unit_interval=True)] = Field(
        alias="minEdge",
        description='Minimum edge in USD per complete set, a decimal string in [0, 1), e.g. "0.01".',
    )
    max_order_size: Annotated[Decimal, DecimalText("strategy.maxOrderSize", positive=True)] = Field(
        alias="maxOrderSize",
        description='Largest order per leg in shares, a decimal string greater than 0, e.g. "50".',
    )


class RiskSpec(CrdModel):
    """Risk limits checked before every order."""

    max_exposure_usd: Annotated[Decimal, DecimalText("risk.maxExposureUsd")] = Field(
        alias="maxExposureUsd",
        description='Largest total open exposure in USD, a non-negative decimal string, e.g. "500".',
    )
    max_daily_loss_usd: Annotated[Decimal, DecimalText("risk.maxDailyLossUsd")] = Field(
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


def _tokens_in_one_market(markets: tuple[MarketSpec, ...]) -> bool:
    tokens = [token for market in markets for token in market.tokens]
    return len(set(tokens)) == len(tokens)


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
                json_schema={"enum": ["paper"]},
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
                json_schema={"minItems": 1},
            ),
            Rule(
                cel="self.all(m, self.exists_one(n, n.conditionId == m.conditionId))",
                message="trading.markets must not list the same conditionId twice",
                check=lambda v: len({m.condition_id for m in v}) == len(v),
            ),
            Rule(
                cel="self.all(m, m.tokens.all(t, self.exists_one(n, t in n.tokens)))",
                message="trading.markets must not list the same token id in two markets",
                check=_tokens_in_one_market,
            ),
        ),
    ] = Field(description=f"Markets to trade (1..{MAX_MARKETS}), each with exactly two outcome tokens.")
    strategy: StrategySpec = Field(description="Strategy and its parameters.")
    risk: RiskSpec = Field(description="Risk limits checked before every order.")

    def market_of(self, token_id: str) -> MarketSpec | None:
        """The configured market that trades ``token_id``, or None."""
        for market in self.markets:
            if token_id in market.tokens:
                return market
        return None
