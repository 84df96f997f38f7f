"""Live market data from Polymarket's CLOB WebSocket market channel.

Protocol (docs.polymarket.com, "Market Channel" and "WSS Overview"): connect to
``wss://ws-subscriptions-clob.polymarket.com/ws/market``, send
``{"assets_ids": [...], "type": "market"}``, receive ``book`` snapshots for every token and then
``price_change`` / ``last_trade_price`` / ``tick_size_change`` events; the client keeps the
connection alive by sending the text ``PING`` about every 10 s, answered by ``PONG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import websockets
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter
from tenacity.stop import stop_base
from websockets.asyncio.client import ClientConnection, connect

from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.pipeline import MAX_FRAME_BYTES, FeedPipeline, PipelineFeed
from tradingbot.market.rest import RestBookClient
from tradingbot.market.store import ApplyOutcome, BookStore, MarketParams

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
TRANSPORT_MAX_FACTOR = 4
"""websockets' own frame limit (``max_size``) is this many times the feed's ``max_frame_bytes``.

A frame just over the feed's limit is read and refused by the pipeline (counted as ``too_large``, the
connection stays up); only a frame over ``TRANSPORT_MAX_FACTOR * max_frame_bytes`` (16 MiB with the
default 4 MiB) makes websockets close the connection (code 1009), after which the feed reconnects as
after any other loss. Unbounded would let one frame exhaust memory."""


class StaleFeedError(Exception):
    """No message (not even a PONG) arrived within the staleness limit."""


class _StopWhenSet(stop_base):
    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._event.is_set()


_CONNECT_ERRORS = (OSError, TimeoutError, websockets.exceptions.WebSocketException)


class PolymarketWsFeed(PipelineFeed):
    """Order books for ``asset_ids`` kept live from the market channel, healed from REST.

    * Heartbeat: sends ``PING`` every ``ping_interval_s`` seconds.
    * Staleness: if nothing arrives for ``stale_after_s`` seconds the connection is dropped and
      re-opened. When the socket is quiet for ``idle_flush_s`` the open step is closed so its
      integrity checks run.
    * Reconnect: exponential backoff with jitter (tenacity) between ``backoff_initial_s`` and
      ``backoff_max_s`` over consecutive failed connects; it resets after a successful subscribe.
      When the connection is lost every book is dropped (listeners are told) until the server's
      fresh snapshot arrives, so a book that may have missed updates is never served.
    * Resync: a gap or a hash/top-of-book mismatch drops that book and fetches ``GET /book``
      through ``rest`` (at most once per ``resync_min_interval_s`` per token).
    * Bad frames: no frame ends the feed. A frame over ``max_frame_bytes`` is refused unparsed, and
      any failure of one frame (invalid or too deeply nested JSON, invalid fields, an exception while
      applying it) is counted by reason and skipped (see ``FeedPipeline``).
    """

    def __init__(
        self,
        url: str,
        asset_ids: Sequence[str],
        rest: RestBookClient | None,
        *,
        market_params: Mapping[str, MarketParams] | None = None,
        complements: Iterable[tuple[str, str]] = (),
        metrics: MarketMetrics | None = None,
        ping_interval_s: float = 10.0,
        stale_after_s: float = 30.0,
        idle_flush_s: float = 1.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        open_timeout_s: float = 10.0,
        resync_min_interval_s: float = 5.0,
        custom_feature_enabled: bool = False,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if not asset_ids:
            raise ValueError("asset_ids must not be empty")
        self.url = url
        self.asset_ids = list(asset_ids)
        self._rest = rest
        self._metrics = metrics
        self._pipeline = FeedPipeline(
            BookStore(market_params=market_params, complements=complements, metrics=metrics),
            metrics,
            max_frame_bytes,
        )
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.idle_flush_s = idle_flush_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.open_timeout_s = open_timeout_s
        self.resync_min_interval_s = resync_min_interval_s
        self.custom_feature_enabled = custom_feature_enabled
        self._last_resync: dict[str, float] = {}
        self.connections = 0

    def subscription_message(self) -> str:
        """The JSON text sent after connecting."""
        msg: dict[str, object] = {"assets_ids": self.asset_ids, "type": "market"}
        if self.custom_feature_enabled:
            msg["custom_feature_enabled"] = True
        return json.dumps(msg)

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; never raises on network or message errors."""
        while not stop.is_set():
            ws = await self._connect(stop)
            if ws is None:
                return
            try:
                await self._session(ws, stop)
            except (StaleFeedError, *_CONNECT_ERRORS) as exc:
                log.warning("market websocket lost: %s", exc)
            finally:
                if self._metrics is not None:
                    self._metrics.connected.set(0)
                if not stop.is_set():
                    # Books nobody maintains must not be traded on while we reconnect.
                    self._drop_all()
                    await self._pipeline.notify(self.asset_ids)
                with contextlib.suppress(Exception):
                    await ws.close()

    # -- internals -----------------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> ClientConnection | None:
        async def sleep(seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds)

        retrying = AsyncRetrying(
            sleep=sleep,
            stop=_StopWhenSet(stop),
            wait=wait_exponential_jitter(
                multiplier=self.backoff_initial_s, max=self.backoff_max_s, jitter=self.backoff_initial_s
            ),
            retry=retry_if_exception_type(_CONNECT_ERRORS),
            reraise=False,
            retry_error_callback=lambda _state: None,
        )
        ws: ClientConnection | None = await retrying(self._open)
        return ws

    async def _open(self) -> ClientConnection:
        ws = await connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=None,
            max_size=TRANSPORT_MAX_FACTOR * self._pipeline.max_frame_bytes,
        )
        try:
            await ws.send(self.subscription_message())
        except BaseException:
            await ws.close()
            raise
        self.connections += 1
        if self.connections > 1 and self._metrics is not None:
            self._metrics.reconnects.inc()
        if self._metrics is not None:
            self._metrics.connected.set(1)
        # Whatever happened while disconnected is unknown: wait for the fresh snapshots.
        self._drop_all()
        self._pipeline.mark_received()
        return ws

    def _drop_all(self) -> None:
        for asset_id in self.store.asset_ids():
            self.store.drop(asset_id)

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(ws))
        stopper = asyncio.create_task(stop.wait())
        last_recv: asyncio.Future[bytes] | None = None
        try:
            while not stop.is_set():
                # Raw bytes: the size limit is measured exactly and json decodes UTF-8 itself.
                recv = last_recv = asyncio.ensure_future(ws.recv(decode=False))
                done, _ = await asyncio.wait(
                    {recv, stopper}, timeout=self.idle_flush_s, return_when=asyncio.FIRST_COMPLETED
                )
                if recv not in done:
                    recv.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *_CONNECT_ERRORS):
                        await recv
                    if stop.is_set():
                        return
                    await self._after(self.store.flush())
                    age = self.last_message_age_s()
                    if age is not None and age > self.stale_after_s:
                        raise StaleFeedError(f"no message for {age:.1f}s")
                    continue
                frame = recv.result()
                if frame in ("PONG", b"PONG"):
                    self._pipeline.mark_received()
                    continue
                await self._after(self._pipeline.handle_frame(frame))
        finally:
            # A receive still pending when the session is cancelled (the runtime stops the feed that way)
            # would otherwise end with ConnectionClosed once the socket closes, an exception nobody
            # retrieves, logged as an error at a clean shutdown.
            tasks: list[asyncio.Future[Any]] = [t for t in (heartbeat, stopper, last_recv) if t is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, *_CONNECT_ERRORS):
                    await task

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send("PING")

    async def _after(self, out: ApplyOutcome) -> None:
        for asset_id, reason in out.resync.items():
            if await self._resync(asset_id, reason):
                out.changed.add(asset_id)
        await self._pipeline.notify(out.changed)

    async def _resync(self, asset_id: str, reason: str) -> bool:
        self.store.drop(asset_id)
        now = time.monotonic()
        last = self._last_resync.get(asset_id)
        if self._rest is None or (last is not None and now - last < self.resync_min_interval_s):
            return False
        self._last_resync[asset_id] = now
        if self._metrics is not None:
            self._metrics.resyncs.labels(reason).inc()
        try:
            snapshot = await self._rest.get_book(asset_id)
            self.store.apply_snapshot(snapshot)
        except Exception as exc:  # RestBookError, or anything else: the feed must go on
            log.warning("resync of %s failed: %s", asset_id[:12], exc)
            if self._metrics is not None:
                self._metrics.resync_failures.inc()
            self.store.drop(asset_id)
            return False
        return True
