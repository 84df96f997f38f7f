"""The fence in PostgreSQL: one fencing token per holder (docs/ARCHITECTURE.md, "The fence").

One ``fence_token`` row per TradingBot UID holds the token of the one process that may write orders,
with that process's identity. ``acquire`` draws a new token from a sequence (strictly greater than
every token ever drawn), so a second process of the same color (a replacement pod while the old one
terminates, a partitioned node) takes over only by fencing the first out. Acquiring takes the row
lock, so it waits for every order write that is checking the fence (``FOR SHARE``); once it commits,
no writer holding an older token passes ``check_token`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

RETIRED_EPOCH = 9_223_372_036_854_775_807
"""Written into a version-1 ``fence`` row to retire it: no version-1 writer's epoch equals it."""


@dataclass(frozen=True)
class FenceKey:
    """Which bot a fence row belongs to.

    ``uid`` is the TradingBot's ``metadata.uid`` (standalone: the configured bot id); ``namespace`` and
    ``name`` are for people and name the order ledger (``orders.bot_id`` is ``namespace/name``, or the
    bot id standalone); ``incarnation`` is the TradingBot's ``metadata.creationTimestamp`` (None
    standalone), which orders two TradingBots created under one name: the newer one retires the older.
    """

    uid: str
    namespace: str
    name: str
    incarnation: datetime | None = None

    @property
    def ledger_id(self) -> str:
        """The ``orders.bot_id`` of this bot: ``namespace/name``, or the bare name standalone."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def standalone(cls, bot_id: str) -> FenceKey:
        """The key of a bot run outside a cluster under ``bot_id``."""
        return cls(uid=bot_id, namespace="", name=bot_id)


class FencedError(RuntimeError):
    """A writer's token is not the fence's token: another process holds the fence; stop writing.

    ``writer_token`` is the token the caller presented (None when it was trying to acquire one);
    ``fence_token`` is what the row holds (None if there is no live row); ``reason`` says why in words.
    """

    def __init__(self, bot_uid: str, writer_token: int | None, fence_token: int | None, reason: str) -> None:
        super().__init__(f"bot {bot_uid}: {reason}")
        self.bot_uid = bot_uid
        self.writer_token = writer_token
        self.fence_token = fence_token
        self.reason = reason


async def acquire(conn: asyncpg.Connection, key: FenceKey, epoch: int, holder: str) -> int:
    """Inside the caller's transaction, make ``holder`` the fence's only writer under ``epoch``.

    Returns the new token. Steps, serialised per ``namespace/name`` by a transaction advisory lock:
    retire the bot's version-1 row; refuse when a newer TradingBot of the same name exists (this one
    is then retired too); retire older ones; refuse when the row holds a higher epoch (a stale role);
    draw the next token and record it in ``fence_holders``. Updating the rows waits for writers
    holding them ``FOR SHARE``.

    Raises ``FencedError`` when refused; asyncpg errors when the database fails (nothing changed).
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key.ledger_id)
    await conn.execute(
        "UPDATE fence SET epoch = $2, updated_at = now() WHERE bot_id = $1 AND epoch <> $2",
        key.ledger_id,
        RETIRED_EPOCH,
    )
    rows = await conn.fetch(
        """
        SELECT bot_uid, incarnation, epoch, token, retired_at, created_at FROM fence_token
        WHERE bot_uid = $1 OR (namespace = $2 AND name = $3) ORDER BY bot_uid FOR UPDATE
        """,
        key.uid,
        key.namespace,
        key.name,
    )
    mine = next((r for r in rows if r["bot_uid"] == key.uid), None)
    others = [r for r in rows if r["bot_uid"] != key.uid and r["retired_at"] is None]
    if mine is not None and mine["retired_at"] is not None:
        raise FencedError(key.uid, None, None, "a newer TradingBot of the same name retired this one")
    if any(_newer(other, key, mine) for other in others):
        await conn.execute(
            """
            INSERT INTO fence_token AS f (bot_uid, namespace, name, incarnation, epoch, token, holder,
                                          retired_at)
            VALUES ($1, $2, $3, $4, $5, nextval('fence_token_seq'), $6, now())
            ON CONFLICT (bot_uid) DO UPDATE SET retired_at = now()
            """,
            key.uid,
            key.namespace,
            key.name,
            key.incarnation,
            epoch,
            holder,
        )
        raise FencedError(key.uid, None, None, "a newer TradingBot of the same name holds the fence")
    if others:
        await conn.execute(
            "UPDATE fence_token SET retired_at = now() WHERE bot_uid = ANY($1::text[])",
            [r["bot_uid"] for r in others],
        )
    if mine is not None and int(mine["epoch"]) > epoch:
        raise FencedError(
            key.uid, None, int(mine["token"]), f"epoch {epoch} is older than the fence's {mine['epoch']}"
        )
    token = await conn.fetchval(
        """
        INSERT INTO fence_token AS f (bot_uid, namespace, name, incarnation, epoch, token, holder)
        VALUES ($1, $2, $3, $4, $5, nextval('fence_token_seq'), $6)
        ON CONFLICT (bot_uid) DO UPDATE
            SET epoch = EXCLUDED.epoch, token = EXCLUDED.token, holder = EXCLUDED.holder,
                acquired_at = now()
        RETURNING token
        """,
        key.uid,
        key.namespace,
        key.name,
        key.incarnation,
        epoch,
        holder,
    )
    await conn.execute(
        """
        INSERT INTO fence_holders (token, bot_uid, namespace, name, epoch, holder)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        token,
        key.uid,
        key.namespace,
        key.name,
        epoch,
        holder,
    )
    return int(token)


def _newer(other: asyncpg.Record, key: FenceKey, mine: asyncpg.Record | None) -> bool:
    """Whether ``other`` belongs to a TradingBot created after ``key``'s (ties: first row wins)."""
    theirs, ours = other["incarnation"], key.incarnation
    if theirs is not None and ours is not None and theirs != ours:
        return bool(theirs > ours)
    return mine is not None and other["created_at"] > mine["created_at"]


async def check_token(conn: asyncpg.Connection, bot_uid: str, token: int) -> None:
    """Inside the caller's transaction, lock the fence row FOR SHARE and require it to hold ``token``.

    The share lock lasts until the caller's transaction ends, so a concurrent ``acquire`` waits for
    this write to commit or roll back. Raises ``FencedError`` otherwise.
    """
    held = await conn.fetchval(
        "SELECT token FROM fence_token WHERE bot_uid = $1 AND retired_at IS NULL FOR SHARE", bot_uid
    )
    if held is None or int(held) != token:
        raise FencedError(bot_uid, token, None if held is None else int(held), refusal(token, held))


def refusal(token: int, held: object) -> str:
    """Why a write under ``token`` was refused when the fence row holds ``held`` (None: no live row)."""
    if held is None:
        return f"token {token} is fenced off (no live fence row)"
    return f"token {token} is fenced off (the fence holds token {held})"


@dataclass(frozen=True)
class FenceRow:
    """The fence row of one bot as stored: who holds which token under which epoch."""

    bot_uid: str
    namespace: str
    name: str
    epoch: int
    token: int
    holder: str
    retired: bool


async def read_fence(conn: asyncpg.Connection, bot_uid: str) -> FenceRow | None:
    """The fence row of ``bot_uid`` now, None if it was never acquired."""
    row = await conn.fetchrow("SELECT * FROM fence_token WHERE bot_uid = $1", bot_uid)
    if row is None:
        return None
    return FenceRow(
        bot_uid=row["bot_uid"],
        namespace=row["namespace"],
        name=row["name"],
        epoch=int(row["epoch"]),
        token=int(row["token"]),
        holder=row["holder"],
        retired=row["retired_at"] is not None,
    )
