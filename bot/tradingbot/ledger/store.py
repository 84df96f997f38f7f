"""Fenced order writes and read-only ledger queries.

Every write (persist PENDING, confirm, record fills, cancel, fail) runs in one transaction that first
passes ``check_fence`` for the writer's epoch; a stale writer gets ``FencedError`` and writes nothing.
Positions and PnL are derived from ``fills``, never stored.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.ledger.fence import FencedError, check_fence, raise_fence

UNSETTLED = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
"""Statuses an order can still leave; every other status is final."""


class LedgerConflict(RuntimeError):
    """A client order id is reused for a different order (the idempotency key must name one order)."""


@dataclass(frozen=True)
class StoredOrder:
    """An order row: the request, the market's condition id, the epoch that wrote it, its status."""

    request: OrderRequest
    market: str
    epoch: int
    status: OrderStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredFill:
    """A fill row: ``size`` shares of ``token_id`` at ``price`` USD/share, ``fee_usd`` paid."""

    client_order_id: str
    seq: int
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee_usd: Decimal
    epoch: int
    created_at: datetime


@dataclass(frozen=True)
class Position:
    """Net holding of one token derived from fills: ``shares`` held and ``cost_usd`` paid incl. fees."""

    token_id: str
    shares: Decimal
    cost_usd: Decimal


class FencedWriter:
    """Order writes inside a transaction that already passed the fence check for ``epoch``;
    ``checked_at`` is the ``time.monotonic()`` of that check."""

    def __init__(self, conn: asyncpg.Connection, bot_id: str, epoch: int) -> None:
        self._conn = conn
        self.bot_id = bot_id
        self.epoch = epoch
        self.checked_at = time.monotonic()

    async def record_result(self, result: OrderResult) -> OrderStatus:
        """Confirm an order with the exchange's ``result``: its status, reason and every fill so far.

        Fills are keyed by their index in ``result.fills`` so recording the same result twice adds
        nothing. A final status is never overwritten. Returns the status now stored. Raises
        ``KeyError`` if the order was never persisted.
        """
        # One statement (one round trip): lock the order row, add the fills not yet recorded, and move
        # the status unless it is already final.
        row = await self._conn.fetchrow(
            """
            WITH o AS (
                SELECT client_order_id, token_id, side, status FROM orders
                WHERE client_order_id = $1 FOR UPDATE
            ),
            new_fills AS (
                INSERT INTO fills (client_order_id, seq, bot_id, epoch, token_id, side, price, size, fee_usd)
                SELECT o.client_order_id, f.seq, $2::text, $3::bigint, o.token_id, o.side,
                       f.price, f.size, f.fee
                FROM o, unnest($4::int[], $5::numeric[], $6::numeric[], $7::numeric[])
                        AS f(seq, price, size, fee)
                ON CONFLICT (client_order_id, seq) DO NOTHING
            ),
            moved AS (
                UPDATE orders SET status = $8::text, reason = $9::text, updated_at = now()
                FROM o
                WHERE orders.client_order_id = o.client_order_id AND o.status = ANY($10::text[])
                RETURNING orders.status
            )
            SELECT (SELECT status FROM o) AS before, (SELECT status FROM moved) AS after
            """,
            result.client_order_id,
            self.bot_id,
            self.epoch,
            list(range(len(result.fills))),
            [f.price for f in result.fills],
            [f.size for f in result.fills],
            [f.fee_usd for f in result.fills],
            result.status.value,
            result.reason,
            [status.value for status in UNSETTLED],
        )
        if row["before"] is None:
            raise KeyError(result.client_order_id)
        return OrderStatus(row["after"] or row["before"])


def _order(row: asyncpg.Record) -> StoredOrder:
    return StoredOrder(
        request=OrderRequest(
            client_order_id=row["client_order_id"],
            token_id=row["token_id"],
            side=Side(row["side"]),
            price=row["price"],
            size=row["size"],
            time_in_force=TimeInForce(row["tif"]),
        ),
        market=row["market"],
        epoch=int(row["epoch"]),
        status=OrderStatus(row["status"]),
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class Ledger:
    """The order ledger of one bot (``bot_id``) over an asyncpg pool.

    Write methods take the caller's ``epoch`` and raise ``FencedError`` when the fence holds another;
    they may also raise asyncpg/OSError errors when the database is unreachable (nothing is written).
    """

    def __init__(self, pool: asyncpg.Pool, bot_id: str) -> None:
        self._pool = pool
        self.bot_id = bot_id

    async def raise_fence(self, epoch: int) -> int:
        """Raise the fence to ``epoch`` (see ``fence.raise_fence``); FencedError if a higher one holds."""
        async with self._pool.acquire() as conn, conn.transaction():
            return await raise_fence(conn, self.bot_id, epoch)

    async def persist_pending(self, epoch: int, market: str, req: OrderRequest) -> StoredOrder:
        """Store ``req`` as PENDING before it goes to the exchange; return the stored row.

        Idempotent on ``client_order_id``: a second call returns the row already there (any status).
        Raises ``LedgerConflict`` if that id is stored with different order fields.
        """
        # One statement, so one round trip: the fence row is locked FOR SHARE for the statement's own
        # transaction and the INSERT happens only if it holds ``epoch``.
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                WITH f AS (SELECT epoch FROM fence WHERE bot_id = $2 FOR SHARE),
                ins AS (
                    INSERT INTO orders (client_order_id, bot_id, epoch, market, token_id, side, price, size,
                                        tif, status)
                    SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::numeric,
                           $8::numeric, $9::text, 'PENDING'
                    FROM f WHERE f.epoch = $3::bigint
                    ON CONFLICT (client_order_id) DO NOTHING
                    RETURNING created_at, updated_at
                )
                SELECT (SELECT epoch FROM f) AS fence_epoch, ins.created_at, ins.updated_at
                FROM (SELECT 1) AS one LEFT JOIN ins ON true
                """,
                req.client_order_id,
                self.bot_id,
                epoch,
                market,
                req.token_id,
                req.side.value,
                req.price,
                req.size,
                req.time_in_force.value,
            )
            held = row["fence_epoch"]
            if held is None or int(held) != epoch:
                raise FencedError(self.bot_id, epoch, None if held is None else int(held))
            if row["created_at"] is not None:
                return StoredOrder(
                    req, market, epoch, OrderStatus.PENDING, None, row["created_at"], row["updated_at"]
                )
            existing = await conn.fetchrow(
                "SELECT * FROM orders WHERE client_order_id = $1", req.client_order_id
            )
        stored = _order(existing)
        if stored.request != req or stored.market != market:
            raise LedgerConflict(f"client order id {req.client_order_id!r} already names another order")
        return stored

    async def record_result(self, epoch: int, result: OrderResult) -> OrderStatus:
        """Confirm an order with the exchange's ``result`` in its own fenced transaction.

        See ``FencedWriter.record_result``. Raises ``FencedError``, ``KeyError`` (never persisted).
        """
        async with self.fenced(epoch) as writer:
            return await writer.record_result(result)

    @asynccontextmanager
    async def fenced(self, epoch: int) -> AsyncIterator[FencedWriter]:
        """A transaction holding the fence FOR SHARE at ``epoch`` for as long as the block runs.

        The order flow calls the exchange inside this block: ``raise_fence`` for a newer epoch waits
        until the block ends, so once a new epoch holds the fence no call of an older epoch is still
        under way and none can start. Raises ``FencedError`` on entry when the fence holds another epoch.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await check_fence(conn, self.bot_id, epoch)
            yield FencedWriter(conn, self.bot_id, epoch)

    async def mark(self, epoch: int, client_order_id: str, status: OrderStatus, reason: str) -> OrderStatus:
        """Set an unsettled order to ``status`` (FAILED, CANCELED, ...) with ``reason``; return the status
        now stored (a final status already there wins)."""
        return await self.record_result(epoch, OrderResult(client_order_id, status, (), reason))

    async def unsettled_orders(self) -> list[StoredOrder]:
        """Orders of this bot still PENDING/OPEN/PARTIALLY_FILLED, oldest first (any epoch)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM orders WHERE bot_id = $1 AND status = ANY($2::text[]) ORDER BY created_at",
                self.bot_id,
                [s.value for s in UNSETTLED],
            )
        return [_order(r) for r in rows]

    async def get_order(self, client_order_id: str) -> StoredOrder | None:
        """One order by its client order id, None if absent."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", client_order_id)
        return None if row is None else _order(row)

    async def recent_orders(self, limit: int = 100) -> list[StoredOrder]:
        """The ``limit`` newest orders of this bot, newest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM orders WHERE bot_id = $1 ORDER BY created_at DESC, client_order_id LIMIT $2",
                self.bot_id,
                limit,
            )
        return [_order(r) for r in rows]

    async def fills(self, client_order_ids: Sequence[str] | None = None) -> list[StoredFill]:
        """Fills of this bot (optionally only of ``client_order_ids``), oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT * FROM fills WHERE bot_id = $1 AND ($2::text[] IS NULL OR client_order_id = ANY($2))
                ORDER BY created_at, client_order_id, seq
                """,
                self.bot_id,
                None if client_order_ids is None else list(client_order_ids),
            )
        return [
            StoredFill(
                client_order_id=r["client_order_id"],
                seq=int(r["seq"]),
                token_id=r["token_id"],
                side=Side(r["side"]),
                price=r["price"],
                size=r["size"],
                fee_usd=r["fee_usd"],
                epoch=int(r["epoch"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def positions(self, since: datetime | None = None) -> list[Position]:
        """Net position per token from fills (only fills at or after ``since`` when given)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT token_id,
                       sum(CASE side WHEN 'BUY' THEN size ELSE -size END) AS shares,
                       sum(CASE side WHEN 'BUY' THEN price * size ELSE -price * size END + fee_usd) AS cost
                FROM fills WHERE bot_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
                GROUP BY token_id ORDER BY token_id
                """,
                self.bot_id,
                since,
            )
        return [Position(r["token_id"], r["shares"], r["cost"]) for r in rows]
