"""A venue several bot processes share, on loopback: the real paper exchange behind a tiny JSON-lines
TCP protocol, with configurable network delay, that records every order as it arrives.

Why not the in-process paper exchange: the fence's promise is about what a *venue* sees when several
processes (some stale, some frozen) talk to it. A request already on the wire is not recalled when
its sender gives up, so this venue delivers a request after its delay whatever the client does, and
refuses an order that arrives after its deadline, as Polymarket does with an expired signed order.
The client order id carries the writer's token (``e{epoch}t{token}-…``), which is what the venue logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradingbot.domain import Fill, OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.exchange.base import ExchangeError, OrderRejected
from tradingbot.exchange.paper import PaperExchange
from tradingbot.market.book import Level, OrderBook

EXPIRED = "expired before it arrived"


def token_of(client_order_id: str) -> int | None:
    """The fence token in a client order id written by the trader (``e{epoch}t{token}-…``)."""
    head = client_order_id.split("-", 1)[0]
    if not head.startswith("e") or "t" not in head:
        return None
    try:
        return int(head.split("t", 1)[1])
    except ValueError:
        return None


@dataclass(frozen=True)
class Arrival:
    """One order request as it reached the venue: when (Unix seconds), which order, under which
    token, and whether the venue executed it (False: refused as expired, or a repeat of a known id)."""

    at: float
    client_order_id: str
    token: int | None
    executed: bool
    status: OrderStatus


def _result_json(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id,
        "status": result.status.value,
        "fills": [[str(f.price), str(f.size), str(f.fee_usd)] for f in result.fills],
        "reason": result.reason,
    }


def _result_from(data: dict[str, Any]) -> OrderResult:
    fills = tuple(Fill(Decimal(p), Decimal(s), Decimal(f)) for p, s, f in data["fills"])
    return OrderResult(data["client_order_id"], OrderStatus(data["status"]), fills, data["reason"])


def deep_book(asset_id: str, ask: str, size: str = "1000000000") -> OrderBook:
    """A book of ``asset_id`` with one ask level at ``ask`` deep enough never to run out."""
    book = OrderBook(asset_id, "0xvenue")
    book.apply_snapshot([], [Level(Decimal(ask), Decimal(size))], Decimal("0.01"))
    return book


@dataclass
class VenueServer:
    """The shared venue. ``delay_s`` is the (min, max) one-way delay of a request, seconds;
    ``reply_delay_s`` delays the answer to a ``place`` after the venue acted (a slow or lost reply).

    ``arrivals`` lists every ``place`` request in arrival order. Start with ``start()``; the port is
    then in ``port``.
    """

    books: dict[str, OrderBook]
    delay_s: tuple[float, float] = (0.0, 0.0)
    reply_delay_s: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _deliveries: set[asyncio.Task[OrderResult]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.paper = PaperExchange(self.books.get, Decimal(0))

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port); return the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop deliveries still on the wire."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._deliveries):
            task.cancel()

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until every request on the wire has been delivered."""
        if self._deliveries:
            await asyncio.wait(list(self._deliveries), timeout=timeout_s)

    async def _deliver(self, req: OrderRequest, expires_at: datetime | None) -> OrderResult:
        low, high = self.delay_s
        if high > 0:
            await asyncio.sleep(random.uniform(low, high))
        known = await self.paper.get_order(req.client_order_id)
        result = await self.paper.place_order(req, expires_at)
        executed = known is None and result.reason != EXPIRED
        self.arrivals.append(
            Arrival(time.time(), req.client_order_id, token_of(req.client_order_id), executed, result.status)
        )
        return result

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            msg = json.loads(line)
            op = msg["op"]
            if op == "place":
                r = msg["req"]
                req = OrderRequest(
                    r["client_order_id"],
                    r["token_id"],
                    Side(r["side"]),
                    Decimal(r["price"]),
                    Decimal(r["size"]),
                    TimeInForce(r["tif"]),
                )
                expires = datetime.fromisoformat(msg["expires_at"]) if msg.get("expires_at") else None
                # The request is on the wire: it is delivered even if the client stops waiting.
                task = asyncio.create_task(self._deliver(req, expires))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
                try:
                    reply: dict[str, Any] = {"ok": _result_json(await asyncio.shield(task))}
                    if self.reply_delay_s > 0:
                        await asyncio.sleep(self.reply_delay_s)
                except OrderRejected as exc:
                    reply = {"rejected": str(exc)}
            elif op == "get":
                found = await self.paper.get_order(msg["client_order_id"])
                reply = {"ok": None if found is None else _result_json(found)}
            elif op == "cancel":
                found = await self.paper.cancel_order(msg["client_order_id"])
                reply = {"ok": None if found is None else _result_json(found)}
            else:
                reply = {"error": f"unknown op {op!r}"}
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class VenueClient:
    """``Exchange`` over the venue's protocol: one connection per call; transport failures raise
    ``ExchangeError``. It has no timeout of its own: the order flow bounds every call."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port

    async def _call(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise ExchangeError(f"venue unreachable: {exc}") from exc
        try:
            writer.write((json.dumps(msg) + "\n").encode())
            await writer.drain()
            line = await reader.readline()
        except OSError as exc:
            raise ExchangeError(f"venue connection lost: {exc}") from exc
        finally:
            writer.close()
        if not line:
            raise ExchangeError("venue closed the connection without an answer")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        """Send ``req`` with its deadline; the venue's answer. Raises ExchangeError, OrderRejected."""
        reply = await self._call(
            {
                "op": "place",
                "req": {
                    "client_order_id": req.client_order_id,
                    "token_id": req.token_id,
                    "side": req.side.value,
                    "price": str(req.price),
                    "size": str(req.size),
                    "tif": req.time_in_force.value,
                },
                "expires_at": None if expires_at is None else expires_at.isoformat(),
            }
        )
        if "rejected" in reply:
            raise OrderRejected(reply["rejected"])
        if "ok" not in reply or reply["ok"] is None:
            raise ExchangeError(f"venue error: {reply}")
        return _result_from(reply["ok"])

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """The venue's state of ``client_order_id``, None if it never accepted it."""
        reply = await self._call({"op": "get", "client_order_id": client_order_id})
        return None if reply.get("ok") is None else _result_from(reply["ok"])

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        """Cancel the remainder of ``client_order_id``; None if unknown."""
        reply = await self._call({"op": "cancel", "client_order_id": client_order_id})
        return None if reply.get("ok") is None else _result_from(reply["ok"])
