"""PolymarketWsFeed against a real local WebSocket server replaying the recorded burst.

The server (the ``websockets`` library's own server on 127.0.0.1) speaks the market-channel
protocol as documented: it expects the subscription message, answers ``PING`` with ``PONG`` and
pushes recorded frames. Its plain-HTTP side serves ``GET /book`` for the REST resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tests.bot.market.recordings import BURST_MARKET, TOKEN_A, TOKEN_B, levels, raw
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.pipeline import MAX_FRAME_BYTES
from tradingbot.market.rest import RestBookClient
from tradingbot.market.store import MarketParams
from tradingbot.market.ws import TRANSPORT_MAX_FACTOR, PolymarketWsFeed

BURST = raw("ws_market_burst.json")
REST_BOOK = raw("rest_book_empty_ask.json")[0]

Script = Callable[[int], Iterable[str | None]]
"""Frames to push on the n-th connection (1-based); None means: drop the connection now."""


@dataclass
class MarketServer:
    script: Script
    answer_pings: bool = True
    rest_books: dict[str, Any] = field(default_factory=lambda: {REST_BOOK["asset_id"]: REST_BOOK})
    subscriptions: list[Any] = field(default_factory=list)
    pings: int = 0
    pinged: asyncio.Event = field(default_factory=asyncio.Event)
    book_requests: list[str] = field(default_factory=list)
    connections: int = 0
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = next(iter(self.server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/ws/market"

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://").removesuffix("/ws/market")

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if not request.path.startswith("/book"):
            return None
        token = httpx.URL(request.path).params.get("token_id", "")
        self.book_requests.append(token)
        if token not in self.rest_books:
            return conn.respond(404, "not found\n")
        resp = conn.respond(200, json.dumps(self.rest_books[token]))
        resp.headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(resp.body))})
        return resp

    async def handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        n = self.connections
        self.subscriptions.append(json.loads(await conn.recv()))
        pinger = asyncio.create_task(self._pongs(conn))
        try:
            for frame in self.script(n):
                if frame is None:
                    conn.transport.abort()  # an unclean drop, as a network failure would be
                    return
                await conn.send(frame)
            await conn.wait_closed()
        finally:
            pinger.cancel()

    async def _pongs(self, conn: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for msg in conn:
                if msg == "PING":
                    self.pings += 1
                    self.pinged.set()
                    if self.answer_pings:
                        await conn.send("PONG")


@contextlib.asynccontextmanager
async def market_server(
    script: Script, *, answer_pings: bool = True, rest_books: dict[str, Any] | None = None
) -> AsyncIterator[MarketServer]:
    ms = MarketServer(script, answer_pings)
    if rest_books is not None:
        ms.rest_books = rest_books
    async with serve(ms.handler, "127.0.0.1", 0, process_request=ms.process_request) as server:
        ms.server = server
        yield ms


def _feed(
    ms: MarketServer,
    http: httpx.AsyncClient,
    registry: CollectorRegistry,
    *,
    ping_interval_s: float = 10.0,
    stale_after_s: float = 30.0,
    idle_flush_s: float = 1.0,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> PolymarketWsFeed:
    return PolymarketWsFeed(
        ms.url,
        [TOKEN_A, TOKEN_B],
        RestBookClient(http, ms.http_url),
        market_params={BURST_MARKET: MarketParams(D(5), False)},
        metrics=MarketMetrics(registry),
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        ping_interval_s=ping_interval_s,
        stale_after_s=stale_after_s,
        idle_flush_s=idle_flush_s,
        max_frame_bytes=max_frame_bytes,
    )


def _final_book_reached(feed: PolymarketWsFeed) -> bool:
    book = feed.book(TOKEN_A)
    final = BURST[-1]
    return (
        book is not None
        and book.timestamp_ms == int(final["timestamp"])
        and [(lvl.price, lvl.size) for lvl in book.bids()[::-1]] == levels(final["bids"])
        and [(lvl.price, lvl.size) for lvl in book.asks()[::-1]] == levels(final["asks"])
    )


async def _run_until(feed: PolymarketWsFeed, done: Callable[[], bool], *also: asyncio.Event) -> None:
    """Run the feed until ``done()`` holds after a book change and every event in ``also`` is set."""
    stop = asyncio.Event()
    reached = asyncio.Event()

    async def wait_all() -> None:
        await reached.wait()
        for event in also:
            await event.wait()
        stop.set()

    def check(_asset_id: str) -> None:
        if done():
            reached.set()

    feed.subscribe(check)
    task = asyncio.create_task(feed.run(stop))
    try:
        await asyncio.wait_for(wait_all(), 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_subscribes_heartbeats_survives_a_drop_and_rebuilds_the_book() -> None:
    def script(n: int) -> Iterable[str | None]:
        yield json.dumps([BURST[0]])  # the initial dump comes as an array
        if n == 1:
            yield from (json.dumps(m) for m in BURST[1:20])
            yield None
            return
        yield "this is not json"
        yield json.dumps({"event_type": "price_change", "market": BURST_MARKET})
        for msg in BURST[1:]:
            yield json.dumps(msg)

    registry = CollectorRegistry()
    async with market_server(script) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry, ping_interval_s=0.05)
        gone_while_disconnected: list[bool] = []

        def on_change(asset_id: str) -> None:
            if asset_id == TOKEN_A and feed.connections == 1:
                gone_while_disconnected.append(feed.book(TOKEN_A) is None)

        feed.subscribe(on_change)
        await _run_until(feed, lambda: _final_book_reached(feed), ms.pinged)

    assert ms.connections == 2 and feed.connections == 2
    # While connection 1 was lost the book was withdrawn, before connection 2 rebuilt it.
    assert gone_while_disconnected[0] is False and gone_while_disconnected[-1] is True
    assert ms.subscriptions == [{"assets_ids": [TOKEN_A, TOKEN_B], "type": "market"}] * 2
    assert registry.get_sample_value("ploy_market_ws_reconnects_total") == 1
    assert registry.get_sample_value("ploy_market_malformed_messages_total", {"reason": "invalid_json"}) == 1
    assert (
        registry.get_sample_value("ploy_market_malformed_messages_total", {"reason": "invalid_fields"}) == 1
    )
    counts = feed.store.check_counts()
    assert counts.hash_mismatch == 0 and counts.top_mismatch == 0 and counts.hash_match > 0
    assert ms.book_requests == []  # nothing needed healing
    book_b = feed.book(TOKEN_B)
    assert book_b is not None and book_b.best_bid() is not None


async def test_a_gap_is_healed_from_rest_book() -> None:
    token = REST_BOOK["asset_id"]
    delta = {
        "event_type": "price_change",
        "market": REST_BOOK["market"],
        "timestamp": str(int(REST_BOOK["timestamp"]) + 1),
        "price_changes": [{"asset_id": token, "price": "0.003", "size": "10", "side": "BUY"}],
    }

    def script(_n: int) -> Iterable[str | None]:
        yield json.dumps(delta)  # a delta for a book we never got: a gap

    registry = CollectorRegistry()
    async with market_server(script) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry)
        await _run_until(feed, lambda: feed.book(token) is not None)

    assert ms.book_requests == [token]
    book = feed.book(token)
    assert book is not None and book.best_ask() is None and book.neg_risk is True
    assert [(lvl.price, lvl.size) for lvl in book.bids()] == [
        (D("0.002"), D("6.99")),
        (D("0.001"), D("667.12")),
    ]
    assert registry.get_sample_value("ploy_market_book_resyncs_total", {"reason": "gap"}) == 1
    assert registry.get_sample_value("ploy_market_book_gaps_total") == 1
    assert (
        registry.get_sample_value("ploy_market_book_checks_total", {"check": "hash", "result": "match"}) == 1
    )


async def test_a_silent_connection_is_detected_as_stale_and_replaced() -> None:
    def script(_n: int) -> Iterable[str | None]:
        yield json.dumps([BURST[0]])

    registry = CollectorRegistry()
    async with market_server(script, answer_pings=False) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry, ping_interval_s=0.05, stale_after_s=0.3, idle_flush_s=0.05)
        await _run_until(feed, lambda: feed.connections >= 2 and feed.book(TOKEN_A) is not None, ms.pinged)
    assert ms.connections >= 2 and ms.pings > 0
    assert registry.get_sample_value("ploy_market_ws_reconnects_total") == feed.connections - 1


async def test_unreachable_server_is_retried_until_stopped() -> None:
    feed = PolymarketWsFeed(
        "ws://127.0.0.1:9/ws/market", [TOKEN_A], None, backoff_initial_s=0.01, backoff_max_s=0.02
    )
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    await asyncio.sleep(0.2)
    assert not task.done() and feed.connections == 0
    stop.set()
    await asyncio.wait_for(task, 5)


def test_requires_assets() -> None:
    with pytest.raises(ValueError, match="asset_ids"):
        PolymarketWsFeed("ws://x", [], None)


async def test_a_hash_mismatch_drops_the_book_and_resyncs_it_from_rest() -> None:
    corrupted = copy.deepcopy(BURST[5])
    assert corrupted["price_changes"][1]["asset_id"] == TOKEN_A
    corrupted["price_changes"][1]["size"] = "3687.88"  # top of book unchanged: only the hash tells
    # REST answers with the recorded final book plus the REST-only fields; the README states its
    # hash recomputes with these values, so the resynced book is itself verified.
    rest_final = {
        **BURST[-1],
        "min_order_size": "5",
        "tick_size": "0.001",
        "neg_risk": False,
        "last_trade_price": "0.301",
    }

    def script(_n: int) -> Iterable[str | None]:
        yield json.dumps([BURST[0]])
        for msg in [*BURST[1:5], corrupted, *BURST[6:10]]:
            yield json.dumps(msg)

    registry = CollectorRegistry()
    async with market_server(script, rest_books={TOKEN_A: rest_final}) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry)
        last_ts = int(BURST[9]["timestamp"])

        def done() -> bool:
            b = feed.book(TOKEN_B)
            return _final_book_reached(feed) and b is not None and b.timestamp_ms == last_ts

        await _run_until(feed, done)

    assert registry.get_sample_value("ploy_market_book_resyncs_total", {"reason": "mismatch"}) == 1
    checks = "ploy_market_book_checks_total"
    assert registry.get_sample_value(checks, {"check": "hash", "result": "mismatch"}) == 1
    assert ms.book_requests == [TOKEN_A]
    # The mismatch shows when message 6 closes step 5 (message 6 is applied, then A is replaced);
    # the REST snapshot is newer than token A's entries in messages 7-9, so those are skipped.
    assert registry.get_sample_value("ploy_market_stale_changes_total") == 3


def _rejected(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value("ploy_market_malformed_messages_total", {"reason": reason})


def _padded(objs: list[dict[str, Any]], size: int) -> str:
    """``objs`` as a JSON array padded with trailing spaces (still valid JSON) to ``size`` bytes."""
    text = json.dumps(objs)
    assert len(text) <= size and text.isascii()
    return text + " " * (size - len(text))


async def test_no_single_frame_ends_the_feed() -> None:
    nested = "[" * 3000 + "]" * 3000  # the 6 KB frame that used to end the feed task
    nested_in_object = '{"event_type": "book", "bids": ' + "[" * 3000 + "]" * 3000 + "}"
    # Valid JSON holding a book the feed would apply if it parsed the frame at all.
    oversize = _padded([BURST[-1]], MAX_FRAME_BYTES + 1)
    first_ts = int(BURST[0]["timestamp"])
    assert int(BURST[-1]["timestamp"]) != first_ts

    def script(_n: int) -> Iterable[str | None]:
        yield nested
        yield nested_in_object
        yield oversize
        yield json.dumps([BURST[0]])

    registry = CollectorRegistry()
    seen: list[int | None] = []
    async with market_server(script) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry)

        def record(asset_id: str) -> None:
            book = feed.book(asset_id)
            if asset_id == TOKEN_A and book is not None:
                seen.append(book.timestamp_ms)

        feed.subscribe(record)
        # Returns only after the valid book was applied and the feed then stopped cleanly on request
        # (a feed task that had died would re-raise here or never reach the book).
        await _run_until(feed, lambda: feed.book(TOKEN_A) is not None)

    assert len(nested) == 6000
    assert seen == [first_ts]  # the oversize frame was never parsed
    assert ms.connections == 1 and feed.connections == 1  # nothing cost the connection
    assert _rejected(registry, "too_deep") == 2
    assert _rejected(registry, "too_large") == 1
    assert registry.get_sample_value("ploy_market_ws_reconnects_total") == 0


async def test_a_frame_over_the_transport_limit_costs_only_the_connection() -> None:
    limit = 64 * 1024

    def script(n: int) -> Iterable[str | None]:
        if n == 1:
            yield _padded([BURST[0]], limit + 1)  # just over: refused, the connection stays
            yield _padded([BURST[0]], TRANSPORT_MAX_FACTOR * limit + 1)  # websockets closes (1009)
            return
        yield json.dumps([BURST[0]])

    registry = CollectorRegistry()
    async with market_server(script) as ms, httpx.AsyncClient() as http:
        feed = _feed(ms, http, registry, max_frame_bytes=limit)
        await _run_until(feed, lambda: feed.book(TOKEN_A) is not None)

    assert ms.connections == 2 and feed.connections == 2
    assert _rejected(registry, "too_large") == 1
    assert registry.get_sample_value("ploy_market_ws_reconnects_total") == 1


async def test_cancelling_the_feed_leaves_no_unretrieved_receive() -> None:
    """The runtime stops the feed by setting ``stop`` and cancelling its task at once; the receive that
    was pending must not end later with an exception nobody retrieves (asyncio logs that as an error)."""

    def script(_n: int) -> Iterable[str | None]:
        yield json.dumps([BURST[0]])

    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        async with market_server(script) as ms, httpx.AsyncClient() as http:
            feed = _feed(ms, http, CollectorRegistry(), idle_flush_s=5.0)
            booked = asyncio.Event()
            feed.subscribe(lambda _asset_id: booked.set())
            stop = asyncio.Event()
            task = asyncio.create_task(feed.run(stop))
            await asyncio.wait_for(booked.wait(), 10)
            await asyncio.sleep(0.05)  # the feed is now waiting in a receive
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        await asyncio.sleep(0.05)
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert not unhandled, [c.get("message") for c in unhandled]
