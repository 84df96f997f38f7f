"""Prometheus metrics of the market-data path, created on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class MarketMetrics:
    """Counters and gauges for feeds and book maintenance.

    Created on ``registry`` (never the global default registry) so that tests and the app each
    own theirs. Names follow Prometheus conventions (``_total`` counters, base units).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "ploy_market_messages_total",
            "Market-data messages applied, by event type.",
            ["event_type"],
            registry=registry,
        )
        self.malformed = Counter(
            "ploy_market_malformed_messages_total",
            "Market-data frames or messages skipped because they could not be parsed or used, by reason "
            "(too_large, too_deep, invalid_json, not_object, missing_event_type, unknown_event_type, "
            "invalid_fields, internal_error).",
            ["reason"],
            registry=registry,
        )
        self.book_checks = Counter(
            "ploy_market_book_checks_total",
            "Integrity checks of a replayed book against the server's claim "
            "(check=hash|top_of_book; result=match|mismatch|skipped).",
            ["check", "result"],
            registry=registry,
        )
        self.gaps = Counter(
            "ploy_market_book_gaps_total",
            "Level changes for a token whose book we do not hold (each asks for a resync).",
            registry=registry,
        )
        self.stale_changes = Counter(
            "ploy_market_stale_changes_total",
            "Level changes older than the book they would apply to (already part of a newer snapshot).",
            registry=registry,
        )
        self.resyncs = Counter(
            "ploy_market_book_resyncs_total",
            "Books re-fetched from REST /book, by reason (gap, mismatch, reconnect).",
            ["reason"],
            registry=registry,
        )
        self.resync_failures = Counter(
            "ploy_market_book_resync_failures_total",
            "REST /book snapshots that could not be fetched or parsed.",
            registry=registry,
        )
        self.reconnects = Counter(
            "ploy_market_ws_reconnects_total",
            "WebSocket (re)connections after the first.",
            registry=registry,
        )
        self.connected = Gauge(
            "ploy_market_ws_connected",
            "1 while the market WebSocket is connected and subscribed.",
            registry=registry,
        )
        self.book_updates = Counter(
            "ploy_market_book_updates_total",
            "Book snapshots and level changes applied.",
            registry=registry,
        )
        # Labelled children looked up once: ``labels()`` per message or check (a lock and a tuple
        # key each time) cost about a third of the book path's throughput (bench/book_updates.py).
        self._message_children: dict[str, Counter] = {}
        self._check_children: dict[tuple[str, str], Counter] = {}

    def message(self, event_type: str) -> Counter:
        """``messages`` for ``event_type`` (the child is cached)."""
        child = self._message_children.get(event_type)
        if child is None:
            child = self._message_children[event_type] = self.messages.labels(event_type)
        return child

    def book_check(self, check: str, result: str) -> Counter:
        """``book_checks`` for ``check`` and ``result`` (the child is cached)."""
        child = self._check_children.get((check, result))
        if child is None:
            child = self._check_children[check, result] = self.book_checks.labels(check, result)
        return child
