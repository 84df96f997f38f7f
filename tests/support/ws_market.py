"""A local stand-in for Polymarket's CLOB WebSocket market channel that serves a recording, for pods.

It speaks the channel as documented (docs.polymarket.com, "Market Channel"): it reads the
subscription message, answers ``PING`` with ``PONG`` and pushes the recorded messages, one text frame
each, with a few malformed frames among them (:data:`MALFORMED`, counted by the bot and skipped).
After the recording it repeats its last message (the recorded final ``book`` snapshot) every
``repeat_s`` seconds, so the data stays fresh for as long as the client listens. The server runs on
its own event loop in a thread, bound to ``host`` (e.g. the node's bridge address, where pods reach
it) on a free port, only inside the ``with`` block. The library's server is ``websockets``' own.

A test makes the market go stale with :meth:`RecordingServer.hush` (or ``hushed=True`` from the start):
from then on the server sends nothing after a connection's recording, neither the repeated snapshot nor
a ``PONG``, while the connection stays open (a bot reconnects after its own staleness limit and gets
the recording again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

MALFORMED: tuple[tuple[str, str], ...] = (
    ("invalid_json", '{"event_type": "book", '),
    ("invalid_fields", '{"event_type": "price_change", "market": "0x1"}'),
    ("unknown_event_type", '{"event_type": "carrier_pigeon"}'),
)
"""(the bot's ``ploy_market_malformed_messages_total`` reason, frame) pushed on every connection."""


@dataclass
class RecordingServer:
    """What the server saw: ``subscriptions`` (parsed JSON), ``connections``, ``pings``; its ``url``."""

    messages: list[Any]
    host: str
    repeat_s: float = 1.0
    frame_gap_s: float = 0.02
    port: int = 0
    subscriptions: list[Any] = field(default_factory=list)
    connections: int = 0
    pings: int = 0
    hushed: bool = False
    """Send nothing after the recording (no repeats, no ``PONG``); see :meth:`hush`."""

    @property
    def url(self) -> str:
        """``ws://host:port/ws/market``."""
        return f"ws://{self.host}:{self.port}/ws/market"

    def hush(self) -> None:
        """From now on send nothing after a connection's recording: its market data goes stale.
        (A bool read by the server's loop thread: setting it needs no lock.)"""
        self.hushed = True

    async def handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        self.subscriptions.append(json.loads(await asyncio.wait_for(conn.recv(), timeout=10)))
        pongs = asyncio.create_task(self._pongs(conn))
        try:
            for i, message in enumerate(self.messages):
                await conn.send(json.dumps(message))
                if i < len(MALFORMED):
                    await conn.send(MALFORMED[i][1])
                await asyncio.sleep(self.frame_gap_s)
            while True:
                await asyncio.sleep(self.repeat_s)
                if not self.hushed:
                    await conn.send(json.dumps(self.messages[-1]))
        except Exception:  # the client went away: this connection is over
            return
        finally:
            pongs.cancel()

    async def _pongs(self, conn: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for msg in conn:
                if msg == "PING":
                    self.pings += 1
                    if not self.hushed:
                        await conn.send("PONG")


@contextlib.contextmanager
def recording_server(
    messages: list[Any], host: str, timeout: float = 10.0, *, hushed: bool = False
) -> Iterator[RecordingServer]:
    """Serve ``messages`` on ``host`` (free port) for the duration of the block (``hushed``: silent
    after each connection's recording from the start); RuntimeError when the server does not listen
    within ``timeout`` seconds."""
    server = RecordingServer(messages, host, hushed=hushed)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with serve(server.handler, host, 0) as srv:
            server.port = next(iter(srv.sockets)).getsockname()[1]
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"the recording server did not listen on {host} within {timeout}s")
        yield server
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
