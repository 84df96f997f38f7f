"""Migrations: applied once, recorded in schema_migrations, safe under concurrent migrators."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tradingbot.ledger.migrate import current_version, expected_version, load_migrations, migrate

pytestmark = pytest.mark.db


def test_packaged_migrations_are_numbered_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert expected_version() == versions[-1]


async def test_migrate_applies_each_version_once(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        assert await current_version(conn) == 0
        assert await migrate(conn) == [m.version for m in load_migrations()]
        assert await migrate(conn) == []
        assert await current_version(conn) == expected_version()
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert {"fence", "orders", "fills", "schema_migrations"} <= tables
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_version_once(db_dsn: str) -> None:
    conns = [await asyncpg.connect(db_dsn) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        flat = sorted(v for versions in applied for v in versions)
        assert flat == [m.version for m in load_migrations()]
        rows = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert rows == len(load_migrations())
    finally:
        for c in conns:
            await c.close()
