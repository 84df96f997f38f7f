"""The unwind policy for an unhedged leg (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradingbot.domain import Fill, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.strategy.unwind import unwind_order


def filled(*fills: tuple[str, str]) -> OrderResult:
    return OrderResult(
        "yes", OrderStatus.FILLED, tuple(Fill(Decimal(p), Decimal(s), Decimal(0)) for p, s in fills)
    )


@pytest.mark.parametrize(
    ("fills", "min_edge", "price", "size"),
    [
        ((("0.40", "10"),), "0.01", "0.39", "10"),  # average minus the edge the set was bought for
        ((("0.40", "5"), ("0.42", "5")), "0.02", "0.39", "10"),  # average over levels, 0.41 - 0.02
        ((("0.02", "3"),), "0.05", "0.01", "3"),  # never below one tick
    ],
)
def test_sell_back_everything_filled_at_no_less_than_average_minus_min_edge(
    fills: tuple[tuple[str, str], ...], min_edge: str, price: str, size: str
) -> None:
    req = unwind_order(filled(*fills), "1001", Decimal(min_edge), "unwind-1")
    assert req is not None
    assert (req.side, req.time_in_force, req.price, req.size) == (
        Side.SELL,
        TimeInForce.FOK,
        Decimal(price),
        Decimal(size),
    )


def test_nothing_filled_nothing_to_unwind() -> None:
    assert unwind_order(OrderResult("yes", OrderStatus.REJECTED), "1001", Decimal("0.01"), "u") is None
