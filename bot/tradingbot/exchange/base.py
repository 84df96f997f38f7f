"""The interface every exchange (paper, resilient wrapper, a future live one) implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradingbot.domain import OrderRequest, OrderResult


class ExchangeError(Exception):
    """A transient failure talking to the exchange (timeout, 5xx, dropped connection); retryable."""


class OrderRejected(Exception):
    """The exchange refused the order for a reason retrying will not fix (bad price, size, token)."""


class Exchange(Protocol):
    """Asynchronous order entry.

    ``place_order`` is idempotent on ``client_order_id``: placing the same id again returns the
    first result and never fills a second time. It raises ``ExchangeError`` on transient failures
    and ``OrderRejected`` when the order itself is invalid. ``expires_at`` (timezone-aware wall clock)
    is the order's deadline: the venue refuses an order that reaches it later (Polymarket's signed
    orders carry an ``expiration`` for the same purpose), so a request still in flight when the
    sender's fence times out can never execute after the next holder started trading.
    """

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        """Submit ``req``; return its result (fills so far). Raises ExchangeError, OrderRejected."""
        ...

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """Current state of an order by its client order id, or None if the venue never accepted it.

        After the order's ``expires_at`` has passed, None is final: the venue refuses it from then on.
        """
        ...

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        """Cancel the unfilled remainder; return the final state, or None if the id is unknown."""
        ...
