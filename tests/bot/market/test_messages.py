"""Parsing of every recorded message shape, rejection of malformed ones, and a fuzzed pipeline."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from tests.bot.market.recordings import TOKEN_A, TOKEN_B, raw
from tradingbot.domain import Side
from tradingbot.market.messages import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketResolvedMessage,
    MessageError,
    PriceChangeMessage,
    TickSizeChangeMessage,
    decode_frame,
    parse_event,
    parse_rest_book,
)
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.pipeline import FeedPipeline
from tradingbot.market.store import BookStore


def test_book_message() -> None:
    msg = parse_event(raw("ws_book_snapshot.json")[0])
    assert isinstance(msg, BookMessage)
    assert msg.timestamp == 1786604072222 and msg.tick_size == D("0.01")
    assert msg.last_trade_price == D("0.920") and str(msg.last_trade_price) == "0.920"
    assert (len(msg.bids), len(msg.asks)) == (7, 57)


def test_price_change_message() -> None:
    msg = parse_event(raw("ws_market_burst.json")[1])
    assert isinstance(msg, PriceChangeMessage) and msg.timestamp == 1790658674035
    a, b = msg.price_changes
    assert (a.asset_id, a.side, a.price, a.size) == (TOKEN_A, Side.BUY, D("0.301"), D("1000"))
    assert (b.asset_id, b.side, b.price) == (TOKEN_B, Side.SELL, D("0.699"))
    assert (a.best_bid, a.best_ask) == (D("0.301"), D("0.397"))


def test_other_event_types() -> None:
    ltp = parse_event(raw("ws_market_last_trade_msg.json")[0])
    assert isinstance(ltp, LastTradePriceMessage)
    assert (ltp.price, ltp.size, ltp.side, ltp.fee_rate_bps) == (D("0.51"), D("25.0"), Side.BUY, D(0))
    tick = parse_event(raw("ws_market_tick_size_msg.json")[0])
    assert isinstance(tick, TickSizeChangeMessage) and tick.new_tick_size == D("0.01")
    bba = parse_event(raw("ws_market_best_bid_ask_msg.json")[0])
    assert isinstance(bba, BestBidAskMessage) and (bba.best_bid, bba.best_ask) == (D("0.73"), D("0.77"))
    res = parse_event(raw("ws_market_resolved_msg.json")[0])
    assert isinstance(res, MarketResolvedMessage) and res.winning_outcome == "Yes"
    assert res.winning_asset_id == res.assets_ids[0]


def test_rest_book() -> None:
    msg = parse_rest_book(raw("rest_book_empty_ask.json")[0])
    assert msg.asks == [] and [lvl.price for lvl in msg.bids] == [D("0.001"), D("0.002")]
    assert msg.neg_risk is True and msg.min_order_size == D(5) and msg.last_trade_price is None


def _pc(**entry: Any) -> dict[str, Any]:
    base = {"asset_id": "a", "price": "0.5", "size": "1", "side": "BUY"}
    return {
        "event_type": "price_change",
        "market": "0xm",
        "timestamp": "1",
        "price_changes": [{**base, **entry}],
    }


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([], "not_object"),
        ({"market": "0xm"}, "missing_event_type"),
        ({"event_type": "nope"}, "unknown_event_type"),
        (_pc(price="1.5"), "invalid_fields"),
        (_pc(price=0.5), "invalid_fields"),  # a float would lose exactness
        (_pc(price="NaN"), "invalid_fields"),
        (_pc(size="-1"), "invalid_fields"),
        (_pc(side="HOLD"), "invalid_fields"),
        ({**_pc(), "timestamp": "soon"}, "invalid_fields"),
        ({**_pc(), "price_changes": []}, "invalid_fields"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(obj: object, reason: str) -> None:
    with pytest.raises(MessageError) as exc:
        parse_event(obj)
    assert exc.value.reason == reason


def test_frames_hold_one_object_or_an_array() -> None:
    assert decode_frame('{"a": 1}') == [{"a": 1}]
    assert decode_frame("[1, 2]") == [1, 2]
    with pytest.raises(MessageError, match="invalid_json"):
        decode_frame("PONG")


def _malformed_total(registry: CollectorRegistry) -> float:
    total = 0.0
    for metric in registry.collect():
        if metric.name == "ploy_market_malformed_messages":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Mutations of real messages reach deeper than random JSON: right keys, wrong values.
burst = raw("ws_market_burst.json")
mutated = st.builds(
    lambda i, key, value: {**burst[i], key: value},
    st.integers(0, len(burst) - 1),
    st.sampled_from(["timestamp", "price_changes", "bids", "asks", "asset_id", "market", "event_type"]),
    json_values,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    frames=st.lists(st.text(max_size=40) | json_values.map(json.dumps) | mutated.map(json.dumps), max_size=6)
)
def test_pipeline_never_raises_and_counts_what_it_skips(frames: list[str]) -> None:
    registry = CollectorRegistry()
    metrics = MarketMetrics(registry)
    pipeline = FeedPipeline(BookStore(metrics=metrics), metrics)
    pipeline.handle_frame(json.dumps(burst[0]))
    skipped = 0
    for frame in frames:
        try:
            objs = decode_frame(frame)
        except MessageError:
            skipped += 1
        else:
            for obj in objs:
                try:
                    parse_event(obj)
                except MessageError:
                    skipped += 1
        pipeline.handle_frame(frame)
    assert _malformed_total(registry) == skipped
    book = pipeline.book(TOKEN_A)
    assert book is not None and book.has_snapshot
