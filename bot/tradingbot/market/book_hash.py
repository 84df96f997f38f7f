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

from tradingbot.domain import Side
from tradingbot.market.book import Level, OrderBook

Pairs = Sequence[tuple[Decimal, Decimal]]


def _levels_json(pairs: Pairs) -> list[str]:
    # Decimal strings are plain ASCII (digits, ".", "E", "-"), so no JSON escaping is needed;
    # building the text directly is several times faster than json.dumps on dicts.
    return ['{"price":"' + str(p) + '","size":"' + str(s) + '"}' for p, s in pairs]


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _pairs(levels: Sequence[Level]) -> list[tuple[Decimal, Decimal]]:
    return [(lvl.price, lvl.size) for lvl in levels]


def _current_hash_from_json(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids_ascending: Sequence[str],
    asks_descending: Sequence[str],
    min_order_size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    last_trade_price: Decimal | None,
) -> str:
    ltp = "" if last_trade_price is None else str(last_trade_price)
    text = (
        f'{{"market":{json.dumps(market)},"asset_id":{json.dumps(asset_id)},'
        f'"timestamp":"{timestamp_ms}","hash":"",'
        f'"bids":[{",".join(bids_ascending)}],"asks":[{",".join(asks_descending)}],'
        f'"min_order_size":"{min_order_size}","tick_size":"{tick_size}",'
        f'"neg_risk":{"true" if neg_risk else "false"},"last_trade_price":{json.dumps(ltp)}}}'
    )
    return _sha1(text)


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
    return _current_hash_from_json(
        market=market,
        asset_id=asset_id,
        timestamp_ms=timestamp_ms,
        bids_ascending=_levels_json(_pairs(bids_ascending)),
        asks_descending=_levels_json(_pairs(asks_descending)),
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=last_trade_price,
    )


def legacy_2024_hash(*, market: str, asset_id: str, bids: Sequence[Level], asks: Sequence[Level]) -> str:
    """The 2024-era hash: only market, asset_id, hash and the levels in the order served."""
    return _sha1(
        f'{{"market":{json.dumps(market)},"asset_id":{json.dumps(asset_id)},"hash":"",'
        f'"bids":[{",".join(_levels_json(_pairs(bids)))}],"asks":[{",".join(_levels_json(_pairs(asks)))}]}}'
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
    return _current_hash_from_json(
        market=book.market,
        asset_id=book.asset_id,
        timestamp_ms=book.timestamp_ms,
        bids_ascending=book.level_json(Side.BUY),
        asks_descending=book.level_json(Side.SELL)[::-1],
        min_order_size=book.min_order_size,
        tick_size=book.tick_size,
        neg_risk=book.neg_risk,
        last_trade_price=book.last_trade_price,
    )
