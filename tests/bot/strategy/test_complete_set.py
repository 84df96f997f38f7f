"""Complete-set arbitrage math on hand-built books (exact Decimals) and on the real burst."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.bot.market.recordings import TOKEN_A, TOKEN_B, raw
from tradingbot.market.book import Level, OrderBook, complement_book
from tradingbot.market.messages import PriceChangeMessage, parse_event
from tradingbot.market.replay import group_steps
from tradingbot.market.store import BookStore
from tradingbot.strategy.complete_set import Opportunity, evaluate, taker_fee, walk_asks


def _asks(asset: str, *levels: tuple[str, str]) -> OrderBook:
    bk = OrderBook(asset, "0xm")
    bk.apply_snapshot([], [Level(D(p), D(s)) for p, s in levels])
    return bk


YES = _asks("yes", ("0.45", "10"), ("0.40", "5"))  # unsorted on purpose
NO = _asks("no", ("0.50", "20"))


@pytest.mark.parametrize(
    ("size", "min_edge", "fee_rate", "expected"),
    [
        # 5 @ 0.40 + 5 @ 0.45 = 4.25; 10 @ 0.50 = 5; edge 1 - 9.25/10
        ("10", "0.01", "0", Opportunity(D("0.45"), D("0.50"), D("10"), D("9.25"), D("0"), D("0.075"))),
        # fees 5*.02*.4*.6 + 5*.02*.45*.55 + 10*.02*.5*.5 = 0.024 + 0.02475 + 0.05
        (
            "10",
            "0.065",
            "0.02",
            Opportunity(D("0.45"), D("0.50"), D("10"), D("9.25"), D("0.09875"), D("0.065125")),
        ),
        ("10", "0.065125", "0.02", None),  # edge equal to the minimum is not enough
        ("10", "0.07", "0.02", None),
        ("5", "0", "0", Opportunity(D("0.40"), D("0.50"), D("5"), D("4.50"), D("0"), D("0.1"))),
        (
            "15",
            "0",
            "0",
            Opportunity(
                D("0.45"), D("0.50"), D("15"), D("14.00"), D("0"), D("0.0666666666666666666666666667")
            ),
        ),
        ("16", "0", "0", None),  # YES has only 15 shares on offer
        ("21", "0", "0", None),
    ],
)
def test_evaluate_table(size: str, min_edge: str, fee_rate: str, expected: Opportunity | None) -> None:
    assert evaluate(YES, NO, D(size), D(min_edge), D(fee_rate)) == expected


def test_opportunity_profit_is_payout_minus_cost_and_fees() -> None:
    opp = evaluate(YES, NO, D("10"), D("0"), D("0.02"))
    assert opp is not None and opp.profit_usd == D("0.65125") == opp.size * opp.edge


def test_no_opportunity_when_a_side_is_empty() -> None:
    assert evaluate(YES, _asks("no"), D("1"), D("0"), D("0")) is None


@pytest.mark.parametrize(
    ("size", "min_edge", "fee_rate"), [("0", "0", "0"), ("1", "-0.1", "0"), ("1", "0", "-1")]
)
def test_invalid_inputs(size: str, min_edge: str, fee_rate: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        evaluate(YES, NO, D(size), D(min_edge), D(fee_rate))


def test_fee_formula_and_depth_walk() -> None:
    assert taker_fee(D("100"), D("0.5"), D("0.02")) == D("0.5")
    assert taker_fee(D("100"), D("0.99"), D("0.02")) == D("0.0198")
    leg = walk_asks(YES.asks(), D("7"), D("0"))
    assert leg is not None and (leg.price_limit, leg.cost_usd) == (D("0.45"), D("2.90"))
    assert walk_asks(YES.asks(), D("15.01"), D("0")) is None


def test_burst_has_no_arbitrage_at_any_step_but_a_phantom_one_mid_burst() -> None:
    # Token B is mirrored from A (README: pairs mirror exactly), so YES ask + NO ask =
    # 1 + A's spread at every consistent state: no complete-set edge at any step end.
    store = BookStore()
    for step in group_steps(raw("ws_market_burst.json")):
        for obj in step.messages:
            store.apply(parse_event(obj))
        store.flush()
        a, b = store.book(TOKEN_A), store.book(TOKEN_B)
        if a is not None and b is not None:
            assert evaluate(a, b, D("1"), D("0"), D("0")) is None
    # Inside the 3-message burst, after only the first entry, token A is crossed (bid 0.311 >
    # ask 0.301): judged on that transient state the strategy would see a 0.01 edge that never
    # existed, which is why books are only used at step boundaries.
    store = BookStore()
    burst = raw("ws_market_burst.json")
    for obj in burst[:47]:
        store.apply(parse_event(obj))
    msg = parse_event(burst[47])
    assert isinstance(msg, PriceChangeMessage)
    entry = next(e for e in msg.price_changes if e.asset_id == TOKEN_A)
    store.apply(PriceChangeMessage(market=msg.market, timestamp=msg.timestamp, price_changes=[entry]))
    a = store.book(TOKEN_A)
    assert a is not None and a.is_crossed()
    phantom = evaluate(a, complement_book(a, TOKEN_B), D("10"), D("0"), D("0"))
    assert phantom == Opportunity(D("0.301"), D("0.689"), D("10"), D("9.900"), D("0"), D("0.0100"))
