"""Test inputs for the service tests: synthetic books, an in-memory feed, a call-counting exchange.

The feed and the exchange wrapper are real implementations of the bot's interfaces fed with test
data; the database behind them is always the real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import asyncpg
from prometheus_client import CollectorRegistry

from trading_config import TradingSpec
from tradingbot.domain import OrderRequest, OrderResult
from tradingbot.exchange.base import Exchange
from tradingbot.execution import FenceTiming, OrderFlow
from tradingbot.ledger.fence import FenceKey
from tradingbot.ledger.store import Ledger
from tradingbot.ledger.token import FenceToken
from tradingbot.market.book import Level, OrderBook
from tradingbot.market.feed import BookListener
from tradingbot.metrics import BotMetrics
from tradingbot.role.controller import RoleController
from tradingbot.trader import Trader

_processes = itertools.count(1)

MARKET = "0x" + "feedfacecafe" * 5 + "feed"
YES = "1001"
NO = "1002"


def book(asset_id: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]] | None = None) -> OrderBook:
    """An OrderBook of ``asset_id`` with the given (price, size) levels."""
    ob = OrderBook(asset_id, MARKET)
    ob.apply_snapshot(
        [Level(Decimal(p), Decimal(s)) for p, s in (bids or [])],
        [Level(Decimal(p), Decimal(s)) for p, s in asks],
        Decimal("0.01"),
    )
    return ob


class StaticFeed:
    """A MarketFeed over books the test sets; ``touch`` plays one market-data message."""

    def __init__(self, books: dict[str, OrderBook] | None = None) -> None:
        self.books = dict(books or {})
        self.listeners: list[BookListener] = []
        self.last: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()

    def book(self, asset_id: str) -> OrderBook | None:
        return self.books.get(asset_id)

    def last_message_age_s(self) -> float | None:
        return None if self.last is None else time.monotonic() - self.last

    def subscribe(self, callback: BookListener) -> None:
        self.listeners.append(callback)

    async def touch(self, *asset_ids: str) -> None:
        """Pretend a message for ``asset_ids`` just arrived and notify listeners."""
        self.last = time.monotonic()
        for asset_id in asset_ids:
            for listener in self.listeners:
                out = listener(asset_id)
                if inspect.isawaitable(out):
                    await out


def arbitrage_feed(size: str = "1000") -> StaticFeed:
    """YES asks 0.40, NO asks 0.55: a complete set costs 0.95 (edge 0.05)."""
    feed = StaticFeed({YES: book(YES, [("0.40", size)], [("0.39", size)]), NO: book(NO, [("0.55", size)])})
    feed.last = time.monotonic()
    return feed


class CountingExchange:
    """Wraps an Exchange, counting ``place_order`` calls per client order id.

    With ``hold_after_place`` set, ``place_order`` forwards the order, then waits on ``release``
    (the test's "crash after the exchange acted, before confirm" point).
    """

    def __init__(self, inner: Exchange) -> None:
        self.inner = inner
        self.placed: Counter[str] = Counter()
        self.hold_after_place = False
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self._want: tuple[int, asyncio.Event] | None = None

    async def wait_calls(self, n: int) -> None:
        """Return once ``place_order`` was called ``n`` times in total."""
        event = asyncio.Event()
        self._want = (n, event)
        if sum(self.placed.values()) >= n:
            return
        await event.wait()

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        self.placed[req.client_order_id] += 1
        if self._want is not None and sum(self.placed.values()) >= self._want[0]:
            self._want[1].set()
        result = await self.inner.place_order(req, expires_at)
        if self.hold_after_place:
            self.reached.set()
            await self.release.wait()
        return result

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        return await self.inner.get_order(client_order_id)

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        return await self.inner.cancel_order(client_order_id)


def trading_config(
    max_order_size: str = "10", max_exposure: str = "100000", kill_switch: bool = False
) -> TradingSpec:
    """A paper config trading the synthetic market (YES, NO)."""
    return TradingSpec.model_validate(
        {
            "mode": "paper",
            "markets": [{"conditionId": MARKET, "tokens": [YES, NO]}],
            "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": max_order_size},
            "risk": {"maxExposureUsd": max_exposure, "maxDailyLossUsd": "100", "killSwitch": kill_switch},
        }
    )


@dataclass
class Bot:
    """One bot process's order path (one color), wired like ``tradingbot.runtime`` does."""

    ledger: Ledger
    flow: OrderFlow
    trader: Trader
    role: RoleController
    metrics: BotMetrics


BOT_KEY = FenceKey(uid="3f1c2d4e-0000-4000-8000-000000000001", namespace="ns", name="bot")
"""The fence key of the test bot (its ledger id is ``ns/bot``)."""


def make_bot(
    pool: asyncpg.Pool,
    exchange: Exchange,
    feed: StaticFeed,
    trading: TradingSpec,
    key: FenceKey = BOT_KEY,
    holder: str | None = None,
    timing: FenceTiming | None = None,
) -> Bot:
    """A bot process on ``pool`` sharing ``exchange`` and ``feed`` with any other process in the test."""
    metrics = BotMetrics(CollectorRegistry())
    ledger = Ledger(pool, key.ledger_id)
    flow = OrderFlow(ledger, exchange, metrics, timing or TEST_TIMING, record_retry_s=60.0)
    trader = Trader(trading, feed, flow, metrics)
    holder = holder or f"test-process-{next(_processes)}"
    role = RoleController(flow, trader, metrics, holder, key, max_backoff_s=0.5)
    feed.subscribe(trader.on_book)
    return Bot(ledger, flow, trader, role, metrics)


TEST_TIMING = FenceTiming(2.0)
"""A short fence timeout (orders expire 1 s after they are persisted), so tests wait little."""


async def acquire(bot: Bot, epoch: int) -> FenceToken:
    """Acquire the test bot's fence for ``bot``'s process under ``epoch`` (what activation does first)."""
    return await bot.ledger.acquire(bot.role.default_key, epoch, bot.role.holder)


class BotFactory(Protocol):
    """``bots(exchange, feed, trading[, key])`` makes a Bot on the test's pool (closed after the test)."""

    def __call__(
        self, exchange: Exchange, feed: StaticFeed, trading: TradingSpec, key: FenceKey = BOT_KEY
    ) -> Bot: ...


async def close_bot(bot: Bot) -> None:
    """Stop trading and activation (what the runtime does on shutdown)."""
    await bot.trader.stop(timeout_s=5)
    await bot.role.close()


async def settle(bot: Bot) -> None:
    """Wait (at most 10 s) until the bot's trading passes in flight are done."""
    await asyncio.wait_for(bot.trader.wait_idle(), 10)
