"""The risk gate, table-tested: each limit rejects with its own reason, in a fixed order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradingbot.risk import ProposedOrder, RejectReason, RiskLimits, RiskState, check

LIMITS = RiskLimits(
    max_exposure_usd=D("500"), max_order_size=D("50"), max_daily_loss_usd=D("100"), kill_switch=False,
    max_data_age_s=30.0,
)  # fmt: skip


def state(exposure: str = "0", pnl: str = "0", age: float | None = 1.0) -> RiskState:
    return RiskState(D(exposure), D(pnl), age)


def order(size: str = "10", cost: str = "9.5") -> ProposedOrder:
    return ProposedOrder(D(size), D(cost))


KILL = RiskLimits(**{**LIMITS.__dict__, "kill_switch": True})
NO_LOSS = RiskLimits(**{**LIMITS.__dict__, "max_daily_loss_usd": D("0")})

CASES = [
    ("allowed", LIMITS, state(), order(), None),
    ("kill switch wins over everything", KILL, state(age=None), order(size="99"), RejectReason.KILL_SWITCH),
    ("no data yet", LIMITS, state(age=None), order(), RejectReason.NO_MARKET_DATA),
    ("stale data", LIMITS, state(age=30.5), order(), RejectReason.STALE_MARKET_DATA),
    ("data exactly at the limit is fresh", LIMITS, state(age=30.0), order(), None),
    ("order too large", LIMITS, state(), order(size="50.01"), RejectReason.ORDER_SIZE),
    ("order at max size", LIMITS, state(), order(size="50"), None),
    ("exposure would exceed", LIMITS, state(exposure="490.6"), order(), RejectReason.EXPOSURE),
    ("exposure reaches the limit exactly", LIMITS, state(exposure="490.5"), order(), None),
    ("daily loss reached", LIMITS, state(pnl="-100"), order(), RejectReason.DAILY_LOSS),
    ("daily loss below limit", LIMITS, state(pnl="-99.99"), order(), None),
    ("profit is never a loss", LIMITS, state(pnl="1000"), order(), None),
    ("zero loss limit allows a flat day", NO_LOSS, state(pnl="0"), order(), None),
    ("zero loss limit blocks any loss", NO_LOSS, state(pnl="-0.01"), order(), RejectReason.DAILY_LOSS),
    ("stale beats size", LIMITS, state(age=99.0), order(size="99"), RejectReason.STALE_MARKET_DATA),
]


@pytest.mark.parametrize(
    ("limits", "st", "proposed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_risk_gate(
    limits: RiskLimits, st: RiskState, proposed: ProposedOrder, expected: RejectReason | None
) -> None:
    assert check(limits, st, proposed) == expected


def test_reason_labels_are_stable() -> None:
    assert [r.value for r in RejectReason] == [
        "kill_switch", "no_market_data", "stale_market_data", "order_size", "max_exposure", "daily_loss",
    ]  # fmt: skip
