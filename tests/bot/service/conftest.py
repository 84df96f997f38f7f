"""Fixtures of the service tests: a fresh, migrated database per test in the session's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.bot.service.support import BOT_KEY, Bot, BotFactory, StaticFeed, close_bot, make_bot
from tests.support.postgres import PostgresServer
from trading_config import TradingSpec
from tradingbot.exchange.base import Exchange
from tradingbot.ledger.fence import FenceKey
from tradingbot.ledger.migrate import migrate
from tradingbot.ledger.pool import create_pool


def database_dsn(server_dsn: str, name: str) -> str:
    """``server_dsn`` pointing at database ``name``."""
    return server_dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def db_dsn(postgres: PostgresServer) -> AsyncIterator[str]:
    """A new empty database (``CREATE DATABASE``) for this test; dropped afterwards."""
    name = f"ploy_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(postgres.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield database_dsn(postgres.dsn, name)
    try:
        conn = await asyncpg.connect(postgres.dsn, timeout=10)
    except (OSError, asyncpg.PostgresError):
        return  # the test left the server down; the session fixture removes everything
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def migrated_dsn(db_dsn: str) -> str:
    """``db_dsn`` with the ledger schema applied."""
    conn = await asyncpg.connect(db_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return db_dsn


@pytest.fixture
async def pool(migrated_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated database."""
    p = await create_pool(migrated_dsn)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def bots(pool: asyncpg.Pool) -> AsyncIterator[BotFactory]:
    """Factory of bots (colors) sharing the test's database; all are stopped before the pool closes."""
    made: list[Bot] = []

    def factory(exchange: Exchange, feed: StaticFeed, trading: TradingSpec, key: FenceKey = BOT_KEY) -> Bot:
        bot = make_bot(pool, exchange, feed, trading, key)
        made.append(bot)
        return bot

    yield factory
    for bot in made:
        await close_bot(bot)
