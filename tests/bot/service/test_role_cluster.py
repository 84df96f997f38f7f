"""The in-cluster role against the real API server: each color watches its own TradingBot and trades
only while ``status.activeColor`` is its color, under ``status.epoch``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest

from tests.bot.service.role_cluster import NAME, create_tradingbot, kubectl, set_status
from tests.bot.service.support import (
    Bot,
    BotFactory,
    CountingExchange,
    arbitrage_feed,
    settle,
    trading_config,
)
from tests.support.cluster import ClusterHandle
from tradingbot.exchange.paper import PaperExchange
from tradingbot.ledger.fence import FencedError, FenceKey
from tradingbot.role.controller import RoleState
from tradingbot.role.tradingbot_watch import api_client, watch_tradingbot

pytestmark = [pytest.mark.cluster, pytest.mark.db]


async def _eventually(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _epoch_calls(exchange: CountingExchange, epoch: int) -> int:
    return sum(n for oid, n in exchange.placed.items() if oid.startswith(f"e{epoch}t"))


async def test_each_color_follows_its_tradingbot_status(
    cluster: ClusterHandle, namespace: str, pool: asyncpg.Pool, bots: BotFactory
) -> None:
    create_tradingbot(cluster, namespace)

    feed = arbitrage_feed(size="100000000")
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    # The fence key's UID comes from the watched object; this one only names the ledger.
    key = FenceKey("uid-from-the-watch", namespace, NAME)
    blue: Bot = bots(exchange, feed, trading_config(), key)
    green: Bot = bots(exchange, feed, trading_config(), key)
    api = await api_client(cluster.kubeconfig)
    watches = [
        asyncio.create_task(watch_tradingbot(api, namespace, NAME, color, bot.role.observe))
        for color, bot in (("blue", blue), ("green", green))
    ]
    try:
        # No status yet: nobody trades.
        await asyncio.sleep(1.0)
        assert blue.role.state is RoleState.PASSIVE and green.role.state is RoleState.PASSIVE

        set_status(cluster, namespace, "blue", 1)
        await _eventually(lambda: blue.role.state is RoleState.ACTIVE, "blue active")
        assert green.role.state is RoleState.PASSIVE and green.role.epoch == 1
        await settle(blue)
        assert _epoch_calls(exchange, 1) > 0

        set_status(cluster, namespace, "green", 2)
        await _eventually(lambda: green.role.state is RoleState.ACTIVE, "green active")
        await _eventually(lambda: blue.trader.epoch is None, "blue stops trading")
        await settle(blue)
        blue_calls = _epoch_calls(exchange, 1)
        await feed.touch("1001", "1002")
        await settle(blue)
        await settle(green)
        assert _epoch_calls(exchange, 1) == blue_calls
        assert _epoch_calls(exchange, 2) > 0
        assert all(n == 1 for n in exchange.placed.values())

        first_token = green.role.token
        assert first_token is not None and first_token.key.uid != key.uid
        kubectl(cluster, "-n", namespace, "delete", "tradingbots.ploy.dev", NAME)
        await _eventually(lambda: green.role.state is RoleState.PASSIVE, "green passive after delete")
        assert green.trader.epoch is None

        # Recreated under the same name, its epochs restart at 1, below the old object's 2: it still
        # trades (the fence is keyed by UID), and the old object's row is retired.
        create_tradingbot(cluster, namespace)
        set_status(cluster, namespace, "blue", 1)
        await _eventually(lambda: blue.role.state is RoleState.ACTIVE, "blue active on the new object")
        token = blue.role.token
        assert token is not None and token.key.uid != first_token.key.uid and token.token > first_token.token
        await feed.touch("1001", "1002")
        await settle(blue)
        assert any(oid.startswith(f"e1t{token.token}-") for oid in exchange.placed)
        with pytest.raises(FencedError):
            async with first_token.fenced():
                pass
    finally:
        for task in watches:
            task.cancel()
        for task in watches:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await api.close()
