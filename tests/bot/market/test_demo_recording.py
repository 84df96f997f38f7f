"""The demo's derived replay market (tradingbot.market.demo_recording): the shipped file is what the
derivation makes of the recorded burst, the recorded market never offers a complete set below 1 USD
and the derived one does, with the bot's own feed and strategy."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.bot.market.recordings import TOKEN_A, TOKEN_B, raw
from tradingbot.market.demo_recording import DERIVED, SOURCE, derive, render
from tradingbot.market.replay import ReplayFeed, embedded_recording
from tradingbot.strategy.complete_set import evaluate


def test_shipped_file_is_the_derivation_of_the_recording() -> None:
    assert embedded_recording(DERIVED).read_text(encoding="utf-8") == render(derive(raw(SOURCE)))


def test_derivation_keeps_token_a_and_prices_positive() -> None:
    source, derived = raw(SOURCE), derive(raw(SOURCE))
    a_source = [e for m in source for e in m.get("price_changes", []) if e["asset_id"] == TOKEN_A]
    a_derived = [e for m in derived for e in m.get("price_changes", []) if e["asset_id"] == TOKEN_A]
    assert a_source == a_derived
    b_entries = [e for m in derived for e in m.get("price_changes", []) if e["asset_id"] == TOKEN_B]
    assert b_entries and all("hash" not in e and "best_ask" not in e for e in b_entries)
    b_book = derived[1]
    assert b_book["asset_id"] == TOKEN_B and b_book["event_type"] == "book"
    prices = [Decimal(e["price"]) for e in b_entries] + [Decimal(lvl["price"]) for lvl in b_book["asks"]]
    assert all(p > 0 for p in prices)


def _opportunities(name: str) -> tuple[Decimal, int]:
    """(lowest sum of the two best asks, book updates with a complete set of 5 at minEdge 0.01)."""
    feed = ReplayFeed([embedded_recording(name)], speed=0)
    sums: list[Decimal] = []
    found = 0

    def on_book(_asset: str) -> None:
        nonlocal found
        yes, no = feed.book(TOKEN_A), feed.book(TOKEN_B)
        if yes is None or no is None or not yes.asks() or not no.asks():
            return
        sums.append(yes.asks()[0].price + no.asks()[0].price)
        found += evaluate(yes, no, Decimal(5), Decimal("0.01"), Decimal(0)) is not None

    feed.subscribe(on_book)
    asyncio.run(feed.run(asyncio.Event()))
    return min(sums), found


@pytest.mark.parametrize(
    ("name", "lowest", "found"),
    [(SOURCE, Decimal("1.011"), 0), (DERIVED, Decimal("0.951"), 30)],
)
def test_only_the_derived_market_offers_complete_sets(name: str, lowest: Decimal, found: int) -> None:
    assert _opportunities(name) == (lowest, found)
