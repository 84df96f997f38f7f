"""A PostgreSQL restart in the middle of trading loses no order and duplicates none."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import asyncpg
import pytest

from tests.bot.service.support import (
    NO,
    YES,
    BotFactory,
    CountingExchange,
    arbitrage_feed,
    settle,
    trading_config,
)
from tests.support.postgres import PostgresServer
from tradingbot.domain import OrderStatus
from tradingbot.exchange.paper import PaperExchange
from tradingbot.role.controller import RoleState

pytestmark = pytest.mark.db


async def test_postgres_restart_mid_run_loses_and_duplicates_nothing(
    postgres: PostgresServer, pool: asyncpg.Pool, bots: BotFactory
) -> None:
    feed = arbitrage_feed(size="100000000")
    exchange = CountingExchange(PaperExchange(feed.book, Decimal("0.01")))
    bot = bots(exchange, feed, trading_config(max_exposure="100000000"))
    await bot.role.observe(True, 1)
    assert await bot.role.wait_settled() is RoleState.ACTIVE

    async def ticker() -> None:
        while True:
            await feed.touch(YES, NO)
            await asyncio.sleep(0.002)

    ticks = asyncio.create_task(ticker())
    try:
        await asyncio.wait_for(exchange.wait_calls(20), 10)
        await asyncio.to_thread(postgres.restart)
        before = sum(exchange.placed.values())
        await asyncio.wait_for(exchange.wait_calls(before + 20), 30)
    finally:
        ticks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticks
    bot.trader.deactivate("test over")
    await settle(bot)

    assert all(n == 1 for n in exchange.placed.values()), "no order was placed twice"
    async with pool.acquire() as conn:
        rows = {r["client_order_id"]: r["status"] for r in await conn.fetch("SELECT * FROM orders")}
        ledger_fills = await conn.fetchval("SELECT count(*) FROM fills")
    exchange_fills = 0
    for oid in exchange.placed:
        state = await exchange.get_order(oid)
        assert state is not None
        assert rows.get(oid) == state.status.value, f"ledger lost or misrecorded {oid}"
        exchange_fills += len(state.fills)
    assert ledger_fills == exchange_fills
    for oid, status in rows.items():
        if oid not in exchange.placed:
            assert status == OrderStatus.FAILED.value, "an order that never reached the exchange is FAILED"
    assert OrderStatus.PENDING.value not in rows.values()
