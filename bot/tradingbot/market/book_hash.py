"""Polymarket's order-book content hash, recomputed from a book we hold.

Polymarket stamps every book state (``book`` snapshots, each ``price_change`` entry, REST
``/book``) with the SHA-1 of compact JSON built from the book with ``"hash": ""``. Two schemes are
in use (both checked against the recordings in ``shared/data/polymarket``, see its README):

* current: keys ``market, asset_id, timestamp, hash, bids, asks, min_order_size, tick_size,
  neg_risk, last_trade_price`` in that order (the server's struct order, as the official
  py-clob-client's ``generate_orderbook_summary_hash`` documents); bids ascending by price, asks
  descending, i.e. best level last, each level ``{"price", "size"}``;
* 2024 era (``ws_book_full_depth.json``): keys ``market, asset_id, hash, bids, asks`` only.

Prices and sizes are written with ``str(Decimal)``, which reproduces the server's strings because
we parse them into ``Decimal`` without normalising.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal

from tradingbot.market.book import Level, OrderBook


def _levels(levels: Sequence[Level]) -> list[dict[str, str]]:
    return [{"price": str(lvl.price), "size": str(lvl.size)} for lvl in levels]


def _sha1_compact(payload: dict[str, object]) -> str:
    text = json.dumps(payload, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def current_hash(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids_ascending: Sequence[Level],
    asks_descending: Sequence[Level],
    min_order_size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    last_trade_price: Decimal | None,
) -> str:
    """The current-scheme hash (40 hex chars) of a book given level by level.

    ``last_trade_price`` None is written as ``""``, as REST serves a book with no trade yet.
    """
    return _sha1_compact(
        {
            "market": market,
            "asset_id": asset_id,
            "timestamp": str(timestamp_ms),
            "hash": "",
            "bids": _levels(bids_ascending),
            "asks": _levels(asks_descending),
            "min_order_size": str(min_order_size),
            "tick_size": str(tick_size),
            "neg_risk": neg_risk,
            "last_trade_price": "" if last_trade_price is None else str(last_trade_price),
        }
    )


def legacy_2024_hash(*, market: str, asset_id: str, bids: Sequence[Level], asks: Sequence[Level]) -> str:
    """The 2024-era hash: only market, asset_id, hash and the levels in the order served."""
    return _sha1_compact(
        {"market": market, "asset_id": asset_id, "hash": "", "bids": _levels(bids), "asks": _levels(asks)}
    )


def book_hash(book: OrderBook) -> str | None:
    """The current-scheme hash of ``book``'s present state, or None if an input is unknown.

    Needs ``timestamp_ms``, ``tick_size``, ``min_order_size`` and ``neg_risk`` on the book; the
    WS channel does not carry the last two, so they come from REST or configuration.
    """
    if (
        book.timestamp_ms is None
        or book.tick_size is None
        or book.min_order_size is None
        or book.neg_risk is None
    ):
        return None
    return current_hash(
        market=book.market,
        asset_id=book.asset_id,
        timestamp_ms=book.timestamp_ms,
        bids_ascending=book.bids()[::-1],
        asks_descending=book.asks()[::-1],
        min_order_size=book.min_order_size,
        tick_size=book.tick_size,
        neg_risk=book.neg_risk,
        last_trade_price=book.last_trade_price,
    )
