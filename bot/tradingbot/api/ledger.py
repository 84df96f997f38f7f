"""Read-only views of the order ledger: ``/positions`` and ``/orders``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradingbot.api.deps import RuntimeDep
from tradingbot.api.models import OrderOut, Orders, PositionOut, Positions, Unavailable

router = APIRouter(tags=["ledger"], responses={503: {"model": Unavailable, "description": "no database"}})


@router.get("/positions", response_model=Positions)
async def positions(rt: RuntimeDep) -> Positions:
    """Net positions per token derived from the ledger's fills, valued at the current best bids
    (complete sets at 1 USD)."""
    rows = await rt.ledger.positions()
    valuation = await rt.trader.valuation()
    return Positions(
        positions=[
            PositionOut(token_id=p.token_id, shares=str(p.shares), cost_usd=str(p.cost_usd)) for p in rows
        ],
        value_usd=str(valuation.value_usd),
        pnl_usd=str(valuation.pnl_usd),
        exposure_usd=str(valuation.exposure_usd),
    )


@router.get("/orders", response_model=Orders)
async def orders(rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Orders:
    """The ``limit`` newest orders of this bot, newest first."""
    rows = await rt.ledger.recent_orders(limit)
    return Orders(
        orders=[
            OrderOut(
                client_order_id=o.request.client_order_id,
                market=o.market,
                token_id=o.request.token_id,
                side=o.request.side.value,
                price=str(o.request.price),
                size=str(o.request.size),
                time_in_force=o.request.time_in_force.value,
                status=o.status.value,
                reason=o.reason,
                epoch=o.epoch,
                fence_token=o.token,
                created_at=o.created_at.isoformat(),
                updated_at=o.updated_at.isoformat(),
            )
            for o in rows
        ]
    )
