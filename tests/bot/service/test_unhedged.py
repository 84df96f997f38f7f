"""An unhedged leg (YES filled, NO did not) is sold back under the stated policy, or kept and counted
in exposure, against the real PostgreSQL and the paper venue."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import asyncpg
import pytest

from tests.bot.service.support import NO, YES, Bot, BotFactory, StaticFeed, book, settle, trading_config
from tradingbot.domain import OrderRequest, OrderResult, OrderStatus, Side
from tradingbot.exchange.paper import PaperExchange
from tradingbot.role.controller import RoleState

pytestmark = pytest.mark.db


def _feed(yes_bids: list[tuple[str, str]]) -> StaticFeed:
    """YES asks 0.40 and NO asks 0.55, both deep: a 10-share complete set is worth buying."""
    feed = StaticFeed({YES: book(YES, [("0.40", "1000")], yes_bids), NO: book(NO, [("0.55", "1000")])})
    feed.last = time.monotonic()
    return feed


class MarketMovesAfterYes:
    """The paper venue, but the NO side thins to 3 shares the moment a YES buy fills, so the 10-share
    NO leg that follows cannot fill (FOK)."""

    def __init__(self, feed: StaticFeed) -> None:
        self.feed = feed
        self.inner = PaperExchange(feed.book, Decimal(0))

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        result = await self.inner.place_order(req, expires_at)
        if req.token_id == YES and req.side is Side.BUY:
            self.feed.books[NO] = book(NO, [("0.55", "3")])
        return result

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        return await self.inner.get_order(client_order_id)

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        return await self.inner.cancel_order(client_order_id)


async def _one_pass(bots: BotFactory, feed: StaticFeed) -> tuple[list[OrderStatus], Bot]:
    bot = bots(MarketMovesAfterYes(feed), feed, trading_config(max_order_size="10"))
    await bot.role.observe(True, 1)
    assert await bot.role.wait_settled() is RoleState.ACTIVE
    await settle(bot)
    orders = sorted(await bot.ledger.recent_orders(), key=lambda o: o.created_at)
    return [o.status for o in orders[:3]], bot


async def test_the_filled_leg_is_sold_back_within_min_edge(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = _feed(yes_bids=[("0.39", "1000")])
    statuses, bot = await _one_pass(bots, feed)
    assert statuses == [OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.FILLED]
    orders = sorted(await bot.ledger.recent_orders(), key=lambda o: o.created_at)
    unwind = orders[2].request
    assert (unwind.side, unwind.price, unwind.size) == (Side.SELL, Decimal("0.39"), Decimal("10"))
    [position] = await bot.ledger.positions()
    assert position.shares == 0 and position.cost_usd == Decimal("0.10"), "flat, at a loss of minEdge/share"
    assert bot.metrics.unhedged_legs.labels(outcome="unwound")._value.get() == 1


async def test_a_leg_that_cannot_be_sold_back_is_kept_and_counted_in_exposure(
    pool: asyncpg.Pool, bots: BotFactory
) -> None:
    feed = _feed(yes_bids=[("0.30", "1000")])  # below the unwind limit of 0.39
    statuses, bot = await _one_pass(bots, feed)
    assert statuses == [OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.REJECTED]
    assert bot.metrics.unhedged_legs.labels(outcome="kept")._value.get() == 1
    valuation = await bot.trader.valuation()
    assert valuation.exposure_usd == Decimal("4.00"), "the kept YES shares count in the gate's exposure"
