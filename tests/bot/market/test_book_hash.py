"""Polymarket book hashes recompute from the recordings (facts stated in the data README)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from tests.bot.market.recordings import raw
from tradingbot.domain import Side
from tradingbot.market.book import Level, OrderBook
from tradingbot.market.book_hash import book_hash, current_hash, legacy_2024_hash
from tradingbot.market.messages import BookMessage, parse_event, parse_rest_book
from tradingbot.market.store import BookStore, MarketParams


def _levels(msg: BookMessage) -> tuple[list[Level], list[Level]]:
    return [lvl.level() for lvl in msg.bids], [lvl.level() for lvl in msg.asks]


def _recompute(msg: BookMessage, *, min_order_size: str, neg_risk: bool, ltp: str | None) -> str:
    bids, asks = _levels(msg)
    assert msg.tick_size is not None
    return current_hash(
        market=msg.market,
        asset_id=msg.asset_id,
        timestamp_ms=msg.timestamp,
        bids_ascending=bids,
        asks_descending=asks,
        min_order_size=D(min_order_size),
        tick_size=msg.tick_size,
        neg_risk=neg_risk,
        last_trade_price=D(ltp) if ltp else None,
    )


def test_rest_book_hash_recomputes_from_its_own_fields() -> None:
    msg = parse_rest_book(raw("rest_book_empty_ask.json")[0])
    assert msg.neg_risk is True and msg.min_order_size == D(5) and msg.last_trade_price is None
    got = _recompute(msg, min_order_size="5", neg_risk=True, ltp=None)
    assert got == "d7df883ae546b09533a4f485bfae0810da1af04e" == msg.hash


def test_ws_snapshot_hash_recomputes_with_min_size_5_and_not_neg_risk() -> None:
    msg = parse_event(raw("ws_book_snapshot.json")[0])
    assert isinstance(msg, BookMessage)
    got = _recompute(msg, min_order_size="5", neg_risk=False, ltp="0.920")
    assert got == "ed47eb91f3c7985fac1cb18cb7c19535eddd3c0a" == msg.hash
    # A wrong input changes the hash: the check can fail.
    assert _recompute(msg, min_order_size="5", neg_risk=True, ltp="0.920") != msg.hash
    assert _recompute(msg, min_order_size="5", neg_risk=False, ltp="0.92") != msg.hash


def test_burst_first_and_final_book_hashes() -> None:
    burst = raw("ws_market_burst.json")
    first = parse_event(burst[0])
    assert isinstance(first, BookMessage)
    assert _recompute(first, min_order_size="5", neg_risk=False, ltp="0.255") == first.hash
    assert first.hash is not None and first.hash.startswith("5511583a")
    final = parse_event(burst[-1])
    assert isinstance(final, BookMessage) and final.tick_size is None and final.last_trade_price is None
    bids, asks = _levels(final)
    got = current_hash(
        market=final.market,
        asset_id=final.asset_id,
        timestamp_ms=final.timestamp,
        bids_ascending=bids,
        asks_descending=asks,
        min_order_size=D(5),
        tick_size=D("0.001"),
        neg_risk=False,
        last_trade_price=D("0.301"),
    )
    assert got == final.hash == "78b396c8a7f4989f638fe6cf9b2e8ced15680ba7"


def test_full_depth_2024_book_uses_the_legacy_scheme() -> None:
    msg = parse_event(raw("ws_book_full_depth.json")[0])
    assert isinstance(msg, BookMessage) and msg.tick_size is None
    bids, asks = _levels(msg)
    assert len(bids) == 76 and len(asks) == 86
    got = legacy_2024_hash(market=msg.market, asset_id=msg.asset_id, bids=bids, asks=asks)
    assert got == msg.hash == "655a38d4977427b086c25b985993691b753ed166"


def test_book_hash_of_a_held_book_needs_every_input() -> None:
    msg = parse_event(raw("ws_book_snapshot.json")[0])
    assert isinstance(msg, BookMessage)
    without = BookStore()
    without.apply(msg)
    held = without.book(msg.asset_id)
    assert held is not None and book_hash(held) is None  # min_order_size/neg_risk unknown
    store = BookStore(market_params={msg.market: MarketParams(D(5), False)})
    store.apply(msg)
    held = store.book(msg.asset_id)
    assert held is not None and book_hash(held) == msg.hash
    counts = store.check_counts()
    assert (counts.hash_match, counts.hash_mismatch) == (1, 0)
    assert without.check_counts().hash_skipped == 1


def test_store_verifies_rest_and_2024_snapshots() -> None:
    store = BookStore()
    store.apply_snapshot(parse_rest_book(raw("rest_book_empty_ask.json")[0]))
    full = parse_event(raw("ws_book_full_depth.json")[0])
    assert isinstance(full, BookMessage)
    store.apply(full)
    assert store.check_counts().hash_match == 2


def test_an_altered_snapshot_fails_its_hash_check() -> None:
    obj = raw("ws_book_snapshot.json")[0]
    altered = {**obj, "bids": [*obj["bids"][:-1], {**obj["bids"][-1], "size": "1"}]}
    store = BookStore(market_params={obj["market"]: MarketParams(D(5), False)})
    store.apply(parse_event(altered))
    counts = store.check_counts()
    assert (counts.hash_match, counts.hash_mismatch) == (0, 1)


def _from_scratch(bk: OrderBook) -> str:
    assert bk.timestamp_ms is not None and bk.min_order_size is not None and bk.tick_size is not None
    assert bk.neg_risk is not None
    return current_hash(
        market=bk.market,
        asset_id=bk.asset_id,
        timestamp_ms=bk.timestamp_ms,
        bids_ascending=bk.bids()[::-1],
        asks_descending=bk.asks()[::-1],
        min_order_size=bk.min_order_size,
        tick_size=bk.tick_size,
        neg_risk=bk.neg_risk,
        last_trade_price=bk.last_trade_price,
    )


prices = st.integers(1, 999).map(lambda i: D(i) / 1000)
sizes = st.sampled_from(["0", "0", "1", "2.5", "100", "3687.87"]).map(D)
# Equal values written differently: the hash is over the text, so each must give its own hash.
ticks = st.sampled_from(["0.01", "0.010", "0.001"]).map(D)
last_trades = st.sampled_from([None, "0.5", "0.50"]).map(lambda t: None if t is None else D(t))


@given(
    steps=st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, sizes, ticks, last_trades, st.booleans()),
        max_size=40,
    )
)
def test_book_hash_after_every_change_equals_the_hash_computed_from_scratch(
    steps: list[tuple[Side, D, D, D, D | None, bool]],
) -> None:
    """The cached pieces (joined sides, head and tail per token) never go stale."""
    bk = OrderBook("yes", "0xm")
    bk.apply_snapshot([], [], D("0.01"), timestamp_ms=1, min_order_size=D(5), neg_risk=False)
    for ts, (side, price, size, tick, ltp, neg_risk) in enumerate(steps, start=2):
        bk.apply_change(side, price, size)
        bk.timestamp_ms, bk.tick_size, bk.last_trade_price, bk.neg_risk = ts, tick, ltp, neg_risk
        assert book_hash(bk) == _from_scratch(bk)
        assert (
            bk.level_json_joined(Side.SELL, descending=True)
            == ",".join(bk.level_json(Side.SELL)[::-1]).encode()
        )


def test_equal_metadata_written_differently_hashes_differently() -> None:
    bk = OrderBook("yes", "0xm")
    bk.apply_snapshot(
        [], [Level(D("0.5"), D(1))], D("0.01"), timestamp_ms=1, min_order_size=D(5), neg_risk=False
    )
    first = book_hash(bk)
    bk.tick_size = D("0.010")
    assert book_hash(bk) != first and book_hash(bk) == _from_scratch(bk)
