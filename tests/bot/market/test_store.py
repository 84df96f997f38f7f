"""BookStore handling of the non-book events and of pairs (recorded message shapes)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.bot.market.recordings import BURST_MARKET, TOKEN_A, TOKEN_B, raw
from tradingbot.market.messages import parse_event
from tradingbot.market.store import BookStore


def _book_for(asset_id: str, market: str) -> dict[str, object]:
    return {
        "event_type": "book",
        "market": market,
        "asset_id": asset_id,
        "timestamp": "1703875200000",
        "bids": [{"price": "0.4", "size": "10"}],
        "asks": [{"price": "0.6", "size": "10"}],
        "tick_size": "0.1",
    }


def test_tick_size_change_updates_the_book() -> None:
    msg = raw("ws_market_tick_size_msg.json")[0]
    store = BookStore()
    store.apply(parse_event(_book_for(msg["asset_id"], msg["market"])))
    out = store.apply(parse_event(msg))
    book = store.book(msg["asset_id"])
    assert out.changed == {msg["asset_id"]} and book is not None and book.tick_size == D("0.01")


def test_last_trade_price_applies_to_both_tokens_of_the_pair() -> None:
    store = BookStore(complements=[(TOKEN_A, TOKEN_B)])
    store.apply(parse_event(raw("ws_market_burst.json")[0]))  # also mirrors token B
    trade = {
        "event_type": "last_trade_price",
        "market": BURST_MARKET,
        "asset_id": TOKEN_A,
        "price": "0.301",
        "size": "45.83",
        "side": "SELL",
        "timestamp": "1790658827000",
    }
    out = store.apply(parse_event(trade))
    a, b = store.book(TOKEN_A), store.book(TOKEN_B)
    assert out.changed == {TOKEN_A, TOKEN_B}
    assert a is not None and b is not None and a.last_trade_price == b.last_trade_price == D("0.301")


def test_informational_events_change_nothing() -> None:
    store = BookStore()
    for name in (
        "ws_market_best_bid_ask_msg.json",
        "ws_market_resolved_msg.json",
        "ws_market_last_trade_msg.json",
    ):
        out = store.apply(parse_event(raw(name)[0]))
        assert not out.changed and not out.resync
    assert store.asset_ids() == []


def test_configured_pairs_mirror_before_any_price_change() -> None:
    store = BookStore(complements=[(TOKEN_B, TOKEN_A)])
    out = store.apply(parse_event(raw("ws_market_burst.json")[0]))
    b = store.book(TOKEN_B)
    assert out.changed == {TOKEN_A, TOKEN_B} and b is not None
    bb, ba = b.best_bid(), b.best_ask()
    assert bb is not None and ba is not None and (bb.price, ba.price) == (D("0.603"), D("0.7"))


def test_reset_keeps_pairs_but_drops_books() -> None:
    store = BookStore()
    for obj in raw("ws_market_burst.json")[:3]:
        store.apply(parse_event(obj))
    store.reset()
    assert store.asset_ids() == [] and store.complement_of(TOKEN_B) == TOKEN_A
