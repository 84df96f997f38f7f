"""The fencing token a process holds while it may trade, and the only way to write orders.

``Ledger.acquire`` hands out a ``FenceToken``; every order write goes through it and runs in one
transaction that first checks the fence row still holds this token (``fence.check_token``). A write
the fence refuses raises ``FencedError``, is counted (``on_fenced``) and, the first time, signals the
loss (``on_lost``) so the role logic stops trading at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus
from tradingbot.ledger.fence import FencedError, FenceKey, check_token, refusal
from tradingbot.ledger.rows import UNSETTLED, LedgerConflict, StoredOrder, order_from_row


class FencedWriter:
    """Order writes inside a transaction that already passed the fence check for ``token``;
    ``checked_at`` is the ``time.monotonic()`` of that check (seconds)."""

    def __init__(self, conn: asyncpg.Connection, bot_id: str, epoch: int, token: int) -> None:
        self._conn = conn
        self.bot_id = bot_id
        self.epoch = epoch
        self.token = token
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
                INSERT INTO fills (client_order_id, seq, bot_id, epoch, token, token_id, side, price, size,
                                   fee_usd)
                SELECT o.client_order_id, f.seq, $2::text, $3::bigint, $11::bigint, o.token_id, o.side,
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
            self.token,
        )
        if row["before"] is None:
            raise KeyError(result.client_order_id)
        return OrderStatus(row["after"] or row["before"])


class FenceToken:
    """The right of one process (``holder``) to write the orders of bot ``key`` under ``token``.

    ``epoch`` is the TradingBot's ``status.epoch`` the token was acquired under. The token stays valid
    until another process acquires the fence; from then on every write raises ``FencedError``. Writes
    may also raise asyncpg/OSError errors when the database is unreachable (nothing is written).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        key: FenceKey,
        epoch: int,
        token: int,
        holder: str,
        *,
        on_fenced: Callable[[FencedError], None] | None = None,
        on_lost: Callable[[FencedError], None] | None = None,
    ) -> None:
        self._pool = pool
        self.key = key
        self.epoch = epoch
        self.token = token
        self.holder = holder
        self._on_fenced = on_fenced
        self._on_lost = on_lost
        self.lost: FencedError | None = None

    def __repr__(self) -> str:
        return f"FenceToken(bot={self.key.ledger_id!r}, epoch={self.epoch}, token={self.token})"

    @property
    def held(self) -> bool:
        """False once a write under this token was refused (the fence moved on)."""
        return self.lost is None

    def _refused(self, exc: FencedError) -> None:
        if self._on_fenced is not None:
            self._on_fenced(exc)
        if self.lost is None:
            self.lost = exc
            if self._on_lost is not None:
                self._on_lost(exc)

    async def persist_pending(self, market: str, req: OrderRequest, expires_at: datetime) -> StoredOrder:
        """Store ``req`` as PENDING before it goes to the exchange; return the stored row.

        ``expires_at`` is the wall-clock instant after which the venue must refuse the order. Idempotent
        on ``client_order_id``: a second call returns the row already there (any status). Raises
        ``FencedError``, and ``LedgerConflict`` if that id is stored with different order fields.
        """
        bot_id = self.key.ledger_id
        # One statement, so one round trip: the fence row is locked FOR SHARE for the statement's own
        # transaction and the INSERT happens only if it holds this token.
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                WITH f AS (
                    SELECT token FROM fence_token WHERE bot_uid = $11 AND retired_at IS NULL FOR SHARE
                ),
                ins AS (
                    INSERT INTO orders (client_order_id, bot_id, epoch, token, market, token_id, side, price,
                                        size, tif, status, expires_at)
                    SELECT $1::text, $2::text, $3::bigint, $10::bigint, $4::text, $5::text, $6::text,
                           $7::numeric, $8::numeric, $9::text, 'PENDING', $12::timestamptz
                    FROM f WHERE f.token = $10::bigint
                    ON CONFLICT (client_order_id) DO NOTHING
                    RETURNING created_at, updated_at
                )
                SELECT (SELECT token FROM f) AS fence_token, ins.created_at, ins.updated_at
                FROM (SELECT 1) AS one LEFT JOIN ins ON true
                """,
                req.client_order_id,
                bot_id,
                self.epoch,
                market,
                req.token_id,
                req.side.value,
                req.price,
                req.size,
                req.time_in_force.value,
                self.token,
                self.key.uid,
                expires_at,
            )
            held = row["fence_token"]
            if held is None or int(held) != self.token:
                exc = FencedError(
                    self.key.uid, self.token, None if held is None else int(held), refusal(self.token, held)
                )
                self._refused(exc)
                raise exc
            if row["created_at"] is not None:
                return StoredOrder(
                    req,
                    market,
                    self.epoch,
                    OrderStatus.PENDING,
                    None,
                    row["created_at"],
                    row["updated_at"],
                    self.token,
                    expires_at,
                )
            existing = await conn.fetchrow(
                "SELECT * FROM orders WHERE client_order_id = $1", req.client_order_id
            )
        stored = order_from_row(existing)
        if stored.request != req or stored.market != market:
            raise LedgerConflict(f"client order id {req.client_order_id!r} already names another order")
        return stored

    @asynccontextmanager
    async def fenced(self) -> AsyncIterator[FencedWriter]:
        """A transaction holding the fence FOR SHARE at this token for as long as the block runs.

        The order flow calls the exchange inside this block: ``acquire`` by another process waits until
        the block ends, so once another token holds the fence no call under this one is still under
        way (within the venue deadline) and none can start. Raises ``FencedError`` on entry when the
        fence holds another token.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await check_token(conn, self.key.uid, self.token)
            except FencedError as exc:
                self._refused(exc)
                raise
            yield FencedWriter(conn, self.key.ledger_id, self.epoch, self.token)

    async def record_result(self, result: OrderResult) -> OrderStatus:
        """Confirm an order with the exchange's ``result`` in its own fenced transaction.

        See ``FencedWriter.record_result``. Raises ``FencedError``, ``KeyError`` (never persisted).
        """
        async with self.fenced() as writer:
            return await writer.record_result(result)

    async def mark(self, client_order_id: str, status: OrderStatus, reason: str) -> OrderStatus:
        """Set an unsettled order to ``status`` (FAILED, CANCELED, ...) with ``reason``; return the status
        now stored (a final status already there wins)."""
        return await self.record_result(OrderResult(client_order_id, status, (), reason))
