"""The PostgreSQL fixture is a real server: it answers SQL and survives a restart."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.db


async def test_postgres_answers_and_restarts(postgres: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        version = await conn.fetchval("SHOW server_version_num")
        assert int(version) >= 150000
    finally:
        await conn.close()
    postgres.restart()
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("SELECT 1 + 1") == 2
    finally:
        await conn.close()
