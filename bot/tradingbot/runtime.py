"""Builds and tears down the bot's long-lived resources (pool, feed, exchange, trader, role).

Used by the FastAPI lifespan; nothing here runs at import time. Tests may inject a feed and an
exchange (e.g. a counting wrapper around the paper exchange) through ``Overrides``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, Gauge

from tradingbot import __version__
from tradingbot.config.settings import Settings
from tradingbot.exchange.base import Exchange
from tradingbot.execution import FenceTiming, OrderFlow
from tradingbot.ledger.dsn import DatabaseTarget, parse_dsn
from tradingbot.ledger.fence import FenceKey
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.store import Ledger
from tradingbot.market.feed import MarketFeed
from tradingbot.market.metrics import MarketMetrics
from tradingbot.metrics import BotMetrics
from tradingbot.role.controller import RoleController
from tradingbot.role.knowledge import RoleKnowledge
from tradingbot.trader import Trader

log = logging.getLogger(__name__)


class DatabaseUrlMissing(RuntimeError):
    """Neither ``PLOY_DATABASE_URL`` nor ``DATABASE_URL`` is set."""


def database_target(settings: Settings) -> DatabaseTarget:
    """The parsed ``PLOY_DATABASE_URL`` (URL or libpq key=value). Raises ``DatabaseUrlMissing`` and
    ``tradingbot.ledger.dsn.DsnError`` (settings validation already refuses a string that fails)."""
    if settings.database_url is None:
        raise DatabaseUrlMissing("PLOY_DATABASE_URL is not set")
    return parse_dsn(settings.database_url.get_secret_value())


def asyncpg_dsn(settings: Settings) -> str:
    """The database URL in the form asyncpg parses exactly (see ``DatabaseTarget.asyncpg_dsn``).
    Raises ``DatabaseUrlMissing`` and ``DsnError``."""
    return database_target(settings).asyncpg_dsn()


def _unchanged(text: str) -> str:
    return text


@dataclass
class Overrides:
    """Test seams: a feed and/or exchange to use instead of the ones the settings describe."""

    feed: MarketFeed | None = None
    exchange: Exchange | None = None


@dataclass
class Runtime:
    """Everything the endpoints read, plus what shutdown must stop."""

    settings: Settings
    registry: CollectorRegistry
    metrics: BotMetrics
    pool: asyncpg.Pool
    ledger: Ledger
    feed: MarketFeed
    exchange: Exchange
    flow: OrderFlow
    trader: Trader
    role: RoleController
    started_monotonic: float = field(default_factory=time.monotonic)
    stop_feed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closers: list[contextlib.AsyncExitStack] = field(default_factory=list)
    redact: Callable[[str], str] = _unchanged
    """Masks the database credentials in a text (health check details echo exception messages)."""
    role_knowledge: RoleKnowledge = field(default_factory=RoleKnowledge.standalone)
    """How fresh the role is (the role watch records into it; standalone is always confirmed)."""

    @property
    def breaker_open(self) -> bool:
        """Whether the exchange's circuit breaker is open (False for exchanges without one)."""
        return bool(getattr(self.exchange, "breaker_open", False))


def build_feed(
    settings: Settings, market_metrics: MarketMetrics, stack: contextlib.AsyncExitStack
) -> MarketFeed:
    """The feed ``settings.feed`` names: the embedded recording ``settings.replay_recording`` replayed,
    or the Polymarket market channel for every configured token (its REST client is closed by
    ``stack``)."""
    if settings.feed == "replay":
        from tradingbot.market.replay import ReplayFeed, embedded_recording

        return ReplayFeed(
            [embedded_recording(settings.replay_recording)],
            speed=settings.replay_speed,
            loop=settings.replay_loop,
            metrics=market_metrics,
        )
    from tradingbot.market.rest import RestBookClient
    from tradingbot.market.ws import PolymarketWsFeed

    http = httpx.AsyncClient(timeout=10.0)
    stack.push_async_callback(http.aclose)
    markets = settings.trading.markets
    return PolymarketWsFeed(
        settings.polymarket_ws_url,
        [token for market in markets for token in market.tokens],
        RestBookClient(http, settings.polymarket_rest_url),
        complements=[(m.yes_token, m.no_token) for m in markets],
        metrics=market_metrics,
    )


def build_exchange(settings: Settings, feed: MarketFeed) -> Exchange:
    """The paper exchange filling against ``feed``'s books, behind retries and a circuit breaker."""
    from tradingbot.exchange.paper import PaperExchange
    from tradingbot.exchange.resilient import ResilientExchange

    # One paper venue for all markets; Polymarket's fee rate is per market, the paper venue takes the
    # highest configured one so simulated fees are never understated.
    fee_rate = max((m.fee_rate for m in settings.trading.markets), default=Decimal(0))
    return ResilientExchange(PaperExchange(feed.book, fee_rate))


async def start_runtime(settings: Settings, overrides: Overrides | None = None) -> Runtime:
    """Create the pool, feed, exchange, trader and role; start the feed and role tasks.

    The pool connects lazily (``min_size=0``), so a database that is down at startup makes the bot
    not ready instead of not starting. Raises ``DatabaseUrlMissing``.
    """
    overrides = overrides or Overrides()
    target = database_target(settings)
    dsn = target.asyncpg_dsn()
    log.info(
        "ploy-bot %s starting: role=%s bot=%s feed=%s database=%s",
        __version__,
        settings.role,
        settings.effective_bot_id,
        settings.feed,
        target.masked(),
    )
    stack = contextlib.AsyncExitStack()
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)
    feed = overrides.feed or build_feed(settings, MarketMetrics(registry), stack)
    exchange = overrides.exchange or build_exchange(settings, feed)
    timing = FenceTiming(settings.fence_timeout_seconds)
    pool = await create_pool(dsn, idle_in_transaction_timeout_s=timing.fence_timeout_s)
    ledger = Ledger(pool, settings.effective_bot_id)
    flow = OrderFlow(ledger, exchange, metrics, timing)
    trader = Trader(settings.trading, feed, flow, metrics)
    role = RoleController(
        flow, trader, metrics, holder_identity(settings, time.time()), default_fence_key(settings)
    )
    feed.subscribe(trader.on_book)
    age = Gauge(
        "ploy_market_data_age_seconds",
        "Seconds since the last market-data message (NaN before the first).",
        registry=registry,
    )
    age.set_function(lambda: _age_or_nan(feed))
    runtime = Runtime(settings, registry, metrics, pool, ledger, feed, exchange, flow, trader, role)
    runtime.closers.append(stack)
    runtime.redact = target.redactor()
    runtime.tasks.append(asyncio.create_task(feed.run(runtime.stop_feed), name="market-feed"))
    if settings.role == "standalone":
        await role.observe(True, settings.epoch)
    else:
        runtime.role_knowledge = RoleKnowledge()
        watch = _watch_role(settings, role, stack, runtime.role_knowledge)
        runtime.tasks.append(asyncio.create_task(watch, name="role-watch"))
    return runtime


def holder_identity(settings: Settings, started_at: float) -> str:
    """This process as the fence row names it: ``pod-name/pod-uid pid=N started=ISO-8601``.

    Pod name and UID come from the Downward API (``PLOY_POD_NAME``, ``PLOY_POD_UID``); outside a pod
    the host name stands in. The pid and ``started_at`` (Unix seconds) tell two processes of one pod
    apart (a container restart).
    """
    pod = settings.pod_name or socket.gethostname()
    uid = settings.pod_uid or "-"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at))
    return f"{pod}/{uid} pid={os.getpid()} started={started}"


def default_fence_key(settings: Settings) -> FenceKey:
    """The fence key when the role source gives none: the standalone bot id, or (in a cluster, before
    the TradingBot's UID is known) ``namespace/name`` standing in for the UID."""
    if settings.role == "cluster":
        assert settings.tradingbot_namespace and settings.tradingbot_name
        return FenceKey(
            uid=settings.effective_bot_id,
            namespace=settings.tradingbot_namespace,
            name=settings.tradingbot_name,
        )
    return FenceKey.standalone(settings.effective_bot_id)


def _age_or_nan(feed: MarketFeed) -> float:
    age = feed.last_message_age_s()
    return float("nan") if age is None else age


async def _watch_role(
    settings: Settings, role: RoleController, stack: contextlib.AsyncExitStack, knowledge: RoleKnowledge
) -> None:
    from tradingbot.role.tradingbot_watch import WatchTimings, api_client, watch_tradingbot

    assert settings.tradingbot_namespace and settings.tradingbot_name and settings.color
    try:
        api = await api_client(settings.kubeconfig)
    except Exception as exc:  # readiness shows why the role is never confirmed
        knowledge.failed(f"no Kubernetes client: {type(exc).__name__}: {exc}")
        raise
    stack.push_async_callback(api.close)
    await watch_tradingbot(
        api,
        settings.tradingbot_namespace,
        settings.tradingbot_name,
        settings.color,
        role.observe,
        knowledge=knowledge,
        timings=WatchTimings.for_confirm_window(settings.role_confirm_seconds),
    )


async def stop_runtime(runtime: Runtime) -> None:
    """Graceful stop within ``settings.shutdown_grace_seconds``: refuse new orders, let passes in flight
    record their results, stop the role and feed, close the pool."""
    grace = runtime.settings.shutdown_grace_seconds
    deadline = time.monotonic() + grace
    await runtime.trader.stop(timeout_s=grace * 0.6)
    await runtime.role.close()
    runtime.stop_feed.set()
    for task in runtime.tasks:
        task.cancel()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=max(0.1, deadline - time.monotonic()))
    for stack in runtime.closers:
        await stack.aclose()
    try:
        await asyncio.wait_for(runtime.pool.close(), timeout=max(0.5, deadline - time.monotonic()))
    except TimeoutError:
        runtime.pool.terminate()
    log.info("ploy-bot stopped")
