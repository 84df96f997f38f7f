"""The settings pick the feed and exchange the runtime builds (nothing connects here)."""

from __future__ import annotations

import contextlib
import os

import pytest
from prometheus_client import CollectorRegistry

from tradingbot.config.settings import load_settings
from tradingbot.exchange.resilient import ResilientExchange
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.replay import ReplayFeed
from tradingbot.market.ws import PolymarketWsFeed
from tradingbot.runtime import DatabaseUrlMissing, asyncpg_dsn, build_exchange, build_feed


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


async def test_replay_is_the_default_feed() -> None:
    settings = load_settings()
    async with contextlib.AsyncExitStack() as stack:
        feed = build_feed(settings, MarketMetrics(CollectorRegistry()), stack)
        assert isinstance(feed, ReplayFeed) and feed.speed == settings.replay_speed and feed.loop
        exchange = build_exchange(settings, feed)
        assert isinstance(exchange, ResilientExchange) and not exchange.breaker_open


async def test_polymarket_ws_feed_subscribes_every_configured_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOY_FEED", "polymarket-ws")
    settings = load_settings()
    async with contextlib.AsyncExitStack() as stack:
        feed = build_feed(settings, MarketMetrics(CollectorRegistry()), stack)
        assert isinstance(feed, PolymarketWsFeed)
        assert feed.asset_ids == list(settings.trading.markets[0].tokens)
        assert feed.url == settings.polymarket_ws_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/d", "postgresql://?user=u&password=p&dbname=d&host=h"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql://?user=u&password=p&dbname=d&host=h"),
        ("host=h user=u password='p w' dbname=d", "postgresql://?user=u&password=p%20w&dbname=d&host=h"),
    ],
)
def test_asyncpg_dsn(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert asyncpg_dsn(load_settings()) == expected


def test_missing_database_url() -> None:
    with pytest.raises(DatabaseUrlMissing):
        asyncpg_dsn(load_settings())
