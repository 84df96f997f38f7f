"""Value types shared by market data, strategy, execution and the order ledger.

Prices are USD per outcome share in [0, 1]; sizes are outcome shares; fees are USD. All are
``Decimal`` so that Polymarket's decimal strings (e.g. ``"0.397"``) survive exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Order or book side, spelled as in Polymarket's CLOB API (``"BUY"`` / ``"SELL"``)."""

    BUY = "BUY"
    SELL = "SELL"


class TimeInForce(StrEnum):
    """GTC rests the unfilled remainder; FOK fills the whole size at once or nothing."""

    GTC = "GTC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    """Life cycle of an order as the ledger and the exchange both report it."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order for one outcome token.

    ``price`` is the limit in USD per share ([0, 1]); ``size`` is in shares (> 0).
    ``client_order_id`` is the idempotency key: the exchange and the ledger treat two requests
    with the same id as one order.
    """

    client_order_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    time_in_force: TimeInForce


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: ``size`` shares at ``price`` USD/share, paying ``fee_usd`` in taker fees."""

    price: Decimal
    size: Decimal
    fee_usd: Decimal


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The exchange's view of an order: its status, every fill so far, and why if rejected/failed."""

    client_order_id: str
    status: OrderStatus
    fills: tuple[Fill, ...] = ()
    reason: str | None = None

    @property
    def filled_size(self) -> Decimal:
        """Total shares filled so far."""
        return sum((f.size for f in self.fills), Decimal(0))

    @property
    def fees_usd(self) -> Decimal:
        """Total fees paid so far, USD."""
        return sum((f.fee_usd for f in self.fills), Decimal(0))

    @property
    def notional_usd(self) -> Decimal:
        """Total price x size over all fills, USD (fees excluded)."""
        return sum((f.price * f.size for f in self.fills), Decimal(0))
