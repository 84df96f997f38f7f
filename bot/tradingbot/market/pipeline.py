"""The part every feed shares: decode, parse, apply to the books, count, notify listeners."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterable

from tradingbot.market.book import OrderBook
from tradingbot.market.feed import BookListener
from tradingbot.market.messages import (
    MarketMessage,
    MarketResolvedMessage,
    MessageError,
    PriceChangeMessage,
    decode_frame,
    parse_event,
)
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.store import ApplyOutcome, BookStore

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""Frames longer than this (bytes of UTF-8) are refused before they are parsed (reason ``too_large``).

The largest recorded market-channel frame is a full-depth ``book`` of 162 levels at 9,880 bytes
(``shared/data/polymarket/ws_book_full_depth.json``); the initial dump holds one such snapshot per
subscribed token (two per configured market) in one frame. 4 MiB is room for about 400 of them, while
parsing one frame (JSON plus a ``Decimal`` per price and size) stays short enough not to stall the
event loop for long."""


class FeedPipeline:
    """Turns raw market-channel frames into book updates; never raises on a bad frame or message.

    Every frame or message that cannot be used is counted in
    ``ploy_market_malformed_messages_total{reason}`` and skipped. Reasons (a fixed set):
    ``too_large`` (over ``max_frame_bytes``, never parsed), ``too_deep`` (JSON nested beyond the
    decoder's recursion limit), ``invalid_json``, ``not_object``, ``missing_event_type``,
    ``unknown_event_type``, ``invalid_fields`` and ``internal_error`` (any other exception while
    decoding or applying; the books the message touched are dropped, so a half-applied update is never
    served and the next delta asks for a resync). ``last_message_age_s`` is measured on the monotonic
    clock from the last frame received, good or bad.
    """

    def __init__(
        self, store: BookStore, metrics: MarketMetrics | None = None, max_frame_bytes: int = MAX_FRAME_BYTES
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.max_frame_bytes = max_frame_bytes
        self._listeners: list[BookListener] = []
        self._last_message_at: float | None = None

    def subscribe(self, callback: BookListener) -> None:
        """Call ``callback(asset_id)`` after that token's book changed (sync or async callback)."""
        self._listeners.append(callback)

    def book(self, asset_id: str) -> OrderBook | None:
        """The current book of ``asset_id`` or None."""
        return self.store.book(asset_id)

    def last_message_age_s(self) -> float | None:
        """Monotonic seconds since the last frame, None before the first."""
        if self._last_message_at is None:
            return None
        return time.monotonic() - self._last_message_at

    def mark_received(self) -> None:
        """Record that a frame (or heartbeat reply) arrived now."""
        self._last_message_at = time.monotonic()

    def count_malformed(self, reason: str) -> None:
        """Count one skipped message under ``reason``."""
        if self.metrics is not None:
            self.metrics.malformed.labels(reason).inc()

    def frame_too_large(self, frame: str | bytes) -> bool:
        """Whether ``frame`` is longer than ``max_frame_bytes`` in UTF-8 (a str is only encoded when
        its length in characters cannot decide it: one character is 1 to 4 bytes)."""
        if isinstance(frame, bytes | bytearray | memoryview):
            return len(frame) > self.max_frame_bytes
        if len(frame) > self.max_frame_bytes:
            return True
        if 4 * len(frame) <= self.max_frame_bytes:
            return False
        return len(frame.encode("utf-8", "surrogatepass")) > self.max_frame_bytes

    def handle_frame(self, text: str | bytes) -> ApplyOutcome:
        """Decode and apply one WS text frame (an object or an array of objects). Never raises
        (``Exception``); what cannot be used is counted by reason and skipped."""
        self.mark_received()
        if self.frame_too_large(text):
            self.count_malformed("too_large")
            log.warning("market frame of more than %d bytes refused", self.max_frame_bytes)
            return ApplyOutcome()
        try:
            objs = decode_frame(text)
        except MessageError as exc:
            self.count_malformed(exc.reason)
            return ApplyOutcome()
        except Exception as exc:  # one frame must never end the feed
            self.count_malformed("internal_error")
            log.warning("market frame skipped: %s while decoding", type(exc).__name__)
            return ApplyOutcome()
        return self.handle_objects(objs)

    def handle_objects(self, objs: Iterable[object]) -> ApplyOutcome:
        """Parse and apply already-decoded JSON objects in order. Never raises (``Exception``)."""
        out = ApplyOutcome()
        for obj in objs:
            try:
                msg = parse_event(obj)
            except MessageError as exc:
                self.count_malformed(exc.reason)
                log.debug("skipped market message: %s", exc)
                continue
            except Exception as exc:
                self.count_malformed("internal_error")
                log.warning("market message skipped: %s while parsing", type(exc).__name__)
                continue
            try:
                out.merge(self.store.apply(msg))
            except Exception:
                self.count_malformed("internal_error")
                log.exception("market message %s could not be applied; its books are dropped", msg.event_type)
                for asset_id in _asset_ids(msg):
                    if self.store.book(asset_id) is not None:
                        self.store.drop(asset_id)
                        out.changed.add(asset_id)
        return out

    async def notify(self, asset_ids: Iterable[str]) -> None:
        """Tell every listener about each changed book; a failing listener is logged, not fatal."""
        for asset_id in sorted(asset_ids):
            for cb in self._listeners:
                try:
                    result = cb(asset_id)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("book listener failed for %s", asset_id)


def _asset_ids(msg: MarketMessage) -> set[str]:
    """The token ids a message may change."""
    if isinstance(msg, PriceChangeMessage):
        return {change.asset_id for change in msg.price_changes}
    if isinstance(msg, MarketResolvedMessage):
        return set(msg.assets_ids)
    return {msg.asset_id}


class PipelineFeed:
    """The MarketFeed read side every feed shares, served from its :class:`FeedPipeline`.

    Subclasses set ``self._pipeline`` in ``__init__`` and implement ``run(stop)``.
    """

    _pipeline: FeedPipeline

    @property
    def store(self) -> BookStore:
        """The books being maintained (exposed for checks and tests)."""
        return self._pipeline.store

    def book(self, asset_id: str) -> OrderBook | None:
        """Current book of ``asset_id``, or None before its snapshot (or while it resyncs)."""
        return self._pipeline.book(asset_id)

    def last_message_age_s(self) -> float | None:
        """Monotonic seconds since the last message received, None before the first."""
        return self._pipeline.last_message_age_s()

    def subscribe(self, callback: BookListener) -> None:
        """Call ``callback(asset_id)`` whenever that book changed."""
        self._pipeline.subscribe(callback)
