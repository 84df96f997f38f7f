"""Versioned SQL migrations applied under a PostgreSQL advisory lock.

Files are ``migrations/NNNN_name.sql``; version = NNNN. Each file runs in its own transaction together
with its ``schema_migrations`` row, so a crash leaves the schema at a whole version. Concurrent
migrators (two pods, a Job and a pod) serialise on ``pg_advisory_lock(MIGRATION_LOCK_KEY)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# An arbitrary constant shared by every Ploy migrator ("ploy" in ASCII).
MIGRATION_LOCK_KEY = 0x706C6F79

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file: ``version`` (from its NNNN prefix), ``name`` and its SQL text."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, ordered by version. Raises ValueError on a misnamed or duplicate file."""
    found: dict[int, Migration] = {}
    for entry in resources.files("tradingbot.ledger").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {entry.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations with version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def expected_version() -> int:
    """The schema version this build of the bot needs (the highest packaged migration)."""
    migrations = load_migrations()
    return migrations[-1].version if migrations else 0


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def current_version(conn: asyncpg.Connection) -> int:
    """Highest applied version, 0 when the database was never migrated."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(version)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply every packaged migration newer than the database's version; return the versions applied.

    Holds a session advisory lock for the whole run, so concurrent callers apply each version once.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        applied = {int(r["version"]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
        done: list[int] = []
        for migration in load_migrations():
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
