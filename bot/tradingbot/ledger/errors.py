"""Which database errors are worth retrying."""

from __future__ import annotations

import asyncio

import asyncpg

TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # connection refused / reset while the server restarts
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # connection lost mid-query
    asyncpg.OperatorInterventionError,  # "the database system is starting up / shutting down"
    asyncpg.InterfaceError,  # the pool's connection was closed under us
    # Raised by the pool resetting a connection the server dropped mid-operation (seen when the
    # server shuts down while a statement's reply is in flight).
    asyncpg.InternalClientError,
)
"""Errors that say the database is (temporarily) unreachable, not that the statement is wrong."""
