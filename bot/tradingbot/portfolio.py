"""Valuation of positions derived from fills (pure).

A complete set (one YES and one NO share of the same market) pays exactly 1 USD at resolution, so the
matched part of a market's positions is valued at 1 USD per set. An unmatched remainder is valued at
its mark (the best bid, what it could be sold for now), or 0 USD when no mark is known (conservative).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading_config import MarketSpec
from tradingbot.ledger.rows import Position


@dataclass(frozen=True)
class Valuation:
    """``value_usd`` of the positions, ``cost_usd`` paid for them, ``pnl_usd`` = value - cost,
    ``exposure_usd`` = net cost still at risk (never negative)."""

    value_usd: Decimal
    cost_usd: Decimal

    @property
    def pnl_usd(self) -> Decimal:
        """Mark-to-market profit (negative: loss), USD."""
        return self.value_usd - self.cost_usd

    @property
    def exposure_usd(self) -> Decimal:
        """USD paid into positions not yet returned, never negative."""
        return max(self.cost_usd, Decimal(0))


def value_positions(
    positions: Iterable[Position], markets: Iterable[MarketSpec], marks: Mapping[str, Decimal]
) -> Valuation:
    """Value ``positions`` given the configured ``markets`` and per-token ``marks`` (USD/share).

    Tokens not in any market are valued at their mark only.
    """
    by_token = {p.token_id: p for p in positions}
    value = Decimal(0)
    seen: set[str] = set()
    for market in markets:
        yes = by_token.get(market.yes_token)
        no = by_token.get(market.no_token)
        yes_shares = yes.shares if yes else Decimal(0)
        no_shares = no.shares if no else Decimal(0)
        sets = max(min(yes_shares, no_shares), Decimal(0))
        value += sets
        value += (yes_shares - sets) * marks.get(market.yes_token, Decimal(0))
        value += (no_shares - sets) * marks.get(market.no_token, Decimal(0))
        seen.update(market.tokens)
    for token, position in by_token.items():
        if token not in seen:
            value += position.shares * marks.get(token, Decimal(0))
    cost = sum((p.cost_usd for p in by_token.values()), Decimal(0))
    return Valuation(value_usd=value, cost_usd=cost)
