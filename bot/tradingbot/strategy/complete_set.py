"""Complete-set arbitrage: buy one YES and one NO share for less than the $1 they redeem for.

A YES share and a NO share of the same binary market together always pay out exactly 1 USD, so
buying both legs for ``size`` pairs is profitable when the depth-walked cost of both legs plus taker
fees is below ``size x (1 - min_edge)``. Polymarket's taker fee for a fill of ``q`` shares at price
``p`` is ``q x rate x p x (1 - p)`` USD with ``rate`` set per market (docs.polymarket.com/trading/fees,
whose general form raises ``p x (1 - p)`` to a per-market exponent, 1 here; makers pay nothing).
The fee is kept exact (no venue rounding), so it is never understated by rounding down. Pure
functions, exact ``Decimal`` arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradingbot.market.book import Level, OrderBook

ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LegFill:
    """The result of walking one book's asks for a size.

    ``price_limit`` is the worst price touched (the limit an FOK order needs), ``cost_usd`` the
    sum of price x size over the levels, ``fees_usd`` the taker fees on those fills.
    """

    size: Decimal
    price_limit: Decimal
    cost_usd: Decimal
    fees_usd: Decimal


@dataclass(frozen=True, slots=True)
class Opportunity:
    """Buy ``size`` YES at limit ``yes_price_limit`` and ``size`` NO at ``no_price_limit``.

    ``cost_usd`` is both legs' price x size (USD, fees excluded); ``fees_usd`` both legs' taker fees;
    ``edge`` the profit per share pair, ``1 - (cost_usd + fees_usd) / size`` (USD per pair,
    equivalently a fraction of the $1 payout).
    """

    yes_price_limit: Decimal
    no_price_limit: Decimal
    size: Decimal
    cost_usd: Decimal
    fees_usd: Decimal
    edge: Decimal

    @property
    def profit_usd(self) -> Decimal:
        """Payout minus cost and fees if both legs fill: ``size x edge`` USD."""
        return self.size - self.cost_usd - self.fees_usd


def taker_fee(size: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """Taker fee in USD for buying ``size`` shares at ``price``: ``size x rate x p x (1 - p)``."""
    return size * fee_rate * price * (ONE - price)


def walk_asks(asks: list[Level], size: Decimal, fee_rate: Decimal) -> LegFill | None:
    """Buy ``size`` shares from ``asks`` (best first); None if the book is too thin."""
    remaining = size
    cost = ZERO
    fees = ZERO
    limit = ZERO
    for lvl in asks:
        if remaining <= ZERO:
            break
        take = min(remaining, lvl.size)
        cost += take * lvl.price
        fees += taker_fee(take, lvl.price, fee_rate)
        limit = lvl.price
        remaining -= take
    if remaining > ZERO:
        return None
    return LegFill(size=size, price_limit=limit, cost_usd=cost, fees_usd=fees)


def evaluate(
    yes: OrderBook, no: OrderBook, size: Decimal, min_edge: Decimal, fee_rate: Decimal
) -> Opportunity | None:
    """The complete-set opportunity for ``size`` pairs, or None if there is none.

    ``size`` in shares (> 0), ``min_edge`` as a fraction of the $1 payout (>= 0), ``fee_rate``
    Polymarket's per-market taker fee rate (>= 0). Returns None when either book cannot fill
    ``size`` or when cost + fees >= ``size x (1 - min_edge)``. Raises ``ValueError`` on bad inputs.
    """
    if size <= ZERO:
        raise ValueError("size must be positive")
    if min_edge < ZERO or fee_rate < ZERO:
        raise ValueError("min_edge and fee_rate must be non-negative")
    yes_leg = walk_asks(yes.asks(), size, fee_rate)
    no_leg = walk_asks(no.asks(), size, fee_rate)
    if yes_leg is None or no_leg is None:
        return None
    cost = yes_leg.cost_usd + no_leg.cost_usd
    fees = yes_leg.fees_usd + no_leg.fees_usd
    if cost + fees >= size * (ONE - min_edge):
        return None
    return Opportunity(
        yes_price_limit=yes_leg.price_limit,
        no_price_limit=no_leg.price_limit,
        size=size,
        cost_usd=cost,
        fees_usd=fees,
        edge=ONE - (cost + fees) / size,
    )
