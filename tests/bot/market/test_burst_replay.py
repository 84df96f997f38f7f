"""Replaying the real ws_market_burst.json recording through BookStore.

Facts checked here are the ones shared/data/polymarket/README.md states about this recording.
"""

from __future__ import annotations

import copy
from decimal import Decimal as D
from typing import Any

from tests.bot.market.recordings import BURST_MARKET, TOKEN_A, TOKEN_B, levels, raw
from tradingbot.market.book import OrderBook, complement_book
from tradingbot.market.book_hash import book_hash
from tradingbot.market.messages import BookMessage, PriceChangeMessage, parse_event
from tradingbot.market.replay import group_steps
from tradingbot.market.store import BookStore, MarketParams

PARAMS = {BURST_MARKET: MarketParams(D(5), False)}


def _top(book: OrderBook) -> tuple[D | None, D | None]:
    bb, ba = book.best_bid(), book.best_ask()
    return (bb.price if bb else None, ba.price if ba else None)


def _replay(objs: list[dict[str, Any]]) -> BookStore:
    store = BookStore(market_params=PARAMS)
    for step in group_steps(objs):
        for obj in step.messages:
            assert not store.apply(parse_event(obj)).resync
        assert not store.flush().resync
    return store


def test_recording_shape() -> None:
    burst = raw("ws_market_burst.json")
    steps = group_steps(burst)
    assert len(burst) == 51
    assert [o["event_type"] for o in burst].count("price_change") == 49
    # 46 single-message steps, the first book, and the 3-message burst sharing the final book's stamp.
    assert len(steps) == 48
    assert steps[-1].timestamp_ms == 1790658827000 and len(steps[-1].messages) == 4


def test_top_of_book_matches_the_recording_after_every_step() -> None:
    store = BookStore(market_params=PARAMS)
    checked = 0
    for step in group_steps(raw("ws_market_burst.json")):
        expected: dict[str, tuple[D | None, D | None]] = {}
        for obj in step.messages:
            msg = parse_event(obj)
            store.apply(msg)
            if isinstance(msg, PriceChangeMessage):
                for e in msg.price_changes:
                    expected[e.asset_id] = (e.best_bid, e.best_ask)
        store.flush()
        for asset_id, top in expected.items():
            book = store.book(asset_id)
            assert book is not None
            assert _top(book) == top, (step.timestamp_ms, asset_id)
            checked += 1
    assert checked == 94  # 47 price_change steps x 2 tokens
    assert store.check_counts().top_mismatch == 0


def test_replay_ends_exactly_equal_to_the_final_book() -> None:
    burst = raw("ws_market_burst.json")
    final = burst[-1]
    store = _replay(burst[:-1])
    book = store.book(TOKEN_A)
    assert book is not None
    assert [(lvl.price, lvl.size) for lvl in book.bids()[::-1]] == levels(final["bids"])
    assert [(lvl.price, lvl.size) for lvl in book.asks()[::-1]] == levels(final["asks"])
    assert book.depth() == (23, 23) and _top(book) == (D("0.29"), D("0.301"))


def test_every_checkable_hash_matches() -> None:
    store = _replay(raw("ws_market_burst.json"))
    counts = store.check_counts()
    # First book + 46 single steps for each token match. In the burst step the crossing traded
    # at a price the recording does not carry, so token B's claim is skipped; the final book
    # supersedes token A's claim and is itself skipped for the same reason.
    assert (counts.hash_match, counts.hash_mismatch, counts.hash_skipped) == (93, 0, 2)
    assert (counts.top_match, counts.top_mismatch) == (93, 0)  # 47 steps x 2 minus A's superseded claim


def test_with_the_last_trade_known_the_burst_step_hashes_match_too() -> None:
    burst = raw("ws_market_burst.json")
    trade = {
        "event_type": "last_trade_price",
        "market": BURST_MARKET,
        "asset_id": TOKEN_A,
        "price": "0.301",
        "size": "45.83",
        "side": "SELL",
        "timestamp": "1790658827000",
    }
    store = _replay([*burst[:-1], trade])
    counts = store.check_counts()
    assert (counts.hash_match, counts.hash_mismatch, counts.hash_skipped) == (95, 0, 0)


def test_the_burst_crosses_then_locks_then_uncrosses_token_a() -> None:
    store = BookStore()
    burst = raw("ws_market_burst.json")
    for obj in burst[:47]:
        store.apply(parse_event(obj))
    tops = []
    for obj in burst[47:50]:
        msg = parse_event(obj)
        assert isinstance(msg, PriceChangeMessage)
        for entry in msg.price_changes:
            if entry.asset_id == TOKEN_A:
                sub = PriceChangeMessage(market=msg.market, timestamp=msg.timestamp, price_changes=[entry])
                store.apply(sub)
                book = store.book(TOKEN_A)
                assert book is not None
                tops.append((_top(book), book.is_crossed()))
    assert tops == [
        ((D("0.311"), D("0.301")), True),
        ((D("0.301"), D("0.301")), True),
        ((D("0.29"), D("0.301")), False),
    ]


def test_token_b_is_mirrored_from_a_and_stays_its_complement() -> None:
    # The recording has no token B snapshot; B's book starts as A's mirror and then follows
    # its own entries, which the README says always mirror A's (prices sum to 1, sizes equal).
    store = BookStore(market_params=PARAMS)
    for step in group_steps(raw("ws_market_burst.json")[:-1]):
        for obj in step.messages:
            store.apply(parse_event(obj))
        store.flush()
        a, b = store.book(TOKEN_A), store.book(TOKEN_B)
        assert a is not None
        if b is None:  # only before the first price_change reveals the pair
            assert step.timestamp_ms == 1790658661234
            continue
        mirror = complement_book(a, TOKEN_B)
        assert (b.bids(), b.asks()) == (mirror.bids(), mirror.asks())
    assert store.complement_of(TOKEN_A) == TOKEN_B


def test_a_corrupted_delta_is_detected_and_asks_for_a_resync() -> None:
    burst = copy.deepcopy(raw("ws_market_burst.json"))
    entry = burst[5]["price_changes"][1]
    assert entry["asset_id"] == TOKEN_A and entry["size"] == "3687.87"
    entry["size"] = "3687.88"  # same best bid/ask: only the hash can notice
    store = BookStore(market_params=PARAMS)
    resyncs: dict[str, str] = {}
    for step in group_steps(burst[:-1]):
        for obj in step.messages:
            resyncs.update(store.apply(parse_event(obj)).resync)
        resyncs.update(store.flush().resync)
    assert resyncs == {TOKEN_A: "mismatch"}
    assert store.check_counts().hash_mismatch >= 1


def test_a_delta_without_any_snapshot_is_a_gap() -> None:
    store = BookStore()
    out = store.apply(parse_event(raw("ws_market_burst.json")[1]))
    assert out.resync == {TOKEN_A: "gap", TOKEN_B: "gap"}
    assert store.book(TOKEN_A) is None
    first = parse_event(raw("ws_market_burst.json")[0])
    assert isinstance(first, BookMessage)
    assert store.apply_snapshot(first).changed == {TOKEN_A, TOKEN_B}  # B mirrored: pair now known


def test_per_entry_hashes_match_47_of_49_for_token_a() -> None:
    # The README's per-message view: replaying token A entry by entry, 47 of 49 stated hashes match
    # the book at that moment (last trade 0.255 before the burst, 0.301 in it). The two that do
    # not are the first two burst entries, stamped with the post-burst state; this is why
    # BookStore checks at step ends.
    store = BookStore(market_params=PARAMS)
    burst = raw("ws_market_burst.json")
    store.apply(parse_event(burst[0]))
    results = []
    for obj in burst[1:-1]:
        msg = parse_event(obj)
        assert isinstance(msg, PriceChangeMessage)
        for entry in msg.price_changes:
            if entry.asset_id != TOKEN_A:
                continue
            one = PriceChangeMessage(market=msg.market, timestamp=msg.timestamp, price_changes=[entry])
            store.apply(one)
            book = store.book(TOKEN_A)
            assert book is not None
            book.last_trade_price = D("0.301") if msg.timestamp == 1790658827000 else D("0.255")
            results.append(book_hash(book) == entry.hash)
    assert len(results) == 49 and results.count(True) == 47
    assert [i for i, ok in enumerate(results) if not ok] == [46, 47]
