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


async def create_pool(
    dsn: str, max_size: int = 10, idle_in_transaction_timeout_s: float = 15.0
) -> asyncpg.Pool:
    """A lazily connecting pool (``min_size=0``: a database down at startup makes the bot not ready
    instead of not starting) with 5 s connect and 10 s statement timeouts.

    The order flow holds the fence FOR SHARE across the exchange call. If this process freezes or is
    cut off mid-call, PostgreSQL ends the session after ``idle_in_transaction_timeout_s`` seconds of
    idleness in that transaction, releasing the lock so the next color's ``raise_fence`` goes through.
    """
    timeout_ms = str(int(idle_in_transaction_timeout_s * 1000))
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=10,
        timeout=5,
        reset=_keep_session,
        server_settings={"idle_in_transaction_session_timeout": timeout_ms},
    )
    return pool
