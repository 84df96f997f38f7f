"""Rows of the order ledger as the bot reads them: orders, fills, positions (exact decimals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from tradingbot.domain import OrderRequest, OrderStatus, Side, TimeInForce

UNSETTLED = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
"""Statuses an order can still leave; every other status is final."""


class LedgerConflict(RuntimeError):
    """A client order id is reused for a different order (the idempotency key must name one order)."""


@dataclass(frozen=True)
class StoredOrder:
    """An order row: the request, the market's condition id, the epoch that wrote it, its status."""

    request: OrderRequest
    market: str
    epoch: int
    status: OrderStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime
    token: int | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class StoredFill:
    """A fill row: ``size`` shares of ``token_id`` at ``price`` USD/share, ``fee_usd`` paid."""

    client_order_id: str
    seq: int
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee_usd: Decimal
    epoch: int
    created_at: datetime


@dataclass(frozen=True)
class Position:
    """Net holding of one token derived from fills: ``shares`` held and ``cost_usd`` paid incl. fees."""

    token_id: str
    shares: Decimal
    cost_usd: Decimal


def order_from_row(row: asyncpg.Record) -> StoredOrder:
    return StoredOrder(
        request=OrderRequest(
            client_order_id=row["client_order_id"],
            token_id=row["token_id"],
            side=Side(row["side"]),
            price=row["price"],
            size=row["size"],
            time_in_force=TimeInForce(row["tif"]),
        ),
        market=row["market"],
        epoch=int(row["epoch"]),
        status=OrderStatus(row["status"]),
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        token=None if row["token"] is None else int(row["token"]),
        expires_at=row["expires_at"],
    )
