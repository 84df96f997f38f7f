"""The feeds and exchanges satisfy the shared protocols (checked by mypy, exercised here)."""

from __future__ import annotations

from decimal import Decimal

from tradingbot.exchange.base import Exchange
from tradingbot.exchange.paper import PaperExchange
from tradingbot.exchange.resilient import ResilientExchange
from tradingbot.market.feed import MarketFeed
from tradingbot.market.replay import ReplayFeed
from tradingbot.market.ws import PolymarketWsFeed


def test_feeds_are_market_feeds() -> None:
    feeds: list[MarketFeed] = [ReplayFeed(speed=0), PolymarketWsFeed("ws://127.0.0.1:9", ["t"], None)]
    for feed in feeds:
        assert feed.book("t") is None and feed.last_message_age_s() is None


def test_exchanges_are_exchanges() -> None:
    paper = PaperExchange(lambda _token: None, Decimal(0))
    exchanges: list[Exchange] = [paper, ResilientExchange(paper)]
    assert len(exchanges) == 2
