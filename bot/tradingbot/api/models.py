"""Response bodies of the bot's HTTP API, so the OpenAPI schema documents them.

Amounts (prices in USD per share in [0, 1], sizes in shares, values in USD) are decimal strings, never
floats, so they survive exactly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Live(BaseModel):
    """``/health/live``: answering at all is the proof."""

    status: Literal["ok"] = "ok"


class CheckOut(BaseModel):
    """One readiness check: passed or not, its duration in seconds, and why (never a credential)."""

    ok: bool
    latency_seconds: float
    detail: str


class Ready(BaseModel):
    """``/health/ready``: ``ready`` (HTTP 200) only when every check passes, else ``not_ready`` (503)."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut]


class RoleOut(BaseModel):
    """What this process does: ``mode`` standalone or cluster, its color, the role controller's state
    (passive, activating, active, fenced), and whether it is placing orders now."""

    mode: str | None
    color: str | None
    state: str
    trading: bool


class FenceOut(BaseModel):
    """The fencing token this process holds (absent while it holds none)."""

    token: int
    epoch: int
    holder: str


class Health(BaseModel):
    """``/health``: the readiness checks plus who this process is (HTTP 503 when a check fails)."""

    status: Literal["ok", "degraded"]
    version: str
    uptime_seconds: float
    bot_id: str
    role: RoleOut
    epoch: int | None = Field(description="The TradingBot's status.epoch this process last saw.")
    fence: FenceOut | None
    checks: dict[str, CheckOut]


class PositionOut(BaseModel):
    """Net holding of one token from the ledger's fills: shares, and USD paid including fees."""

    token_id: str
    shares: str
    cost_usd: str


class Positions(BaseModel):
    """``/positions``: every position, valued at the best bids (complete sets at 1 USD)."""

    positions: list[PositionOut]
    value_usd: str
    pnl_usd: str
    exposure_usd: str


class OrderOut(BaseModel):
    """One order of the ledger, with the epoch and fencing token that wrote it."""

    client_order_id: str
    market: str
    token_id: str
    side: str
    price: str
    size: str
    time_in_force: str
    status: str
    reason: str | None
    epoch: int
    fence_token: int | None
    created_at: str
    updated_at: str


class Orders(BaseModel):
    """``/orders``: the newest orders, newest first."""

    orders: list[OrderOut]


class Unavailable(BaseModel):
    """503 of a ledger view while PostgreSQL cannot be reached (retry later)."""

    error: str
    detail: str
