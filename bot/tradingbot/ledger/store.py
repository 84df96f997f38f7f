"""The order ledger of one bot: acquiring the fence, and read-only queries.

Writes (persist PENDING, confirm, record fills, cancel, fail) are made only through the
``FenceToken`` that ``Ledger.acquire`` hands out (ledger/token.py); a process that no longer holds
the fence gets ``FencedError`` and writes nothing. Positions and PnL are derived from ``fills``, never
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from tradingbot.domain import Side
from tradingbot.ledger.fence import FencedError, FenceKey, acquire
from tradingbot.ledger.rows import UNSETTLED, Position, StoredFill, StoredOrder, order_from_row
from tradingbot.ledger.token import FenceToken


class Ledger:
    """The order ledger of one bot (``bot_id``) over an asyncpg pool.

    ``bot_id`` is ``orders.bot_id`` (``FenceKey.ledger_id``). Queries may raise asyncpg/OSError errors
    when the database is unreachable.
    """

    def __init__(self, pool: asyncpg.Pool, bot_id: str) -> None:
        self._pool = pool
        self.bot_id = bot_id

    async def acquire(
        self,
        key: FenceKey,
        epoch: int,
        holder: str,
        *,
        on_fenced: Callable[[FencedError], None] | None = None,
        on_lost: Callable[[FencedError], None] | None = None,
    ) -> FenceToken:
        """Acquire the fence of ``key`` for ``holder`` under ``epoch``; return the token object.

        Every order write goes through the returned ``FenceToken``. ``on_fenced`` is called for each
        write the fence refuses; ``on_lost`` once, the first time. Raises ``FencedError`` (a newer
        epoch or TradingBot holds the fence), ``ValueError`` when ``key`` names another ledger, and
        asyncpg/OSError errors when the database is unreachable.
        """
        if key.ledger_id != self.bot_id:
            raise ValueError(f"fence key {key.ledger_id!r} does not name this ledger ({self.bot_id!r})")
        async with self._pool.acquire() as conn, conn.transaction():
            token = await acquire(conn, key, epoch, holder)
        return FenceToken(self._pool, key, epoch, token, holder, on_fenced=on_fenced, on_lost=on_lost)

    async def unsettled_orders(self) -> list[StoredOrder]:
        """Orders of this bot still PENDING/OPEN/PARTIALLY_FILLED, oldest first (any epoch)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM orders WHERE bot_id = $1 AND status = ANY($2::text[]) ORDER BY created_at",
                self.bot_id,
                [s.value for s in UNSETTLED],
            )
        return [order_from_row(r) for r in rows]

    async def get_order(self, client_order_id: str) -> StoredOrder | None:
        """One order by its client order id, None if absent."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", client_order_id)
        return None if row is None else order_from_row(row)

    async def recent_orders(self, limit: int = 100) -> list[StoredOrder]:
        """The ``limit`` newest orders of this bot, newest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM orders WHERE bot_id = $1 ORDER BY created_at DESC, client_order_id LIMIT $2",
                self.bot_id,
                limit,
            )
        return [order_from_row(r) for r in rows]

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
