"""Typed Polymarket CLOB market-channel messages and their parser.

Shapes are those of the WebSocket market channel (docs.polymarket.com, "Market Channel") as seen in
the recordings under ``shared/data/polymarket`` (``ws_market_burst.json``, ``ws_book_snapshot.json``,
``ws_market_*_msg.json``) and the REST ``GET /book`` response (``rest_book_empty_ask.json``).
Prices (USD per share, [0, 1]) and sizes (shares) arrive as decimal strings and become ``Decimal``;
timestamps arrive as strings of Unix epoch milliseconds and become ``int``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tradingbot.domain import Side
from tradingbot.market.book import Level


class MessageError(ValueError):
    """A message that cannot be used; ``reason`` is a short metric label (e.g. ``invalid_json``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _decimal(value: object) -> Decimal:
    # Polymarket sends decimal strings; a JSON float would already have lost exactness.
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        try:
            d = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal string: {value!r}") from exc
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    else:
        raise ValueError(f"expected a decimal string, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"not finite: {value!r}")
    return d


def _price(value: object) -> Decimal:
    d = _decimal(value)
    if not Decimal(0) <= d <= Decimal(1):
        raise ValueError(f"price outside [0, 1]: {d}")
    return d


def _size(value: object) -> Decimal:
    d = _decimal(value)
    if d < 0:
        raise ValueError(f"negative size: {d}")
    return d


def _optional_price(value: object) -> Decimal | None:
    # REST books say last_trade_price "" before the first trade.
    if value is None or value == "":
        return None
    return _price(value)


def _millis(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not a timestamp")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str) and value.isdigit():
        ms = int(value)
    else:
        raise ValueError(f"expected epoch milliseconds, got {value!r}")
    if ms <= 0:
        raise ValueError("timestamp must be positive")
    return ms


Price = Annotated[Decimal, BeforeValidator(_price)]
Size = Annotated[Decimal, BeforeValidator(_size)]
OptionalPrice = Annotated[Decimal | None, BeforeValidator(_optional_price)]
Millis = Annotated[int, BeforeValidator(_millis)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PriceLevel(_Model):
    """One ``{"price": "0.3", "size": "5000"}`` entry of a book side."""

    price: Price
    size: Size

    def level(self) -> Level:
        """As a book ``Level``."""
        return Level(self.price, self.size)


class BookMessage(_Model):
    """A full snapshot of one token's book (WS ``book`` event or REST ``GET /book`` response).

    ``tick_size``, ``last_trade_price``, ``min_order_size`` and ``neg_risk`` are optional: the
    2024-era format and some WS snapshots omit them, and only REST carries the last two.
    """

    event_type: Literal["book"] = "book"
    market: NonEmpty
    asset_id: NonEmpty
    timestamp: Millis
    hash: str | None = None
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    tick_size: Price | None = None
    last_trade_price: OptionalPrice = None
    min_order_size: Size | None = None
    neg_risk: bool | None = None


class PriceChange(_Model):
    """One entry of a ``price_change`` event: the new total ``size`` at ``price`` on ``side``.

    ``side`` BUY changes the bids, SELL the asks; size 0 removes the level. ``hash``,
    ``best_bid`` and ``best_ask`` describe the token's book after the change (see the README notes
    on ``ws_market_burst.json`` for same-timestamp bursts).
    """

    asset_id: NonEmpty
    price: Price
    size: Size
    side: Side
    hash: str | None = None
    best_bid: OptionalPrice = None
    best_ask: OptionalPrice = None


class PriceChangeMessage(_Model):
    """A ``price_change`` event: level deltas for one or more tokens of ``market`` at ``timestamp``."""

    event_type: Literal["price_change"] = "price_change"
    market: NonEmpty
    timestamp: Millis
    price_changes: Annotated[list[PriceChange], Field(min_length=1)]


class LastTradePriceMessage(_Model):
    """A ``last_trade_price`` event: a trade of ``size`` at ``price``; ``side`` is the taker's."""

    event_type: Literal["last_trade_price"] = "last_trade_price"
    market: NonEmpty
    asset_id: NonEmpty
    timestamp: Millis
    price: Price
    size: Size
    side: Side
    fee_rate_bps: Size | None = None


class TickSizeChangeMessage(_Model):
    """A ``tick_size_change`` event (the price increment changes near the extremes 0 and 1)."""

    event_type: Literal["tick_size_change"] = "tick_size_change"
    market: NonEmpty
    asset_id: NonEmpty
    timestamp: Millis
    old_tick_size: Price
    new_tick_size: Price


class BestBidAskMessage(_Model):
    """A ``best_bid_ask`` event (only with ``custom_feature_enabled``); informational here."""

    event_type: Literal["best_bid_ask"] = "best_bid_ask"
    market: NonEmpty
    asset_id: NonEmpty
    timestamp: Millis
    best_bid: OptionalPrice = None
    best_ask: OptionalPrice = None
    spread: Size | None = None


class MarketResolvedMessage(_Model):
    """A ``market_resolved`` event: ``winning_asset_id`` won; the market stops trading."""

    event_type: Literal["market_resolved"] = "market_resolved"
    market: NonEmpty
    timestamp: Millis
    assets_ids: list[str] = Field(default_factory=list)
    winning_asset_id: str | None = None
    winning_outcome: str | None = None


MarketMessage = (
    BookMessage
    | PriceChangeMessage
    | LastTradePriceMessage
    | TickSizeChangeMessage
    | BestBidAskMessage
    | MarketResolvedMessage
)

_BY_EVENT_TYPE: dict[str, type[MarketMessage]] = {
    "book": BookMessage,
    "price_change": PriceChangeMessage,
    "last_trade_price": LastTradePriceMessage,
    "tick_size_change": TickSizeChangeMessage,
    "best_bid_ask": BestBidAskMessage,
    "market_resolved": MarketResolvedMessage,
}


def parse_event(obj: object) -> MarketMessage:
    """Parse one decoded JSON object into its typed message.

    Raises ``MessageError`` with reason ``not_object``, ``missing_event_type``,
    ``unknown_event_type`` or ``invalid_fields``.
    """
    if not isinstance(obj, dict):
        raise MessageError("not_object", type(obj).__name__)
    event_type = obj.get("event_type")
    if not isinstance(event_type, str):
        raise MessageError("missing_event_type")
    model = _BY_EVENT_TYPE.get(event_type)
    if model is None:
        raise MessageError("unknown_event_type", event_type[:40])
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise MessageError("invalid_fields", str(exc.errors()[0].get("loc", ""))) from exc


def decode_frame(text: str | bytes) -> list[object]:
    """Decode one WebSocket text frame into its JSON objects.

    Polymarket sends either a single object or an array of objects per frame (the initial ``book``
    snapshots come as an array). Raises ``MessageError`` with reason ``invalid_json``, or ``too_deep``
    when arrays/objects are nested beyond the interpreter's recursion limit (about 1,000 levels;
    ``json``'s C decoder recurses once per level and raises ``RecursionError``, not ``ValueError``).
    """
    try:
        data: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError("invalid_json", str(exc)[:80]) from exc
    except RecursionError:
        raise MessageError("too_deep") from None
    return list(data) if isinstance(data, list) else [data]


def parse_rest_book(obj: object) -> BookMessage:
    """Parse a REST ``GET /book`` response body (decoded JSON; no ``event_type`` field).

    Raises ``MessageError`` with reason ``not_object`` or ``invalid_fields``.
    """
    if not isinstance(obj, dict):
        raise MessageError("not_object", type(obj).__name__)
    try:
        return BookMessage.model_validate({**obj, "event_type": "book"})
    except ValidationError as exc:
        raise MessageError("invalid_fields", str(exc.errors()[0].get("loc", ""))) from exc
