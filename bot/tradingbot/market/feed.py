"""The interface every market-data feed (replay, Polymarket WebSocket) implements."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from tradingbot.market.book import OrderBook

BookListener = Callable[[str], Awaitable[None] | None]
"""Called with the asset_id whose book just changed; may be a plain or an async function."""


class MarketFeed(Protocol):
    """A source of live order books for a fixed set of tokens."""

    async def run(self, stop: asyncio.Event) -> None:
        """Consume market data until ``stop`` is set; reconnects/resyncs internally, never raises
        on a bad message."""
        ...

    def book(self, asset_id: str) -> OrderBook | None:
        """The current book of ``asset_id``, or None before its first snapshot."""
        ...

    def last_message_age_s(self) -> float | None:
        """Monotonic seconds since the last message was received, None before the first."""
        ...

    def subscribe(self, callback: BookListener) -> None:
        """Register ``callback`` to be called with an asset_id whenever that book changed."""
        ...
