"""One outcome token's limit order book, built from a snapshot plus level deltas.

Shapes follow Polymarket's CLOB market channel (``book`` snapshots and ``price_change`` deltas,
docs.polymarket.com market-channel page; recordings in ``shared/data/polymarket``): a level is a
price in USD per share ([0, 1]) with the total resting size in shares at that price, and a delta
sets a level's size absolutely, size 0 deleting the level.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tradingbot.domain import Side

ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Level:
    """A price level: ``price`` USD/share in [0, 1], ``size`` shares resting at that price."""

    price: Decimal
    size: Decimal


class PriceSize(Protocol):
    """Anything with a ``price`` and a ``size`` (a ``Level``, a parsed snapshot entry)."""

    @property
    def price(self) -> Decimal: ...

    @property
    def size(self) -> Decimal: ...


class _SideBook:
    """Levels of one side keyed by price, with prices kept sorted ascending for O(log n) updates.

    Prices and sizes stay ``Decimal`` (exact, and ``str`` of them is the server's text for the hash).
    """

    __slots__ = ("_asc", "_desc", "_json", "_prices", "_sizes")

    def __init__(self) -> None:
        self._sizes: dict[Decimal, Decimal] = {}
        self._prices: list[Decimal] = []
        # Each level's compact-JSON text, kept current, and the side's joined text (ascending,
        # descending) until the side next changes: hashing a book after every step then formats one
        # level and joins one side instead of formatting every Decimal again (see book_hash).
        self._json: dict[Decimal, str] = {}
        self._asc: bytes | None = None
        self._desc: bytes | None = None

    def clear(self) -> None:
        self._sizes.clear()
        self._prices.clear()
        self._json.clear()
        self._asc = self._desc = None

    def set(self, price: Decimal, size: Decimal) -> None:
        self._asc = self._desc = None
        sizes = self._sizes
        if size == ZERO:
            if sizes.pop(price, None) is not None:
                prices = self._prices
                del prices[bisect.bisect_left(prices, price)]
                del self._json[price]
            return
        if price not in sizes:
            bisect.insort(self._prices, price)
        sizes[price] = size
        self._json[price] = '{"price":"%s","size":"%s"}' % (price, size)  # noqa: UP031 (fastest)

    def load(self, levels: Iterable[PriceSize]) -> None:
        """Replace every level; the same as ``clear`` then ``set`` of each level in order (a later
        entry for a price wins, size 0 leaves none), in one pass."""
        latest = {lvl.price: lvl.size for lvl in levels}
        self._sizes = sizes = {p: q for p, q in latest.items() if q != ZERO}
        self._prices = sorted(sizes)
        self._json = {p: '{"price":"%s","size":"%s"}' % (p, q) for p, q in sizes.items()}  # noqa: UP031
        self._asc = self._desc = None

    def json_ascending(self) -> list[str]:
        text = self._json
        return [text[p] for p in self._prices]

    def joined_json(self, descending: bool) -> bytes:
        """Every level's JSON joined with ``,`` as UTF-8, ascending or descending by price."""
        text = self._json
        if descending:
            if self._desc is None:
                self._desc = ",".join([text[p] for p in reversed(self._prices)]).encode()
            return self._desc
        if self._asc is None:
            self._asc = ",".join([text[p] for p in self._prices]).encode()
        return self._asc

    def ascending(self) -> list[Level]:
        sizes = self._sizes
        return [Level(p, sizes[p]) for p in self._prices]

    def lowest_price(self) -> Decimal | None:
        return self._prices[0] if self._prices else None

    def highest_price(self) -> Decimal | None:
        return self._prices[-1] if self._prices else None

    def lowest(self) -> Level | None:
        if not self._prices:
            return None
        p = self._prices[0]
        return Level(p, self._sizes[p])

    def highest(self) -> Level | None:
        if not self._prices:
            return None
        p = self._prices[-1]
        return Level(p, self._sizes[p])

    def __len__(self) -> int:
        return len(self._prices)


class OrderBook:
    """Bids and asks of one token (``asset_id``) in one market (condition id ``market``).

    Besides the levels it keeps the snapshot metadata Polymarket hashes the book with
    (``tick_size``, ``min_order_size``, ``neg_risk``, ``last_trade_price``) and the server
    timestamp of the last update (``timestamp_ms``, Unix epoch milliseconds).
    """

    def __init__(self, asset_id: str, market: str) -> None:
        self.asset_id = asset_id
        self.market = market
        self._bids = _SideBook()
        self._asks = _SideBook()
        self.timestamp_ms: int | None = None
        self.tick_size: Decimal | None = None
        self.min_order_size: Decimal | None = None
        self.neg_risk: bool | None = None
        self.last_trade_price: Decimal | None = None
        self.hash: str | None = None
        self.has_snapshot = False

    def apply_snapshot(
        self,
        bids: Iterable[PriceSize],
        asks: Iterable[PriceSize],
        tick_size: Decimal | None = None,
        *,
        timestamp_ms: int | None = None,
        min_order_size: Decimal | None = None,
        neg_risk: bool | None = None,
        last_trade_price: Decimal | None = None,
        hash: str | None = None,
    ) -> None:
        """Replace every level with ``bids``/``asks`` (``Level``s or anything with ``price`` and
        ``size``; any order; zero-size levels are skipped).

        Metadata given as None keeps its previous value, because some ``book`` messages (e.g. the
        final one in ``ws_market_burst.json``) omit ``tick_size`` and ``last_trade_price``.
        """
        self._bids.load(bids)
        self._asks.load(asks)
        if tick_size is not None:
            self.tick_size = tick_size
        if timestamp_ms is not None:
            self.timestamp_ms = timestamp_ms
        if min_order_size is not None:
            self.min_order_size = min_order_size
        if neg_risk is not None:
            self.neg_risk = neg_risk
        if last_trade_price is not None:
            self.last_trade_price = last_trade_price
        self.hash = hash
        self.has_snapshot = True

    def apply_change(self, side: Side, price: Decimal, size: Decimal) -> None:
        """Set the size resting at ``price`` on ``side`` (BUY = bids, SELL = asks); 0 deletes it."""
        (self._bids if side is Side.BUY else self._asks).set(price, size)

    def best_bid(self) -> Level | None:
        """Highest bid, or None when there are no bids."""
        return self._bids.highest()

    def best_bid_price(self) -> Decimal | None:
        """Price of the highest bid, or None when there are no bids."""
        return self._bids.highest_price()

    def best_ask_price(self) -> Decimal | None:
        """Price of the lowest ask, or None when there are no asks."""
        return self._asks.lowest_price()

    def best_ask(self) -> Level | None:
        """Lowest ask, or None when there are no asks."""
        return self._asks.lowest()

    def bids(self) -> list[Level]:
        """Bids, best (highest price) first."""
        return self._bids.ascending()[::-1]

    def asks(self) -> list[Level]:
        """Asks, best (lowest price) first."""
        return self._asks.ascending()

    def level_json(self, side: Side) -> list[str]:
        """Each level of one side as compact JSON ``{"price":"…","size":"…"}``, ascending by price.

        The strings are those Polymarket's book hash is computed over (see ``book_hash``).
        """
        return (self._bids if side is Side.BUY else self._asks).json_ascending()

    def level_json_joined(self, side: Side, descending: bool = False) -> bytes:
        """``level_json(side)`` joined with ``,`` as UTF-8 (reversed when ``descending``); cached
        until that side changes, so hashing the book after a change re-joins only the changed side."""
        return (self._bids if side is Side.BUY else self._asks).joined_json(descending)

    def depth(self) -> tuple[int, int]:
        """Number of (bid, ask) levels."""
        return len(self._bids), len(self._asks)

    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (locked or crossed)."""
        bb, ba = self._bids.highest_price(), self._asks.lowest_price()
        return bb is not None and ba is not None and bb >= ba

    def copy(self) -> OrderBook:
        """An independent copy with the same levels and metadata."""
        other = OrderBook(self.asset_id, self.market)
        other.apply_snapshot(
            self._bids.ascending(),
            self._asks.ascending(),
            self.tick_size,
            timestamp_ms=self.timestamp_ms,
            min_order_size=self.min_order_size,
            neg_risk=self.neg_risk,
            last_trade_price=self.last_trade_price,
            hash=self.hash,
        )
        other.has_snapshot = self.has_snapshot
        return other

    def __repr__(self) -> str:
        bb, ba = self.best_bid(), self.best_ask()
        return (
            f"OrderBook(asset_id={self.asset_id[:8]}…, bid={bb.price if bb else None}, "
            f"ask={ba.price if ba else None}, depth={self.depth()}, ts={self.timestamp_ms})"
        )


def complement_book(book: OrderBook, asset_id: str) -> OrderBook:
    """The book of the other outcome token of a binary market, mirrored from ``book``.

    In Polymarket's binary markets a bid for YES at p is an offer of NO at 1 - p (the CLOB matches
    them through minting/merging), so YES bids become NO asks at 1 - p with the same size and vice
    versa. ``ws_market_burst.json`` shows it: every price_change pair has prices summing to 1 and
    equal sizes, and its 49 token B hashes recompute from the book mirrored this way.
    """
    out = OrderBook(asset_id, book.market)
    out.apply_snapshot(
        [Level(ONE - lvl.price, lvl.size) for lvl in book.asks()],
        [Level(ONE - lvl.price, lvl.size) for lvl in book.bids()],
        book.tick_size,
        timestamp_ms=book.timestamp_ms,
        min_order_size=book.min_order_size,
        neg_risk=book.neg_risk,
        # Not mirrored: in ws_market_burst.json token B's hashes recompute with token A's last
        # trade price ("0.255", later "0.301"), i.e. the market's last trade as quoted for A.
        last_trade_price=book.last_trade_price,
    )
    return out
