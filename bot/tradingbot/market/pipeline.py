"""The part every feed shares: decode, parse, apply to the books, count, notify listeners."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterable

from tradingbot.market.book import OrderBook
from tradingbot.market.feed import BookListener
from tradingbot.market.messages import MessageError, decode_frame, parse_event
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.store import ApplyOutcome, BookStore

log = logging.getLogger(__name__)


class FeedPipeline:
    """Turns raw market-channel frames into book updates; never raises on a bad message.

    Malformed input (invalid JSON, unknown event type, invalid fields) is counted in
    ``tradingbot_market_malformed_messages_total{reason}`` and skipped. ``last_message_age_s`` is
    measured on the monotonic clock from the last frame received, good or bad.
    """

    def __init__(self, store: BookStore, metrics: MarketMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
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

    def handle_frame(self, text: str | bytes) -> ApplyOutcome:
        """Decode and apply one WS text frame (an object or an array of objects)."""
        self.mark_received()
        try:
            objs = decode_frame(text)
        except MessageError as exc:
            self.count_malformed(exc.reason)
            return ApplyOutcome()
        return self.handle_objects(objs)

    def handle_objects(self, objs: Iterable[object]) -> ApplyOutcome:
        """Parse and apply already-decoded JSON objects in order."""
        out = ApplyOutcome()
        for obj in objs:
            try:
                msg = parse_event(obj)
            except MessageError as exc:
                self.count_malformed(exc.reason)
                log.debug("skipped market message: %s", exc)
                continue
            out.merge(self.store.apply(msg))
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
