"""The fencing epoch in PostgreSQL (DESIGN §4).

One ``fence`` row per bot holds the highest epoch that ever became active. Raising it takes the row
lock, so it waits for every order write that is checking the fence (``FOR SHARE``) and, once committed,
no writer with a lower epoch can pass ``check_fence`` again.
"""

from __future__ import annotations

import asyncpg


class FencedError(RuntimeError):
    """A writer's epoch is not the fence's epoch: another color took over; stop writing at once.

    ``writer_epoch`` is the epoch the caller holds; ``fence_epoch`` is what the database holds (None if
    the bot has no fence row at all).
    """

    def __init__(self, bot_id: str, writer_epoch: int, fence_epoch: int | None) -> None:
        super().__init__(f"bot {bot_id!r}: epoch {writer_epoch} is fenced off (fence holds {fence_epoch})")
        self.bot_id = bot_id
        self.writer_epoch = writer_epoch
        self.fence_epoch = fence_epoch


async def raise_fence(conn: asyncpg.Connection, bot_id: str, new_epoch: int) -> int:
    """Set the fence of ``bot_id`` to ``new_epoch`` unless a higher epoch holds it; return the epoch held.

    Raising to the epoch already held succeeds (a restarted pod of the same active color). Raises
    ``FencedError`` when the fence already holds an epoch greater than ``new_epoch``.
    """
    held = await conn.fetchval(
        """
        INSERT INTO fence AS f (bot_id, epoch) VALUES ($1, $2)
        ON CONFLICT (bot_id) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now()
            WHERE f.epoch < EXCLUDED.epoch
        RETURNING epoch
        """,
        bot_id,
        new_epoch,
    )
    if held is None:
        held = await conn.fetchval("SELECT epoch FROM fence WHERE bot_id = $1", bot_id)
    if held is None or int(held) != new_epoch:
        raise FencedError(bot_id, new_epoch, None if held is None else int(held))
    return int(held)


async def check_fence(conn: asyncpg.Connection, bot_id: str, epoch: int) -> None:
    """Inside the caller's transaction, lock the fence row FOR SHARE and require it to equal ``epoch``.

    The share lock lasts until the caller's transaction ends, so a concurrent ``raise_fence`` waits for
    this write to commit or roll back. Raises ``FencedError`` otherwise.
    """
    held = await conn.fetchval("SELECT epoch FROM fence WHERE bot_id = $1 FOR SHARE", bot_id)
    if held is None or int(held) != epoch:
        raise FencedError(bot_id, epoch, None if held is None else int(held))


async def fence_epoch(conn: asyncpg.Connection, bot_id: str) -> int | None:
    """The epoch the fence of ``bot_id`` holds now, None if it was never raised."""
    held = await conn.fetchval("SELECT epoch FROM fence WHERE bot_id = $1", bot_id)
    return None if held is None else int(held)
