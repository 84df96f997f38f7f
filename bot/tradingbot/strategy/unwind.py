"""Unwinding an unhedged leg of a complete-set purchase (pure).

The two legs of a complete set are separate FOK orders; when the first fills and the second does not,
the bot holds one side alone, which is a directional bet the strategy never meant to make.

Policy: sell the filled shares straight back, fill-or-kill, at no less than the average fill price
minus ``minEdge`` (the edge the set was bought for; one tick, 0.01, at the least), so unwinding
costs at most ``minEdge`` per share plus fees. If that does not fill, the position is kept; it stays
in the ledger's positions and therefore in the risk gate's exposure, and the next unhedged pass or a
person deals with it (docs/RUNBOOKS.md, "Unhedged leg").
"""

from __future__ import annotations

from decimal import Decimal

from tradingbot.domain import OrderRequest, OrderResult, Side, TimeInForce

MIN_PRICE = Decimal("0.01")
"""The lowest price the unwind order may ask for, USD per share (Polymarket's smallest tick)."""


def unwind_order(
    filled: OrderResult, token_id: str, min_edge: Decimal, client_order_id: str
) -> OrderRequest | None:
    """The FOK SELL that flattens the filled leg ``filled`` of ``token_id``, or None if nothing filled.

    ``min_edge`` is in USD per share; the limit is ``avg fill price - min_edge``, at least ``MIN_PRICE``.
    """
    size = filled.filled_size
    if size <= 0:
        return None
    average = filled.notional_usd / size
    limit = max(MIN_PRICE, (average - min_edge).quantize(MIN_PRICE))
    return OrderRequest(client_order_id, token_id, Side.SELL, limit, size, TimeInForce.FOK)
