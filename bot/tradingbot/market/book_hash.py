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

``book_hash`` runs after every step of the feed, so it is built for speed (bench/book_updates.py): the
text is assembled as bytes from pieces that rarely change (head and tail per token while its
metadata stays the same objects, each side's joined levels cached by the book until that side
changes), and only the timestamp is formatted every time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal

from tradingbot.domain import Side
from tradingbot.market.book import OrderBook, PriceSize


def _levels_json(levels: Sequence[PriceSize]) -> list[str]:
    # Decimal strings are plain ASCII (digits, ".", "E", "-"), so no JSON escaping is needed;
    # building the text directly is several times faster than json.dumps on dicts.
    return ['{"price":"' + str(lvl.price) + '","size":"' + str(lvl.size) + '"}' for lvl in levels]


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _head(market: str, asset_id: str) -> bytes:
    """The current scheme's text up to the timestamp's value."""
    return f'{{"market":{json.dumps(market)},"asset_id":{json.dumps(asset_id)},"timestamp":"'.encode()


def _tail(
    min_order_size: Decimal, tick_size: Decimal, neg_risk: bool, last_trade_price: Decimal | None
) -> bytes:
    """The current scheme's text after the asks."""
    ltp = "" if last_trade_price is None else str(last_trade_price)
    return (
        f'],"min_order_size":"{min_order_size}","tick_size":"{tick_size}",'
        f'"neg_risk":{"true" if neg_risk else "false"},"last_trade_price":{json.dumps(ltp)}}}'
    ).encode()


_MIDDLE = b'","hash":"","bids":['
_BETWEEN_SIDES = b'],"asks":['

_Memo = tuple[str, Decimal, Decimal, bool, Decimal | None, bytes, bytes]
_memo: dict[str, _Memo] = {}
_MEMO_MAX = 4096


def _pieces(
    market: str,
    asset_id: str,
    min_order_size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    last_trade_price: Decimal | None,
) -> tuple[bytes, bytes]:
    """Head and tail text of one token's hash, remembered per token while its inputs are the very
    same objects. Identity, not equality: Decimal("0.01") == Decimal("0.010"), but the hash is over
    the text; a Decimal never changes, so the same object always gives the same text."""
    m = _memo.get(asset_id)
    if (
        m is not None
        and m[0] == market
        and m[1] is min_order_size
        and m[2] is tick_size
        and m[3] is neg_risk
        and m[4] is last_trade_price
    ):
        return m[5], m[6]
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    head = _head(market, asset_id)
    tail = _tail(min_order_size, tick_size, neg_risk, last_trade_price)
    _memo[asset_id] = (market, min_order_size, tick_size, neg_risk, last_trade_price, head, tail)
    return head, tail


def _current_hash_from_parts(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids_ascending: bytes,
    asks_descending: bytes,
    min_order_size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    last_trade_price: Decimal | None,
) -> str:
    head, tail = _pieces(market, asset_id, min_order_size, tick_size, neg_risk, last_trade_price)
    text = b"".join(
        (head, b"%d" % timestamp_ms, _MIDDLE, bids_ascending, _BETWEEN_SIDES, asks_descending, tail)
    )
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()


def current_hash(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids_ascending: Sequence[PriceSize],
    asks_descending: Sequence[PriceSize],
    min_order_size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    last_trade_price: Decimal | None,
) -> str:
    """The current-scheme hash (40 hex chars) of a book given level by level.

    ``last_trade_price`` None is written as ``""``, as REST serves a book with no trade yet.
    """
    return _current_hash_from_parts(
        market=market,
        asset_id=asset_id,
        timestamp_ms=timestamp_ms,
        bids_ascending=",".join(_levels_json(bids_ascending)).encode(),
        asks_descending=",".join(_levels_json(asks_descending)).encode(),
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=last_trade_price,
    )


def legacy_2024_hash(
    *, market: str, asset_id: str, bids: Sequence[PriceSize], asks: Sequence[PriceSize]
) -> str:
    """The 2024-era hash: only market, asset_id, hash and the levels in the order served."""
    return _sha1(
        f'{{"market":{json.dumps(market)},"asset_id":{json.dumps(asset_id)},"hash":"",'
        f'"bids":[{",".join(_levels_json(bids))}],"asks":[{",".join(_levels_json(asks))}]}}'
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
    return _current_hash_from_parts(
        market=book.market,
        asset_id=book.asset_id,
        timestamp_ms=book.timestamp_ms,
        bids_ascending=book.level_json_joined(Side.BUY),
        asks_descending=book.level_json_joined(Side.SELL, descending=True),
        min_order_size=book.min_order_size,
        tick_size=book.tick_size,
        neg_risk=book.neg_risk,
        last_trade_price=book.last_trade_price,
    )
