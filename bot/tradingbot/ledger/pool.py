"""The bot's asyncpg pool."""

from __future__ import annotations

import asyncpg


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Release hook: nothing to reset.

    asyncpg's default release sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` -- one
    extra round trip per acquire. Ledger and probe connections hold no such session state (no advisory
    locks, cursors, LISTEN or SET; migrations use their own connection), and asyncpg still rolls back a
    transaction left open before calling this hook.
    """


async def create_pool(dsn: str, max_size: int = 10) -> asyncpg.Pool:
    """A lazily connecting pool (``min_size=0``: a database down at startup makes the bot not ready
    instead of not starting) with 5 s connect and 10 s statement timeouts."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=0, max_size=max_size, command_timeout=10, timeout=5, reset=_keep_session
    )
    return pool
