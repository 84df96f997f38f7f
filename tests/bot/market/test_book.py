"""OrderBook: snapshot + deltas, ordering, deletes, crossing and the complement mirror."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradingbot.domain import Side
from tradingbot.market.book import Level, OrderBook, complement_book


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    bk = OrderBook("yes", "0xm")
    bk.apply_snapshot(
        [Level(D(p), D(s)) for p, s in bids], [Level(D(p), D(s)) for p, s in asks], D("0.01"), timestamp_ms=5
    )
    return bk


def test_snapshot_accepts_unsorted_levels_and_sorts_best_first() -> None:
    bk = _book([("0.30", "5"), ("0.10", "1"), ("0.31", "2")], [("0.50", "3"), ("0.40", "4"), ("0.45", "1")])
    assert [lvl.price for lvl in bk.bids()] == [D("0.31"), D("0.30"), D("0.10")]
    assert [lvl.price for lvl in bk.asks()] == [D("0.40"), D("0.45"), D("0.50")]
    assert bk.best_bid() == Level(D("0.31"), D("2"))
    assert bk.best_ask() == Level(D("0.40"), D("4"))
    assert bk.tick_size == D("0.01") and bk.timestamp_ms == 5
    assert bk.depth() == (3, 3)


@pytest.mark.parametrize(
    ("side", "price", "size", "best_bid", "best_ask", "depth"),
    [
        (Side.BUY, "0.35", "7", ("0.35", "7"), ("0.40", "4"), (3, 2)),  # new best bid
        (Side.BUY, "0.30", "9", ("0.30", "9"), ("0.40", "4"), (2, 2)),  # replace size, not add
        (Side.BUY, "0.30", "0", ("0.10", "1"), ("0.40", "4"), (1, 2)),  # size 0 deletes
        (Side.BUY, "0.20", "0", ("0.30", "5"), ("0.40", "4"), (2, 2)),  # deleting a missing level
        (Side.SELL, "0.40", "0", ("0.30", "5"), ("0.50", "3"), (2, 1)),
        (Side.SELL, "0.39", "1.5", ("0.30", "5"), ("0.39", "1.5"), (2, 3)),
    ],
)
def test_apply_change(
    side: Side,
    price: str,
    size: str,
    best_bid: tuple[str, str],
    best_ask: tuple[str, str],
    depth: tuple[int, int],
) -> None:
    bk = _book([("0.30", "5"), ("0.10", "1")], [("0.50", "3"), ("0.40", "4")])
    bk.apply_change(side, D(price), D(size))
    assert bk.best_bid() == Level(D(best_bid[0]), D(best_bid[1]))
    assert bk.best_ask() == Level(D(best_ask[0]), D(best_ask[1]))
    assert bk.depth() == depth


def test_empty_sides_and_crossing() -> None:
    bk = OrderBook("yes", "0xm")
    assert bk.best_bid() is None and bk.best_ask() is None and not bk.is_crossed()
    bk.apply_change(Side.BUY, D("0.5"), D("1"))
    bk.apply_change(Side.SELL, D("0.5"), D("1"))
    assert bk.is_crossed()  # locked counts as crossed
    bk.apply_change(Side.SELL, D("0.5"), D("0"))
    assert not bk.is_crossed() and bk.best_ask() is None


def test_snapshot_replaces_all_levels_and_keeps_omitted_metadata() -> None:
    bk = _book([("0.30", "5")], [("0.40", "4")])
    bk.last_trade_price = D("0.35")
    bk.apply_snapshot([Level(D("0.2"), D("1"))], [], timestamp_ms=9)
    assert bk.bids() == [Level(D("0.2"), D("1"))] and bk.asks() == []
    assert bk.tick_size == D("0.01") and bk.last_trade_price == D("0.35") and bk.timestamp_ms == 9


def test_copy_is_independent() -> None:
    bk = _book([("0.30", "5")], [("0.40", "4")])
    cp = bk.copy()
    bk.apply_change(Side.BUY, D("0.30"), D("0"))
    assert cp.best_bid() == Level(D("0.30"), D("5")) and bk.best_bid() is None


def test_complement_mirrors_sides_at_one_minus_price() -> None:
    bk = _book([("0.30", "5"), ("0.10", "1")], [("0.50", "3"), ("0.40", "4")])
    no = complement_book(bk, "no")
    assert no.asset_id == "no" and no.market == "0xm"
    assert no.bids() == [Level(D("0.60"), D("4")), Level(D("0.50"), D("3"))]
    assert no.asks() == [Level(D("0.70"), D("5")), Level(D("0.90"), D("1"))]
    assert no.tick_size == D("0.01") and no.timestamp_ms == 5


prices = st.integers(1, 999).map(lambda i: D(i) / 1000)
sizes = st.sampled_from(["0", "0", "1", "2.5", "100", "3687.87"]).map(D)
changes = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, sizes), max_size=60)


@given(changes=changes)
def test_book_matches_a_plain_dict_model(changes: list[tuple[Side, D, D]]) -> None:
    bk = OrderBook("yes", "0xm")
    model: dict[Side, dict[D, D]] = {Side.BUY: {}, Side.SELL: {}}
    for side, price, size in changes:
        bk.apply_change(side, price, size)
        if size == 0:
            model[side].pop(price, None)
        else:
            model[side][price] = size
    assert [(lvl.price, lvl.size) for lvl in bk.bids()] == sorted(model[Side.BUY].items(), reverse=True)
    assert [(lvl.price, lvl.size) for lvl in bk.asks()] == sorted(model[Side.SELL].items())
    assert bk.level_json(Side.SELL) == [
        f'{{"price":"{p}","size":"{s}"}}' for p, s in sorted(model[Side.SELL].items())
    ]


@given(levels=st.lists(st.tuples(prices, sizes), max_size=40))
def test_snapshot_equals_setting_its_levels_one_by_one(levels: list[tuple[D, D]]) -> None:
    """Duplicates: the later entry wins; size 0 leaves no level, as a change would."""
    snap, stepwise = OrderBook("yes", "0xm"), OrderBook("yes", "0xm")
    snap.apply_snapshot([Level(p, s) for p, s in levels], [Level(p, s) for p, s in levels])
    for p, s in levels:
        stepwise.apply_change(Side.BUY, p, s)
        stepwise.apply_change(Side.SELL, p, s)
    assert (snap.bids(), snap.asks()) == (stepwise.bids(), stepwise.asks())
    assert snap.level_json(Side.BUY) == stepwise.level_json(Side.BUY)
    assert snap.level_json_joined(Side.SELL, descending=True) == stepwise.level_json_joined(Side.SELL, True)
