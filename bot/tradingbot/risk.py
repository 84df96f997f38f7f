"""The risk gate before every order (pure): kill switch, stale data, size, exposure, daily loss.

Checks run in a fixed order and the first failing one names the rejection; the reason's value is the
``reason`` label of ``ploy_orders_rejected_total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from trading_config import RiskSpec, StrategySpec


class RejectReason(StrEnum):
    """Why the risk gate refused an order (a Prometheus label value)."""

    KILL_SWITCH = "kill_switch"
    NO_MARKET_DATA = "no_market_data"
    STALE_MARKET_DATA = "stale_market_data"
    ORDER_SIZE = "order_size"
    EXPOSURE = "max_exposure"
    DAILY_LOSS = "daily_loss"


@dataclass(frozen=True)
class RiskLimits:
    """Limits in USD and shares; ``max_data_age_s`` is the oldest market data one may trade on."""

    max_exposure_usd: Decimal
    max_order_size: Decimal
    max_daily_loss_usd: Decimal
    kill_switch: bool
    max_data_age_s: float

    @classmethod
    def from_config(cls, risk: RiskSpec, strategy: StrategySpec) -> RiskLimits:
        """Limits from the ``trading.risk`` and ``trading.strategy`` config blocks."""
        return cls(
            max_exposure_usd=risk.max_exposure_usd,
            max_order_size=strategy.max_order_size,
            max_daily_loss_usd=risk.max_daily_loss_usd,
            kill_switch=risk.kill_switch,
            max_data_age_s=risk.max_data_age_seconds,
        )


@dataclass(frozen=True)
class RiskState:
    """What the gate knows now: ``exposure_usd`` already at risk, today's ``daily_pnl_usd`` (negative is
    a loss) and the market data age in seconds (None: no data yet)."""

    exposure_usd: Decimal
    daily_pnl_usd: Decimal
    data_age_s: float | None


@dataclass(frozen=True)
class ProposedOrder:
    """An order (or a set of legs placed together) of ``size`` shares per leg costing ``cost_usd``."""

    size: Decimal
    cost_usd: Decimal


def check(limits: RiskLimits, state: RiskState, order: ProposedOrder) -> RejectReason | None:
    """None when ``order`` may be placed, else the first reason it may not."""
    if limits.kill_switch:
        return RejectReason.KILL_SWITCH
    if state.data_age_s is None:
        return RejectReason.NO_MARKET_DATA
    if state.data_age_s > limits.max_data_age_s:
        return RejectReason.STALE_MARKET_DATA
    if order.size > limits.max_order_size:
        return RejectReason.ORDER_SIZE
    if state.exposure_usd + order.cost_usd > limits.max_exposure_usd:
        return RejectReason.EXPOSURE
    loss = -state.daily_pnl_usd
    if loss > 0 and loss >= limits.max_daily_loss_usd:
        return RejectReason.DAILY_LOSS
    return None
