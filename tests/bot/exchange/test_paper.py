"""PaperExchange: fills against the current book, GTC partial fills, FOK, idempotency."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradingbot.domain import Fill, OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.exchange.base import ExchangeError, OrderRejected
from tradingbot.exchange.paper import PaperExchange
from tradingbot.market.book import Level, OrderBook


def _book() -> OrderBook:
    bk = OrderBook("yes", "0xm")
    bk.apply_snapshot(
        [Level(D("0.30"), D("4")), Level(D("0.35"), D("6"))],
        [Level(D("0.45"), D("10")), Level(D("0.40"), D("5"))],
    )
    return bk


def _venue(fee_rate: str = "0") -> tuple[PaperExchange, dict[str, OrderBook]]:
    books = {"yes": _book()}
    return PaperExchange(books.get, D(fee_rate)), books


def _req(
    cid: str, size: str, price: str, tif: TimeInForce = TimeInForce.GTC, side: Side = Side.BUY
) -> OrderRequest:
    return OrderRequest(cid, "yes", side, D(price), D(size), tif)


async def test_gtc_partial_fill_rests_then_fills_when_the_book_moves() -> None:
    venue, books = _venue()
    res = await venue.place_order(_req("a", "8", "0.42"))
    assert res.status is OrderStatus.PARTIALLY_FILLED
    assert res.fills == (Fill(D("0.40"), D("5"), D("0")),) and res.filled_size == D(5)
    assert venue.match_resting("yes") == []  # nothing new under the limit
    books["yes"].apply_change(Side.SELL, D("0.41"), D("10"))
    (changed,) = venue.match_resting("yes")
    assert changed.status is OrderStatus.FILLED
    assert changed.fills[-1] == Fill(D("0.41"), D("3"), D("0"))
    assert await venue.get_order("a") == changed


async def test_gtc_with_nothing_crossing_is_open_and_can_be_canceled() -> None:
    venue, _ = _venue()
    res = await venue.place_order(_req("a", "3", "0.39"))
    assert (res.status, res.fills) == (OrderStatus.OPEN, ())
    canceled = await venue.cancel_order("a")
    assert canceled is not None and canceled.status is OrderStatus.CANCELED
    assert await venue.cancel_order("unknown") is None and await venue.get_order("unknown") is None


async def test_fok_fills_everything_across_levels_with_fees() -> None:
    venue, _ = _venue(fee_rate="0.02")
    res = await venue.place_order(_req("a", "12", "0.45", TimeInForce.FOK))
    assert res.status is OrderStatus.FILLED
    # 5 @ 0.40 (fee 5*.02*.4*.6 = 0.024) then 7 @ 0.45 (fee 7*.02*.45*.55 = 0.03465)
    assert res.fills == (Fill(D("0.40"), D("5"), D("0.024")), Fill(D("0.45"), D("7"), D("0.03465")))
    assert res.notional_usd == D("5.15") and res.fees_usd == D("0.05865")


async def test_fok_that_cannot_fill_entirely_is_rejected_with_no_fill() -> None:
    venue, books = _venue()
    res = await venue.place_order(_req("a", "16", "0.45", TimeInForce.FOK))
    assert res.status is OrderStatus.REJECTED and res.fills == ()
    assert res.reason is not None and res.reason.startswith("fok_not_fillable")
    books["yes"].apply_change(Side.SELL, D("0.40"), D("100"))
    assert await venue.place_order(_req("a", "16", "0.45", TimeInForce.FOK)) == res  # same id, same answer


async def test_same_client_order_id_never_fills_twice() -> None:
    venue, _ = _venue()
    first = await venue.place_order(_req("a", "5", "0.40", TimeInForce.FOK))
    again = await venue.place_order(_req("a", "5", "0.40", TimeInForce.FOK))
    assert first == again and first.status is OrderStatus.FILLED
    # The 0.40 level (5 shares) was taken once; a different order finds it used up.
    other = await venue.place_order(_req("b", "1", "0.40", TimeInForce.FOK))
    assert other.status is OrderStatus.REJECTED


async def test_taken_liquidity_frees_up_when_the_real_level_changes() -> None:
    venue, books = _venue()
    await venue.place_order(_req("a", "5", "0.40"))
    assert (await venue.place_order(_req("b", "2", "0.40"))).status is OrderStatus.OPEN
    books["yes"].apply_change(Side.SELL, D("0.40"), D("7"))  # a new book state at that level
    (changed,) = venue.match_resting("yes")
    assert changed.client_order_id == "b" and changed.status is OrderStatus.FILLED


async def test_sell_walks_the_bids_down_to_the_limit() -> None:
    venue, _ = _venue()
    res = await venue.place_order(_req("s", "8", "0.30", side=Side.SELL))
    assert res.fills == (Fill(D("0.35"), D("6"), D("0")), Fill(D("0.30"), D("2"), D("0")))


@pytest.mark.parametrize(
    ("size", "price"), [("0", "0.4"), ("-1", "0.4"), ("1", "0"), ("1", "1"), ("1", "1.2")]
)
async def test_invalid_orders_are_rejected(size: str, price: str) -> None:
    venue, _ = _venue()
    with pytest.raises(OrderRejected):
        await venue.place_order(_req("x", size, price))
    assert await venue.get_order("x") is None


async def test_missing_book_is_a_transient_error() -> None:
    venue = PaperExchange(lambda _token: None, D(0))
    with pytest.raises(ExchangeError):
        await venue.place_order(_req("x", "1", "0.4"))


@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(1, 30).map(D),
            st.sampled_from(["0.30", "0.35", "0.40", "0.42", "0.45", "0.50"]).map(D),
            st.sampled_from(list(TimeInForce)),
            st.sampled_from(list(Side)),
        ),
        max_size=12,
    )
)
async def test_fills_never_exceed_size_liquidity_or_limit(
    orders: list[tuple[str, D, D, TimeInForce, Side]],
) -> None:
    venue, books = _venue()
    first: dict[str, tuple[OrderRequest, OrderResult]] = {}
    for cid, size, price, tif, side in orders:
        res = await venue.place_order(OrderRequest(cid, "yes", side, price, size, tif))
        req, res0 = first.setdefault(cid, (OrderRequest(cid, "yes", side, price, size, tif), res))
        assert res == res0  # idempotent: a repeated id returns the first result, never fills again
        assert res.filled_size <= req.size
        if req.time_in_force is TimeInForce.FOK:
            assert res.filled_size in (D(0), req.size)
        for fill in res.fills:
            assert fill.price <= req.price if req.side is Side.BUY else fill.price >= req.price
    # Liquidity taken per level never exceeds what the (unchanged) book shows there.
    taken: dict[tuple[Side, D], D] = {}
    for req, res in first.values():
        for fill in res.fills:
            taken[req.side, fill.price] = taken.get((req.side, fill.price), D(0)) + fill.size
    shown = {(Side.BUY, lvl.price): lvl.size for lvl in books["yes"].asks()}
    shown |= {(Side.SELL, lvl.price): lvl.size for lvl in books["yes"].bids()}
    assert all(qty <= shown[key] for key, qty in taken.items())
