"""Handing trading from one color to the next: the stale epoch never reaches the exchange, a crash
between persist and confirm never duplicates an order, and nothing is left PENDING."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from prometheus_client import generate_latest

from tests.bot.service.support import (
    MARKET,
    NO,
    YES,
    Bot,
    BotFactory,
    CountingExchange,
    acquire,
    arbitrage_feed,
    settle,
    trading_config,
)
from tradingbot.domain import OrderRequest, OrderStatus, Side, TimeInForce
from tradingbot.exchange.paper import PaperExchange
from tradingbot.ledger.fence import FencedError
from tradingbot.role.controller import RoleState

pytestmark = pytest.mark.db


def _epoch_of(client_order_id: str) -> int:
    return int(client_order_id.split("-", 1)[0].removeprefix("e").split("t")[0])


async def _statuses(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        return {r["client_order_id"]: r["status"] for r in await conn.fetch("SELECT * FROM orders")}


async def test_two_colors_racing_the_stale_epoch_never_reaches_the_exchange(
    pool: asyncpg.Pool, bots: BotFactory
) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    trading = trading_config()
    blue = bots(exchange, feed, trading)
    green = bots(exchange, feed, trading)

    await blue.role.observe(True, 1)
    assert await blue.role.wait_settled() is RoleState.ACTIVE
    await feed.touch(YES)
    await settle(blue)
    blue_calls = sum(n for oid, n in exchange.placed.items() if _epoch_of(oid) == 1)
    assert blue_calls == 4, "blue bought a complete set on activation and one on the update"

    # Green is promoted; blue has not heard about it yet and still believes it is active.
    await green.role.observe(True, 2)
    assert await green.role.wait_settled() is RoleState.ACTIVE
    assert blue.trader.epoch == 1
    await feed.touch(NO)
    await settle(blue)
    await settle(green)

    assert sum(n for oid, n in exchange.placed.items() if _epoch_of(oid) == 1) == blue_calls
    assert sum(n for oid, n in exchange.placed.items() if _epoch_of(oid) == 2) == 4
    assert all(n == 1 for n in exchange.placed.values())
    assert blue.trader.epoch is None and blue.role.state is RoleState.FENCED
    assert blue.metrics.fenced_writes._value.get() >= 1
    statuses = await _statuses(pool)
    assert set(statuses) == set(exchange.placed), "every order at the exchange is in the ledger"
    assert set(statuses.values()) == {"FILLED"}


async def test_writers_racing_a_fence_raise_leave_nothing_unsettled(
    pool: asyncpg.Pool, bots: BotFactory
) -> None:
    feed = arbitrage_feed(size="1000000")
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    trading = trading_config()
    blue = bots(exchange, feed, trading)
    green = bots(exchange, feed, trading)
    blue_token = await acquire(blue, 1)
    sent_after_fence: list[str] = []
    fenced_at: list[float] = []

    async def blue_writer(worker: int) -> None:
        for n in range(10_000):
            oid = f"e1-w{worker}-{n}"
            try:
                await blue.flow.submit(
                    blue_token,
                    MARKET,
                    OrderRequest(oid, YES, Side.BUY, Decimal("0.40"), Decimal("1"), TimeInForce.FOK),
                )
            except FencedError:
                return
            if fenced_at:
                sent_after_fence.append(oid)

    writers = [asyncio.create_task(blue_writer(w)) for w in range(4)]
    await asyncio.wait_for(exchange.wait_calls(20), 10)
    green_token = await acquire(green, 2)
    calls_at_fence = dict(exchange.placed)
    fenced_at.append(asyncio.get_running_loop().time())
    await green.flow.reconcile(green_token)
    await asyncio.wait_for(asyncio.gather(*writers), 10)

    assert exchange.placed == calls_at_fence, "no epoch-1 call started after the fence was raised"
    assert all(n == 1 for n in exchange.placed.values())
    statuses = await _statuses(pool)
    assert "PENDING" not in statuses.values()
    for oid in exchange.placed:
        assert statuses[oid] == "FILLED"
    for oid, status in statuses.items():
        if oid not in exchange.placed:
            assert status == "FAILED", "a persisted order that never reached the exchange is FAILED"


async def test_crash_after_the_exchange_acted_is_reconciled_not_replaced(
    pool: asyncpg.Pool, bots: BotFactory
) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal("0.02")))
    trading = trading_config()
    blue = bots(exchange, feed, trading)
    blue_token = await acquire(blue, 1)
    order = OrderRequest("e1-crash", YES, Side.BUY, Decimal("0.40"), Decimal("10"), TimeInForce.FOK)

    exchange.hold_after_place = True
    submit = asyncio.create_task(blue.flow.submit(blue_token, MARKET, order))
    await asyncio.wait_for(exchange.reached.wait(), 5)
    submit.cancel()  # the process dies after the exchange filled, before the ledger confirmed
    with contextlib.suppress(asyncio.CancelledError):
        await submit
    exchange.hold_after_place = False
    stored = await blue.ledger.get_order("e1-crash")
    assert stored is not None and stored.status is OrderStatus.PENDING
    assert await blue.ledger.fills() == []

    green = bots(exchange, feed, trading)
    await green.role.observe(True, 2)
    assert await green.role.wait_settled() is RoleState.ACTIVE
    stored = await green.ledger.get_order("e1-crash")
    assert stored is not None and stored.status is OrderStatus.FILLED
    fills = await green.ledger.fills(["e1-crash"])
    assert [(f.price, f.size) for f in fills] == [(Decimal("0.40"), Decimal("10"))]
    assert fills[0].fee_usd == Decimal("10") * Decimal("0.02") * Decimal("0.40") * Decimal("0.60")
    assert exchange.placed["e1-crash"] == 1

    # The old process retrying its request is refused before the exchange; reconciling again is a no-op.
    with pytest.raises(FencedError):
        await blue.flow.submit(blue_token, MARKET, order)
    assert exchange.placed["e1-crash"] == 1
    green.trader.deactivate("test: stop trading so nothing of epoch 2 is in flight")
    await settle(green)
    assert green.role.token is not None
    assert await green.flow.reconcile(green.role.token) == []
    assert len(await green.ledger.fills(["e1-crash"])) == 1


async def test_crash_before_the_exchange_call_becomes_failed(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    trading = trading_config()
    blue = bots(exchange, feed, trading)
    blue_token = await acquire(blue, 1)
    order = OrderRequest("e1-lost", YES, Side.BUY, Decimal("0.40"), Decimal("10"), TimeInForce.FOK)
    await blue_token.persist_pending(MARKET, order, datetime.now(UTC) + timedelta(seconds=1))  # then it dies

    green = bots(exchange, feed, trading)
    await green.role.observe(True, 2)
    assert await green.role.wait_settled() is RoleState.ACTIVE
    stored = await green.ledger.get_order("e1-lost")
    assert stored is not None and stored.status is OrderStatus.FAILED
    assert exchange.placed["e1-lost"] == 0
    assert green.metrics.reconciled_orders.labels(status="FAILED")._value.get() == 1


async def test_losing_the_role_stops_orders_at_once(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    blue = bots(exchange, feed, trading_config())
    await blue.role.observe(True, 1)
    await blue.role.wait_settled()
    assert blue.metrics.role_active._value.get() == 1
    await blue.role.observe(False, 2)
    assert blue.trader.epoch is None and blue.role.state is RoleState.PASSIVE
    assert blue.metrics.role_active._value.get() == 0 and blue.metrics.epoch._value.get() == 2
    await feed.touch(YES, NO)
    await settle(blue)
    assert sum(exchange.placed.values()) == 0


async def test_only_the_active_trader_reports_daily_pnl(pool: asyncpg.Pool, bots: BotFactory) -> None:
    """``ploy_daily_pnl_usd`` has a series while the role is held and none at all once it is lost (a
    standby's 0 would mask the active pod's loss in max() over both colors)."""
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    blue = bots(exchange, feed, trading_config())
    assert _daily_pnl_samples(blue) == []
    await blue.role.observe(True, 1)
    await blue.role.wait_settled()
    await settle(blue)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = float((await blue.trader.valuation(midnight)).pnl_usd)
    assert _daily_pnl_samples(blue) == [f"ploy_daily_pnl_usd {today}"]
    await blue.role.observe(False, 2)
    assert blue.metrics.daily_pnl_usd.value is None
    assert _daily_pnl_samples(blue) == []


def _daily_pnl_samples(bot: Bot) -> list[str]:
    text = generate_latest(bot.metrics.registry).decode()
    return [line for line in text.splitlines() if line.startswith("ploy_daily_pnl_usd")]


async def test_kill_switch_rejects_with_its_reason(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    blue = bots(exchange, feed, trading_config(kill_switch=True))
    await blue.role.observe(True, 1)
    await blue.role.wait_settled()
    await feed.touch(YES)
    await settle(blue)
    assert sum(exchange.placed.values()) == 0
    assert blue.metrics.orders_rejected.labels(reason="kill_switch")._value.get() >= 1


async def test_exposure_limit_stops_buying(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    # One set of 10 pairs costs 9.50 USD; the limit allows two.
    blue = bots(exchange, feed, trading_config(max_exposure="20"))
    await blue.role.observe(True, 1)
    await blue.role.wait_settled()
    for _ in range(5):
        await feed.touch(YES)
        await settle(blue)
    assert sum(exchange.placed.values()) == 4
    assert blue.metrics.orders_rejected.labels(reason="max_exposure")._value.get() >= 1
    valuation = await blue.trader.valuation()
    assert valuation.exposure_usd == Decimal("19.00") and valuation.pnl_usd == Decimal("1.00")


async def test_an_order_past_its_deadline_is_not_sent(pool: asyncpg.Pool, bots: BotFactory) -> None:
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    blue = bots(exchange, feed, trading_config())
    token = await acquire(blue, 1)
    order = OrderRequest("e1-late", YES, Side.BUY, Decimal("0.40"), Decimal("10"), TimeInForce.FOK)
    # The process stalled between persisting the order and sending it, past the order's deadline.
    await token.persist_pending(MARKET, order, datetime.now(UTC) - timedelta(seconds=1))
    result = await blue.flow.submit(token, MARKET, order)
    assert result.status is OrderStatus.FAILED and result.reason == "deadline passed before sending; not sent"
    assert exchange.placed["e1-late"] == 0
    stored = await blue.ledger.get_order("e1-late")
    assert stored is not None and stored.status is OrderStatus.FAILED


async def test_the_active_process_is_ready_only_while_it_holds_its_token(
    pool: asyncpg.Pool, bots: BotFactory
) -> None:
    """A replacement process of the same color at the same epoch takes the token; the first one's next
    write is refused, it stops trading and its readiness fails (issue item 1, readiness)."""
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    first, replacement = bots(exchange, feed, trading_config()), bots(exchange, feed, trading_config())
    assert first.role.readiness(30.0) == (True, "standby")
    await first.role.observe(True, 4)
    assert await first.role.wait_settled() is RoleState.ACTIVE
    ready, detail = first.role.readiness(30.0)
    assert ready and "epoch 4" in detail
    await replacement.role.observe(True, 4)
    assert await replacement.role.wait_settled() is RoleState.ACTIVE
    await feed.touch(YES)
    await settle(first)
    await settle(replacement)
    assert first.role.state is RoleState.FENCED and first.trader.token is None
    ready, detail = first.role.readiness(30.0)
    assert not ready and "fenced off" in detail
    assert replacement.role.readiness(30.0)[0]
    assert first.metrics.fenced_writes._value.get() >= 1
    assert all(n == 1 for n in exchange.placed.values())
    statuses = await _statuses(pool)
    # An order the old token had persisted but not yet sent when the fence moved is refused before the
    # venue and ends FAILED; every order the venue executed is FILLED. No other outcome is allowed.
    assert statuses and any(status == "FILLED" for status in statuses.values())
    for client_order_id, status in statuses.items():
        sent = client_order_id in exchange.placed
        assert status == ("FILLED" if sent else "FAILED"), (client_order_id, status, sent)
