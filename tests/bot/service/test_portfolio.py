"""Valuation from fills: complete sets at 1 USD, remainders at their mark."""

from __future__ import annotations

from decimal import Decimal as D

from trading_config import MarketSpec
from tradingbot.ledger.rows import Position
from tradingbot.portfolio import value_positions

M = MarketSpec.model_validate({"conditionId": "0x" + "01" * 32, "tokens": ["y", "n"]})


def test_complete_sets_are_worth_one_dollar() -> None:
    v = value_positions([Position("y", D("10"), D("4.0")), Position("n", D("10"), D("5.5"))], [M], {})
    assert v.value_usd == D("10") and v.cost_usd == D("9.5") and v.pnl_usd == D("0.5")
    assert v.exposure_usd == D("9.5")


def test_unhedged_leg_is_marked_at_its_bid_or_zero() -> None:
    positions = [Position("y", D("10"), D("4.0")), Position("n", D("6"), D("3.3"))]
    assert value_positions(positions, [M], {"y": D("0.35")}).value_usd == D("6") + D("4") * D("0.35")
    assert value_positions(positions, [M], {}).pnl_usd == D("6") - D("7.3")


def test_no_positions() -> None:
    v = value_positions([], [M], {})
    assert v.value_usd == 0 and v.pnl_usd == 0 and v.exposure_usd == 0
