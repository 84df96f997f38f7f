"""Per-token order books maintained from parsed market-channel messages (pure, no I/O).

``BookStore.apply`` takes typed messages in arrival order and reports which books changed and
which must be re-fetched from REST ``/book``. It detects:

* gaps: a ``price_change`` for a token we hold no snapshot of (and cannot mirror from its
  complement token);
* mismatches: at the end of each *step* (all messages of one market sharing a timestamp) the
  book must have the hash and best bid/ask the server stated on the step's last entry for it.
  Checking per step, not per entry, is required: in a same-timestamp burst Polymarket stamps every
  entry with the post-burst state (``shared/data/polymarket/README.md``, notes on
  ``ws_market_burst.json``).

The hash needs ``min_order_size`` and ``neg_risk``, which the WS channel does not send
(``MarketParams``, from configuration or a REST snapshot), and the last trade price, which becomes
unknown when a step crosses the book (the matching engine traded, and the ``price_change`` stream
does not say at what price) until a ``last_trade_price`` message or a snapshot tells it.
Checks whose inputs are unknown are counted as skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from tradingbot.market.book import OrderBook, complement_book
from tradingbot.market.book_hash import book_hash, legacy_2024_hash
from tradingbot.market.messages import (
    BookMessage,
    LastTradePriceMessage,
    MarketMessage,
    PriceChange,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from tradingbot.market.metrics import MarketMetrics


@dataclass(frozen=True, slots=True)
class MarketParams:
    """Book-hash inputs the WS channel omits: minimum order size (shares) and negative-risk flag."""

    min_order_size: Decimal
    neg_risk: bool


@dataclass(slots=True)
class ApplyOutcome:
    """What one ``apply``/``flush`` did: books that changed, books to re-fetch (asset_id -> reason)."""

    changed: set[str] = field(default_factory=set)
    resync: dict[str, str] = field(default_factory=dict)

    def merge(self, other: ApplyOutcome) -> None:
        """Add ``other``'s changes and resync requests to this outcome."""
        self.changed |= other.changed
        self.resync.update(other.resync)


class _Claim(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is made per level change, and a frozen dataclass's
    # __init__ (object.__setattr__ per field) was a measurable part of it.
    timestamp_ms: int
    hash: str | None
    best_bid: Decimal | None
    best_ask: Decimal | None


@dataclass(frozen=True, slots=True)
class CheckCounts:
    """Totals of integrity checks so far (also exported as metrics)."""

    hash_match: int
    hash_mismatch: int
    hash_skipped: int
    top_match: int
    top_mismatch: int


class BookStore:
    """The books of every token seen, kept consistent with the server's hashes.

    ``complements`` pairs the two outcome tokens of a binary market (either order); pairs are also
    learned from ``price_change`` messages that carry exactly two tokens of one market. A token
    with no snapshot of its own is mirrored from its complement's book (``complement_book``).
    """

    def __init__(
        self,
        *,
        market_params: Mapping[str, MarketParams] | None = None,
        complements: Iterable[tuple[str, str]] = (),
        metrics: MarketMetrics | None = None,
    ) -> None:
        self._books: dict[str, OrderBook] = {}
        self._params: dict[str, MarketParams] = dict(market_params or {})
        self._pair: dict[str, str] = {}
        for a, b in complements:
            self._pair[a], self._pair[b] = b, a
        self._metrics = metrics
        self._step_ts: dict[str, int] = {}
        self._claims: dict[str, _Claim] = {}
        self._ltp_unknown: set[str] = set()
        self._counts = {
            "hash_match": 0,
            "hash_mismatch": 0,
            "hash_skipped": 0,
            "top_match": 0,
            "top_mismatch": 0,
        }

    # -- queries -------------------------------------------------------------------------------

    def book(self, asset_id: str) -> OrderBook | None:
        """The book of ``asset_id``, or None before its first snapshot (own or mirrored)."""
        return self._books.get(asset_id)

    def asset_ids(self) -> list[str]:
        """Every token with a book."""
        return list(self._books)

    def complement_of(self, asset_id: str) -> str | None:
        """The other outcome token of ``asset_id``'s market, if known."""
        return self._pair.get(asset_id)

    def check_counts(self) -> CheckCounts:
        """Integrity-check totals since construction."""
        return CheckCounts(**self._counts)

    # -- updates -------------------------------------------------------------------------------

    def apply(self, msg: MarketMessage) -> ApplyOutcome:
        """Apply one message; first closes the market's previous step if the timestamp moved on."""
        out = ApplyOutcome()
        if isinstance(msg, (BookMessage, PriceChangeMessage)):  # a tuple: faster than a union
            prev = self._step_ts.get(msg.market)
            if prev is not None and prev != msg.timestamp:
                self._close_step(msg.market, out)
            self._step_ts[msg.market] = msg.timestamp
        if self._metrics is not None:
            self._metrics.message(msg.event_type).inc()
        if isinstance(msg, PriceChangeMessage):
            self._apply_price_change(msg, out)
        elif isinstance(msg, BookMessage):
            self._apply_snapshot(msg, out)
        elif isinstance(msg, LastTradePriceMessage):
            self._set_last_trade(msg.market, msg.asset_id, msg.price, out)
        elif isinstance(msg, TickSizeChangeMessage):
            bk = self._books.get(msg.asset_id)
            if bk is not None:
                bk.tick_size = msg.new_tick_size
                out.changed.add(msg.asset_id)
        # best_bid_ask and market_resolved carry nothing the books need.
        return out

    def flush(self) -> ApplyOutcome:
        """Close every open step (call when the feed goes quiet or ends) and check its claims."""
        out = ApplyOutcome()
        for market in list(self._step_ts):
            self._close_step(market, out)
        self._step_ts.clear()
        return out

    def apply_snapshot(self, msg: BookMessage) -> ApplyOutcome:
        """Replace ``msg.asset_id``'s book with the snapshot and check the snapshot's own hash.

        Used for WS ``book`` events and REST resync responses alike. Deltas older than a
        snapshot are ignored afterwards (they are already part of it).
        """
        out = ApplyOutcome()
        self._apply_snapshot(msg, out)
        return out

    def _apply_snapshot(self, msg: BookMessage, out: ApplyOutcome) -> None:
        if msg.min_order_size is not None and msg.neg_risk is not None:
            self._params[msg.market] = MarketParams(msg.min_order_size, msg.neg_risk)
        params = self._params.get(msg.market)
        bk = self._books.get(msg.asset_id)
        if bk is None:
            bk = self._books[msg.asset_id] = OrderBook(msg.asset_id, msg.market)
        bk.apply_snapshot(
            msg.bids,
            msg.asks,
            msg.tick_size,
            timestamp_ms=msg.timestamp,
            min_order_size=params.min_order_size if params else None,
            neg_risk=params.neg_risk if params else None,
            last_trade_price=msg.last_trade_price,
            hash=msg.hash,
        )
        if "last_trade_price" in msg.model_fields_set:
            # An explicit field, even "" (no trade yet), is authoritative.
            bk.last_trade_price = msg.last_trade_price
            self._ltp_unknown.discard(msg.market)
        self._claims.pop(msg.asset_id, None)
        if msg.hash:
            self._check_snapshot_hash(bk, msg)
        if self._metrics is not None:
            self._metrics.book_updates.inc()
        out.changed.add(msg.asset_id)
        other = self._pair.get(msg.asset_id)
        if other is not None and other not in self._books:
            self._books[other] = complement_book(bk, other)
            out.changed.add(other)

    def reset(self) -> None:
        """Forget every book and open step, keeping learned token pairs and market params.

        For a replay that starts over: its old timestamps would otherwise look stale.
        """
        self._books.clear()
        self._claims.clear()
        self._step_ts.clear()
        self._ltp_unknown.clear()

    def drop(self, asset_id: str) -> None:
        """Forget ``asset_id``'s book (e.g. after a reconnect, before its new snapshot)."""
        self._books.pop(asset_id, None)
        self._claims.pop(asset_id, None)

    # -- internals -----------------------------------------------------------------------------

    def _apply_price_change(self, msg: PriceChangeMessage, out: ApplyOutcome) -> None:
        changes = msg.price_changes
        if len(changes) > 1:
            assets = {e.asset_id for e in changes}
            if len(assets) == 2:
                a, b = sorted(assets)
                self._pair.setdefault(a, b)
                self._pair.setdefault(b, a)
        books, ts, changed = self._books, msg.timestamp, out.changed
        for entry in changes:
            bk = books.get(entry.asset_id) or self._book_for_delta(entry.asset_id)
            if bk is None:
                out.resync[entry.asset_id] = "gap"
                if self._metrics is not None:
                    self._metrics.gaps.inc()
                continue
            if bk.timestamp_ms is not None and ts < bk.timestamp_ms:
                if self._metrics is not None:
                    self._metrics.stale_changes.inc()
                continue
            self._apply_entry(bk, ts, entry)
            changed.add(entry.asset_id)

    def _book_for_delta(self, asset_id: str) -> OrderBook | None:
        bk = self._books.get(asset_id)
        if bk is not None:
            return bk
        other = self._pair.get(asset_id)
        src = self._books.get(other) if other is not None else None
        if src is None:
            return None
        bk = self._books[asset_id] = complement_book(src, asset_id)
        return bk

    def _apply_entry(self, bk: OrderBook, ts: int, entry: PriceChange) -> None:
        bk.apply_change(entry.side, entry.price, entry.size)
        bk.timestamp_ms = ts
        if bk.is_crossed():
            self._ltp_unknown.add(bk.market)
        self._claims[bk.asset_id] = _Claim(ts, entry.hash, entry.best_bid, entry.best_ask)
        if self._metrics is not None:
            self._metrics.book_updates.inc()

    def _set_last_trade(self, market: str, asset_id: str, price: Decimal, out: ApplyOutcome) -> None:
        # Both tokens' hashes use the same last trade price (see complement_book).
        for aid in (asset_id, self._pair.get(asset_id)):
            bk = self._books.get(aid) if aid is not None else None
            if bk is not None:
                bk.last_trade_price = price
                out.changed.add(bk.asset_id)
        self._ltp_unknown.discard(market)

    def _close_step(self, market: str, out: ApplyOutcome) -> None:
        for asset_id, claim in list(self._claims.items()):
            bk = self._books.get(asset_id)
            if bk is None or bk.market != market:
                continue
            del self._claims[asset_id]
            if not self._check_top(bk, claim) or not self._check_claim_hash(bk, claim):
                out.resync[asset_id] = "mismatch"

    def _check_top(self, bk: OrderBook, claim: _Claim) -> bool:
        if claim.best_bid is None and claim.best_ask is None:
            return True
        ok = bk.best_bid_price() == claim.best_bid and bk.best_ask_price() == claim.best_ask
        self._count("top_of_book", ok)
        return ok

    def _check_claim_hash(self, bk: OrderBook, claim: _Claim) -> bool:
        if not claim.hash:
            return True
        if bk.market in self._ltp_unknown:
            self._count("hash", None)
            return True
        computed = book_hash(bk)
        if computed is None:
            self._count("hash", None)
            return True
        self._count("hash", computed == claim.hash)
        return computed == claim.hash

    def _check_snapshot_hash(self, bk: OrderBook, msg: BookMessage) -> None:
        # Only a snapshot that states its own tick size and last trade price can be checked with the
        # current scheme; the final book of ws_market_burst.json omits both, and guessing them would
        # be a false alarm. Either scheme matching is a match; the current one is tried first, as it
        # is the one served today and needs no text of its own (the book's cached text is reused).
        complete = msg.tick_size is not None and "last_trade_price" in msg.model_fields_set
        computed = book_hash(bk) if complete else None
        if computed == msg.hash:
            self._count("hash", True)
            return
        legacy = legacy_2024_hash(market=msg.market, asset_id=msg.asset_id, bids=msg.bids, asks=msg.asks)
        if legacy == msg.hash:
            self._count("hash", True)
        elif computed is None:
            self._count("hash", None)
        else:
            self._count("hash", False)

    def _count(self, check: str, ok: bool | None) -> None:
        result = "skipped" if ok is None else ("match" if ok else "mismatch")
        self._counts[_COUNT_KEYS[check, result]] += 1
        if self._metrics is not None:
            self._metrics.book_check(check, result).inc()


_COUNT_KEYS = {
    (check, result): f"{prefix}_{result}"
    for check, prefix in (("hash", "hash"), ("top_of_book", "top"))
    for result in ("match", "mismatch", "skipped")
}
