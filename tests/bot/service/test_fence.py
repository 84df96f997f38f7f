"""The fencing token in the real PostgreSQL: one holder at a time, refusing stale writers, waiting for
in-flight ones, keyed by the TradingBot's UID."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from tests.bot.service.support import BOT_KEY
from tradingbot.domain import Fill, OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.ledger.fence import RETIRED_EPOCH, FencedError, FenceKey, read_fence
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.rows import LedgerConflict
from tradingbot.ledger.store import Ledger
from tradingbot.ledger.token import FenceToken

pytestmark = pytest.mark.db

LATER = datetime.now(UTC) + timedelta(days=1)


def req(oid: str = "o-1", price: str = "0.40") -> OrderRequest:
    return OrderRequest(oid, "1001", Side.BUY, Decimal(price), Decimal("10"), TimeInForce.FOK)


def ledger(pool: asyncpg.Pool) -> Ledger:
    return Ledger(pool, BOT_KEY.ledger_id)


async def test_every_acquisition_draws_a_greater_token(pool: asyncpg.Pool) -> None:
    first = await ledger(pool).acquire(BOT_KEY, 3, "pod-a pid=1")
    again = await ledger(pool).acquire(BOT_KEY, 3, "pod-b pid=1")  # same epoch: a replacement pod
    later = await ledger(pool).acquire(BOT_KEY, 5, "pod-c pid=1")
    assert first.token < again.token < later.token
    with pytest.raises(FencedError, match="epoch 4 is older"):
        await ledger(pool).acquire(BOT_KEY, 4, "pod-d pid=1")
    async with pool.acquire() as conn:
        row = await read_fence(conn, BOT_KEY.uid)
    assert row is not None
    assert (row.epoch, row.token, row.holder, row.namespace, row.name) == (
        5,
        later.token,
        "pod-c pid=1",
        "ns",
        "bot",
    )
    async with pool.acquire() as conn:
        history = [
            tuple(r)
            for r in await conn.fetch("SELECT token, epoch, holder FROM fence_holders ORDER BY token")
        ]
    assert history == [
        (first.token, 3, "pod-a pid=1"),
        (again.token, 3, "pod-b pid=1"),
        (later.token, 5, "pod-c pid=1"),
    ], "every token handed out is on record with its holder"


async def test_two_processes_at_the_same_epoch_never_both_write(pool: asyncpg.Pool) -> None:
    """Issue item 1: the replacement pod of the active color fences the old process out."""
    lost: list[FencedError] = []
    old = await ledger(pool).acquire(BOT_KEY, 7, "pod-old", on_lost=lost.append)
    await old.persist_pending("m", req("o-old-1"), LATER)
    new = await ledger(pool).acquire(BOT_KEY, 7, "pod-new")
    with pytest.raises(FencedError):
        await old.persist_pending("m", req("o-old-2"), LATER)
    with pytest.raises(FencedError):
        await old.record_result(OrderResult("o-old-1", OrderStatus.FILLED, ()))
    with pytest.raises(FencedError):
        async with old.fenced():
            pass
    assert not old.held and len(lost) == 1, "the loss is signalled once, however many writes are refused"
    await new.persist_pending("m", req("o-new-1"), LATER)
    assert await new.mark("o-old-1", OrderStatus.FAILED, "reconciled") is OrderStatus.FAILED
    stored = await ledger(pool).get_order("o-new-1")
    assert stored is not None and stored.token == new.token and stored.epoch == 7
    assert await ledger(pool).get_order("o-old-2") is None


async def test_a_recreated_tradingbot_starts_clean_and_retires_the_old_one(pool: asyncpg.Pool) -> None:
    """Issue item 3: same namespace/name, new UID, its epoch restarts at 1 and it still trades."""
    created = datetime(2026, 11, 1, tzinfo=UTC)
    old_key = FenceKey("uid-old", "ns", "bot", created)
    new_key = FenceKey("uid-new", "ns", "bot", created + timedelta(minutes=5))
    old = await ledger(pool).acquire(old_key, 9, "pod-old")
    new = await ledger(pool).acquire(new_key, 1, "pod-new")
    await new.persist_pending("m", req("o-new"), LATER)
    with pytest.raises(FencedError):
        await old.persist_pending("m", req("o-old"), LATER)
    with pytest.raises(FencedError, match="newer TradingBot"):
        await ledger(pool).acquire(old_key, 10, "pod-old-restarted")
    async with pool.acquire() as conn:
        old_row, new_row = await read_fence(conn, "uid-old"), await read_fence(conn, "uid-new")
    assert old_row is not None and old_row.retired, "the old row stays for audit, retired"
    assert new_row is not None and not new_row.retired and new_row.epoch == 1


async def test_an_older_incarnation_that_never_held_the_fence_cannot_take_it(pool: asyncpg.Pool) -> None:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    new = await ledger(pool).acquire(
        FenceKey("uid-new", "ns", "bot", created + timedelta(seconds=30)), 1, "p"
    )
    with pytest.raises(FencedError, match="newer TradingBot"):
        await ledger(pool).acquire(FenceKey("uid-old", "ns", "bot", created), 12, "partitioned pod")
    await new.persist_pending("m", req(), LATER)


async def test_fences_are_per_bot(pool: asyncpg.Pool) -> None:
    await Ledger(pool, "a").acquire(FenceKey.standalone("a"), 9, "p")
    assert (await Ledger(pool, "b").acquire(FenceKey.standalone("b"), 1, "p")).epoch == 1


async def test_no_write_without_a_live_token(pool: asyncpg.Pool) -> None:
    ghost = FenceToken(pool, BOT_KEY, 1, 1, "never acquired")
    with pytest.raises(FencedError, match="no live fence row"):
        await ghost.persist_pending("m", req(), LATER)


async def test_a_version_1_writer_is_fenced_out_by_the_first_acquisition(pool: asyncpg.Pool) -> None:
    """The migration keeps version-1 fence rows; acquiring retires the bot's row so old code stops."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO fence (bot_id, epoch) VALUES ('ns/bot', 4), ('ns/other', 2)")
    await ledger(pool).acquire(BOT_KEY, 4, "upgraded pod")
    async with pool.acquire() as conn:
        rows = dict(await conn.fetch("SELECT bot_id, epoch FROM fence ORDER BY bot_id"))
    assert rows == {"ns/bot": RETIRED_EPOCH, "ns/other": 2}


async def test_persist_pending_is_idempotent_and_refuses_reuse(pool: asyncpg.Pool) -> None:
    token = await ledger(pool).acquire(BOT_KEY, 1, "p")
    first = await token.persist_pending("m", req(), LATER)
    again = await token.persist_pending("m", req(), LATER)
    assert (first.request, first.status, first.token) == (again.request, again.status, again.token)
    with pytest.raises(LedgerConflict):
        await token.persist_pending("m", req(price="0.41"), LATER)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_acquiring_waits_for_a_write_holding_the_fence(pool: asyncpg.Pool) -> None:
    token = await ledger(pool).acquire(BOT_KEY, 1, "old")
    await token.persist_pending("m", req(), LATER)
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def old_writer() -> None:
        async with token.fenced():
            inside.set()
            await leave.wait()

    writer = asyncio.create_task(old_writer())
    await inside.wait()
    acquiring = asyncio.create_task(ledger(pool).acquire(BOT_KEY, 2, "new"))
    await asyncio.sleep(0.3)
    assert not acquiring.done(), "acquire must wait for the fenced transaction in flight"
    leave.set()
    await writer
    assert (await asyncio.wait_for(acquiring, 5)).epoch == 2
    with pytest.raises(FencedError):
        async with token.fenced():
            pass


async def test_fills_are_recorded_once(pool: asyncpg.Pool) -> None:
    token = await ledger(pool).acquire(BOT_KEY, 1, "p")
    await token.persist_pending("m", req(), LATER)
    fills = (
        Fill(Decimal("0.39"), Decimal("4"), Decimal("0")),
        Fill(Decimal("0.40"), Decimal("6"), Decimal("0.1")),
    )
    result = OrderResult("o-1", OrderStatus.FILLED, fills)
    assert await token.record_result(result) is OrderStatus.FILLED
    assert await token.record_result(result) is OrderStatus.FILLED
    # A final status is never overwritten.
    assert await token.mark("o-1", OrderStatus.CANCELED, "late cancel") is OrderStatus.FILLED
    recorded = await ledger(pool).fills()
    assert len(recorded) == 2
    [position] = await ledger(pool).positions()
    assert position.shares == Decimal("10")
    assert position.cost_usd == Decimal("0.39") * 4 + Decimal("0.40") * 6 + Decimal("0.1")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT array_agg(DISTINCT token) FROM fills") == [token.token]


async def test_a_frozen_writer_cannot_block_the_handover(migrated_dsn: str) -> None:
    frozen_pool = await create_pool(migrated_dsn, idle_in_transaction_timeout_s=1.0)
    new_pool = await create_pool(migrated_dsn)
    try:
        old = await Ledger(frozen_pool, BOT_KEY.ledger_id).acquire(BOT_KEY, 1, "old")
        await old.persist_pending("m", req(), LATER)
        inside = asyncio.Event()

        async def frozen_writer() -> None:
            async with old.fenced() as writer:
                inside.set()
                await asyncio.sleep(5)  # e.g. the process is stopped or partitioned mid exchange call
                await writer.record_result(OrderResult("o-1", OrderStatus.FILLED, ()))

        stuck = asyncio.create_task(frozen_writer())
        await inside.wait()
        started = asyncio.get_running_loop().time()
        new = await asyncio.wait_for(Ledger(new_pool, BOT_KEY.ledger_id).acquire(BOT_KEY, 2, "new"), 10)
        assert new.token > old.token
        assert asyncio.get_running_loop().time() - started < 4.0
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await stuck
        stored = await Ledger(new_pool, BOT_KEY.ledger_id).get_order("o-1")
        assert stored is not None and stored.status is OrderStatus.PENDING, (
            "the frozen writer recorded nothing"
        )
    finally:
        await frozen_pool.close()
        await new_pool.close()
