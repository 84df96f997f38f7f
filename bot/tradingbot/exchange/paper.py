"""A paper exchange: orders fill against the live order book without touching any venue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from tradingbot.domain import Fill, OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.exchange.base import ExchangeError, OrderRejected
from tradingbot.market.book import OrderBook
from tradingbot.strategy.complete_set import taker_fee

ZERO = Decimal(0)
ONE = Decimal(1)
_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.FAILED})


@dataclass(slots=True)
class _Order:
    req: OrderRequest
    result: OrderResult
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class _Free:
    price: Decimal
    free: Decimal
    level_size: Decimal


@dataclass(slots=True)
class _Taken:
    # Liquidity this paper venue already "took" at one price level of one token's book, valid only
    # while the real book still shows the same size there (a new size means a new book state).
    level_size: Decimal
    taken: Decimal = field(default=ZERO)


class PaperExchange:
    """Simulated Polymarket CLOB execution against the current book of each token.

    ``books(token_id)`` returns the live book (e.g. ``MarketFeed.book``); ``fee_rate`` is the taker
    fee rate, each fill paying ``size x rate x p x (1 - p)`` USD (charged on every fill, also later
    fills of resting orders, so simulated fees are never understated).

    * BUY walks the asks up to the limit price, SELL walks the bids down to it; fills are at each
      level's price.
    * FOK: fills the whole size at once or returns REJECTED (reason ``fok_not_fillable``).
    * GTC: fills what is available now (PARTIALLY_FILLED) and rests the remainder (OPEN);
      ``match_resting`` fills resting orders when the book changes.
    * Nothing is removed from the real book, but liquidity this venue already took at a level is
      not taken twice while that level is unchanged.
    * Idempotent: a known ``client_order_id`` returns the stored result and never fills again.
    * An order arriving after its ``expires_at`` is REJECTED (reason ``expired before it arrived``).

    Raises ``OrderRejected`` for an invalid order (price outside (0, 1), size <= 0) and
    ``ExchangeError`` when the token has no book (market data unavailable, retry later).
    """

    def __init__(self, books: Callable[[str], OrderBook | None], fee_rate: Decimal) -> None:
        if fee_rate < ZERO:
            raise ValueError("fee_rate must be non-negative")
        self._books = books
        self.fee_rate = fee_rate
        self._orders: dict[str, _Order] = {}
        self._taken: dict[tuple[str, Side, Decimal], _Taken] = {}

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        """Fill ``req`` against the current book; see the class docstring for the rules."""
        known = self._orders.get(req.client_order_id)
        if known is not None:
            return known.result
        if expires_at is not None and datetime.now(UTC) > expires_at:
            result = OrderResult(req.client_order_id, OrderStatus.REJECTED, (), "expired before it arrived")
            self._orders[req.client_order_id] = _Order(req, result, ZERO)
            return result
        if not ZERO < req.price < ONE:
            raise OrderRejected(f"price {req.price} outside (0, 1)")
        if req.size <= ZERO:
            raise OrderRejected(f"size {req.size} must be positive")
        book = self._books(req.token_id)
        if book is None:
            raise ExchangeError(f"no order book for token {req.token_id[:12]}")
        levels = self._crossing_levels(req, book)
        available = sum((lvl.free for lvl in levels), ZERO)
        if req.time_in_force is TimeInForce.FOK and available < req.size:
            result = OrderResult(
                req.client_order_id, OrderStatus.REJECTED, (), f"fok_not_fillable: {available} < {req.size}"
            )
            self._orders[req.client_order_id] = _Order(req, result, ZERO)
            return result
        fills = self._take(req, levels, req.size)
        filled = sum((f.size for f in fills), ZERO)
        remaining = req.size - filled
        status = (
            OrderStatus.FILLED
            if remaining == ZERO
            else (OrderStatus.PARTIALLY_FILLED if fills else OrderStatus.OPEN)
        )
        result = OrderResult(req.client_order_id, status, tuple(fills), None)
        self._orders[req.client_order_id] = _Order(req, result, remaining)
        return result

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """The order's current state, or None for an unknown id."""
        order = self._orders.get(client_order_id)
        return order.result if order is not None else None

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        """Cancel a resting remainder (fills so far are kept); final orders are returned as they are."""
        order = self._orders.get(client_order_id)
        if order is None:
            return None
        if order.result.status not in _FINAL:
            order.result = replace(order.result, status=OrderStatus.CANCELED)
            order.remaining = ZERO
        return order.result

    def match_resting(self, token_id: str) -> list[OrderResult]:
        """Fill resting GTC orders of ``token_id`` against its current book; returns changed orders."""
        book = self._books(token_id)
        if book is None:
            return []
        changed = []
        for order in self._orders.values():
            if order.req.token_id != token_id or order.result.status in _FINAL or order.remaining <= ZERO:
                continue
            fills = self._take(order.req, self._crossing_levels(order.req, book), order.remaining)
            if not fills:
                continue
            order.remaining -= sum((f.size for f in fills), ZERO)
            status = OrderStatus.FILLED if order.remaining == ZERO else OrderStatus.PARTIALLY_FILLED
            order.result = replace(order.result, status=status, fills=order.result.fills + tuple(fills))
            changed.append(order.result)
        return changed

    def _crossing_levels(self, req: OrderRequest, book: OrderBook) -> list[_Free]:
        if req.side is Side.BUY:
            real = [lvl for lvl in book.asks() if lvl.price <= req.price]
        else:
            real = [lvl for lvl in book.bids() if lvl.price >= req.price]
        out = []
        for lvl in real:
            taken = self._taken.get((req.token_id, req.side, lvl.price))
            used = taken.taken if taken is not None and taken.level_size == lvl.size else ZERO
            if lvl.size > used:
                out.append(_Free(lvl.price, lvl.size - used, lvl.size))
        return out

    def _take(self, req: OrderRequest, levels: list[_Free], size: Decimal) -> list[Fill]:
        fills: list[Fill] = []
        remaining = size
        for lvl in levels:
            if remaining <= ZERO:
                break
            qty = min(remaining, lvl.free)
            fills.append(Fill(lvl.price, qty, taker_fee(qty, lvl.price, self.fee_rate)))
            key = (req.token_id, req.side, lvl.price)
            taken = self._taken.get(key)
            if taken is None or taken.level_size != lvl.level_size:
                taken = self._taken[key] = _Taken(level_size=lvl.level_size)
            taken.taken += qty
            remaining -= qty
        return fills
