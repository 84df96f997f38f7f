"""One bot process for the fence chaos runs (tests/support/fence_chaos.py), as a real OS process.

It wires the bot's own order path the way ``tradingbot.runtime`` does — pool, ledger, order flow,
trader, role controller, and the real watch on its TradingBot in the real API server — but trades a
synthetic always-profitable market (a tick every 30 ms) against the shared loopback venue, so every
active moment produces orders. The harness can SIGSTOP, SIGCONT and SIGKILL it.

Protocol: JSON lines. stdin: ``{"cmd": "bind", "namespace", "name", "color", "holder"}``,
``{"cmd": "unbind"}``, ``{"cmd": "state"}``. stdout: ``{"event": "bound"|"unbound"|"state"|"acquired",
...}``; ``acquired`` carries ``token`` and ``holder`` for every token this process drew.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from tests.bot.service.support import NO, YES, StaticFeed, arbitrage_feed, trading_config
from tests.support.venue import VenueClient
from tradingbot.execution import FenceTiming, OrderFlow
from tradingbot.ledger.fence import FencedError, FenceKey
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.store import Ledger
from tradingbot.ledger.token import FenceToken
from tradingbot.metrics import BotMetrics
from tradingbot.role.controller import RoleController
from tradingbot.role.tradingbot_watch import api_client, watch_tradingbot
from tradingbot.trader import Trader


def emit(event: str, **fields: Any) -> None:
    """Write one event line to the harness."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class ReportingLedger(Ledger):
    """The real ledger, telling the harness about every token it hands out."""

    async def acquire(
        self,
        key: FenceKey,
        epoch: int,
        holder: str,
        *,
        on_fenced: Callable[[FencedError], None] | None = None,
        on_lost: Callable[[FencedError], None] | None = None,
    ) -> FenceToken:
        token = await super().acquire(key, epoch, holder, on_fenced=on_fenced, on_lost=on_lost)
        emit("acquired", token=token.token, holder=holder, epoch=epoch)
        return token


@dataclass
class Bound:
    """The pieces of one binding (one pod's lifetime of the bot)."""

    pool: asyncpg.Pool
    trader: Trader
    role: RoleController
    tasks: list[asyncio.Task[None]]


async def _tick(feed: StaticFeed) -> None:
    while True:
        await feed.touch(YES, NO)
        await asyncio.sleep(0.03)


async def bind(args: argparse.Namespace, api: Any, cmd: dict[str, Any]) -> Bound:
    """Start the order path of one bot process for TradingBot ``namespace/name`` as ``color``."""
    timing = FenceTiming(args.fence_timeout)
    pool = await create_pool(args.dsn, max_size=4, idle_in_transaction_timeout_s=timing.fence_timeout_s)
    key = FenceKey(uid=f"{cmd['namespace']}/{cmd['name']}", namespace=cmd["namespace"], name=cmd["name"])
    metrics = BotMetrics(CollectorRegistry())
    ledger = ReportingLedger(pool, key.ledger_id)
    flow = OrderFlow(ledger, VenueClient(args.venue_port), metrics, timing, record_retry_s=5.0)
    feed = arbitrage_feed(size="1000000000")
    trader = Trader(trading_config(max_order_size="1"), feed, flow, metrics)
    role = RoleController(flow, trader, metrics, cmd["holder"], key, max_backoff_s=0.3)
    feed.subscribe(trader.on_book)
    tasks = [
        asyncio.create_task(_tick(feed)),
        asyncio.create_task(
            watch_tradingbot(
                api, cmd["namespace"], cmd["name"], cmd["color"], role.observe, max_backoff_s=0.5
            )
        ),
    ]
    return Bound(pool, trader, role, tasks)


async def unbind(bound: Bound) -> None:
    """Stop like a pod on SIGTERM: refuse new orders, let passes in flight finish, close everything."""
    await bound.trader.stop(timeout_s=3.0)
    await bound.role.close()
    for task in bound.tasks:
        task.cancel()
    for task in bound.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    try:
        await asyncio.wait_for(bound.pool.close(), 3)
    except TimeoutError:
        bound.pool.terminate()


async def main() -> None:
    parser = argparse.ArgumentParser(description="a bot process for the fence chaos runs")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--venue-port", type=int, required=True)
    parser.add_argument("--fence-timeout", type=float, default=1.0)
    args = parser.parse_args()
    api = await api_client(__import__("pathlib").Path(args.kubeconfig))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    bound: Bound | None = None
    emit("ready")
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["cmd"] == "bind":
                if bound is not None:
                    await unbind(bound)
                bound = await bind(args, api, cmd)
                emit("bound")
            elif cmd["cmd"] == "unbind":
                if bound is not None:
                    await unbind(bound)
                    bound = None
                emit("unbound")
            elif cmd["cmd"] == "state":
                role = bound.role if bound is not None else None
                emit("state", state=None if role is None else role.state.value)
    finally:
        if bound is not None:
            await unbind(bound)
        await api.close()


if __name__ == "__main__":
    asyncio.run(main())
