"""The fencing epoch in the real PostgreSQL: raising, refusing stale writers, waiting for in-flight ones."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.ledger.fence import FencedError, fence_epoch
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.store import Ledger, LedgerConflict

pytestmark = pytest.mark.db


def req(oid: str = "o-1", price: str = "0.40") -> OrderRequest:
    return OrderRequest(oid, "1001", Side.BUY, Decimal(price), Decimal("10"), TimeInForce.FOK)


async def test_raise_fence_only_moves_up(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool, "ns/bot")
    assert await ledger.raise_fence(3) == 3
    assert await ledger.raise_fence(3) == 3  # a restarted pod of the same epoch
    assert await ledger.raise_fence(5) == 5
    with pytest.raises(FencedError) as caught:
        await ledger.raise_fence(4)
    assert (caught.value.writer_epoch, caught.value.fence_epoch) == (4, 5)
    async with pool.acquire() as conn:
        assert await fence_epoch(conn, "ns/bot") == 5
        assert await fence_epoch(conn, "ns/other") is None


async def test_fences_are_per_bot(pool: asyncpg.Pool) -> None:
    await Ledger(pool, "a").raise_fence(9)
    assert await Ledger(pool, "b").raise_fence(1) == 1


async def test_every_write_needs_the_current_epoch(pool: asyncpg.Pool) -> None:
    old, new = Ledger(pool, "bot"), Ledger(pool, "bot")
    with pytest.raises(FencedError):
        await old.persist_pending(1, "m", req())  # no fence row at all yet
    await old.raise_fence(1)
    await old.persist_pending(1, "m", req())
    await new.raise_fence(2)
    with pytest.raises(FencedError):
        await old.persist_pending(1, "m", req("o-2"))
    with pytest.raises(FencedError):
        await old.record_result(1, OrderResult("o-1", OrderStatus.CANCELED, (), "late"))
    with pytest.raises(FencedError):
        await old.mark(1, "o-1", OrderStatus.FAILED, "late")
    assert await new.get_order("o-2") is None
    stored = await new.get_order("o-1")
    assert stored is not None and stored.status is OrderStatus.PENDING
    assert await new.mark(2, "o-1", OrderStatus.FAILED, "reconciled") is OrderStatus.FAILED


async def test_persist_pending_is_idempotent_and_refuses_reuse(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool, "bot")
    await ledger.raise_fence(1)
    first = await ledger.persist_pending(1, "m", req())
    again = await ledger.persist_pending(1, "m", req())
    assert first == again
    with pytest.raises(LedgerConflict):
        await ledger.persist_pending(1, "m", req(price="0.41"))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_raise_waits_for_a_write_holding_the_fence(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool, "bot")
    await ledger.raise_fence(1)
    await ledger.persist_pending(1, "m", req())
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def old_writer() -> None:
        async with ledger.fenced(1):
            inside.set()
            await leave.wait()

    writer = asyncio.create_task(old_writer())
    await inside.wait()
    raising = asyncio.create_task(Ledger(pool, "bot").raise_fence(2))
    await asyncio.sleep(0.3)
    assert not raising.done(), "raise_fence must wait for the fenced transaction in flight"
    leave.set()
    await writer
    assert await asyncio.wait_for(raising, 5) == 2
    with pytest.raises(FencedError):
        async with ledger.fenced(1):
            pass


async def test_fills_are_recorded_once(pool: asyncpg.Pool) -> None:
    from tradingbot.domain import Fill

    ledger = Ledger(pool, "bot")
    await ledger.raise_fence(1)
    await ledger.persist_pending(1, "m", req())
    fills = (
        Fill(Decimal("0.39"), Decimal("4"), Decimal("0")),
        Fill(Decimal("0.40"), Decimal("6"), Decimal("0.1")),
    )
    result = OrderResult("o-1", OrderStatus.FILLED, fills)
    assert await ledger.record_result(1, result) is OrderStatus.FILLED
    assert await ledger.record_result(1, result) is OrderStatus.FILLED
    # A final status is never overwritten.
    assert await ledger.mark(1, "o-1", OrderStatus.CANCELED, "late cancel") is OrderStatus.FILLED
    assert len(await ledger.fills()) == 2
    [position] = await ledger.positions()
    assert position.shares == Decimal("10")
    assert position.cost_usd == Decimal("0.39") * 4 + Decimal("0.40") * 6 + Decimal("0.1")


async def test_a_frozen_writer_cannot_block_the_handover(migrated_dsn: str) -> None:
    frozen_pool = await create_pool(migrated_dsn, idle_in_transaction_timeout_s=1.0)
    new_pool = await create_pool(migrated_dsn)
    try:
        old, new = Ledger(frozen_pool, "bot"), Ledger(new_pool, "bot")
        await old.raise_fence(1)
        await old.persist_pending(1, "m", req())
        inside = asyncio.Event()

        async def frozen_writer() -> None:
            async with old.fenced(1) as writer:
                inside.set()
                await asyncio.sleep(5)  # e.g. the process is stopped or partitioned mid exchange call
                await writer.record_result(OrderResult("o-1", OrderStatus.FILLED, ()))

        stuck = asyncio.create_task(frozen_writer())
        await inside.wait()
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(new.raise_fence(2), 10) == 2
        assert asyncio.get_running_loop().time() - started < 4.0
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await stuck
        stored = await new.get_order("o-1")
        assert stored is not None and stored.status is OrderStatus.PENDING, (
            "the frozen writer recorded nothing"
        )
    finally:
        await frozen_pool.close()
        await new_pool.close()
