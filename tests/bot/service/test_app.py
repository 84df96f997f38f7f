"""The HTTP surface against the real PostgreSQL: probes, metrics, ledger views, secret masking."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.bot.service.support import YES, CountingExchange, StaticFeed, arbitrage_feed, trading_config
from tests.support.postgres import PostgresServer
from tradingbot.api.models import Ready
from tradingbot.app import DATABASE_CONFIRMED_S, create_app
from tradingbot.config.settings import Settings, load_settings
from tradingbot.exchange.paper import PaperExchange
from tradingbot.ledger.migrate import expected_version
from tradingbot.runtime import Overrides

pytestmark = pytest.mark.db

PASSWORD = "hunter2-do-not-log"


def _settings(monkeypatch: pytest.MonkeyPatch, dsn: str, **env: str) -> Settings:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    # The test server trusts every connection, so the password is carried but never checked.
    monkeypatch.setenv("PLOY_DATABASE_URL", dsn.replace("postgres@", f"postgres:{PASSWORD}@"))
    monkeypatch.setenv("PLOY_REPLAY_SPEED", "50")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            yield client


async def _ready(client: httpx.AsyncClient) -> httpx.Response:
    """Poll /health/ready until 200 (at most ~10 s); return the last response."""
    response = await client.get("/health/ready")
    for _ in range(100):
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
        response = await client.get("/health/ready")
    return response


async def test_ready_on_the_replay_feed_and_never_logs_the_password(
    migrated_dsn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(monkeypatch, migrated_dsn)
    app = create_app(settings)
    async with running(app) as client:
        ready = await _ready(client)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        expected = {"database", "schema", "market_data", "circuit_breaker", "config", "role", "fence"}
        assert set(checks) == expected
        assert all(c["ok"] and c["latency_seconds"] >= 0 for c in checks.values())
        assert Ready.model_validate(ready.json()).status == "ready", "the body has the documented shape"
        await app.state.runtime.role.wait_settled()
        health = (await client.get("/health")).json()
        assert health["status"] == "ok" and health["epoch"] == 1
        assert health["role"] == {"mode": "standalone", "color": None, "state": "active", "trading": True}
        assert health["uptime_seconds"] > 0 and health["version"]
        metrics = (await client.get("/metrics")).text
        for name in (
            "ploy_role_active 1.0",
            "ploy_epoch 1.0",
            "ploy_orders_placed_total",
            "ploy_market_",
        ):
            assert name in metrics
    assert PASSWORD not in caplog.text
    assert "user=postgres password=*** " in caplog.text


async def test_unmigrated_database_is_not_ready(db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(create_app(_settings(monkeypatch, db_dsn))) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        schema = response.json()["checks"]["schema"]
        assert schema["ok"] is False and f"expected {expected_version()}" in schema["detail"]


async def test_stopped_database_flips_ready_but_not_live(
    postgres: PostgresServer, migrated_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(_settings(monkeypatch, migrated_dsn))
    async with running(app) as client:
        assert (await _ready(client)).status_code == 200
        postgres.stop()
        try:
            # A success is reused for up to DATABASE_CONFIRMED_S, so the first probes may still pass.
            ready = await client.get("/health/ready")
            for _ in range(int(DATABASE_CONFIRMED_S / 0.05) + 40):
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.05)
                ready = await client.get("/health/ready")
            live = await client.get("/health/live")
            assert ready.status_code == 503
            body: dict[str, Any] = ready.json()
            assert body["checks"]["database"]["ok"] is False
            assert body["checks"]["market_data"]["ok"] is True
            assert live.status_code == 200 and live.json() == {"status": "ok"}
            orders = await client.get("/orders")
            assert orders.status_code == 503 and orders.json()["error"] == "database unavailable"
        finally:
            postgres.start()
        assert (await _ready(client)).status_code == 200


async def test_stale_market_data_is_not_ready(migrated_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = StaticFeed()  # never receives a message
    app = create_app(_settings(monkeypatch, migrated_dsn), Overrides(feed=feed))
    async with running(app) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert (
            response.json()["checks"]["market_data"]["detail"] == "RuntimeError: no market data received yet"
        )


async def test_orders_and_positions_views(
    migrated_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from tests.bot.service.support import MARKET, NO, YES

    config = tmp_path / "bot.yaml"
    config.write_text(
        f"""
trading:
  mode: paper
  markets: [{{conditionId: "{MARKET}", tokens: ["{YES}", "{NO}"]}}]
  strategy: {{name: complete-set-arbitrage, minEdge: "0.01", maxOrderSize: "10"}}
  risk: {{maxExposureUsd: "9.5", maxDailyLossUsd: "100"}}
""",
        encoding="utf-8",
    )
    settings = _settings(monkeypatch, migrated_dsn, PLOY_CONFIG=str(config))
    feed = arbitrage_feed()
    app = create_app(settings, Overrides(feed=feed))
    async with running(app) as client:
        runtime = app.state.runtime
        await runtime.role.wait_settled()
        await runtime.trader.wait_idle()  # activation trades once
        await feed.touch(YES)  # the exposure limit allows no second set
        await runtime.trader.wait_idle()
        orders = (await client.get("/orders")).json()["orders"]
        assert sorted((o["token_id"], o["status"], o["price"], o["size"]) for o in orders) == [
            (YES, "FILLED", "0.40", "10"),
            (NO, "FILLED", "0.55", "10"),
        ]
        positions = (await client.get("/positions")).json()
        assert Decimal(positions["pnl_usd"]) == Decimal("0.5")
        assert Decimal(positions["exposure_usd"]) == Decimal("9.5")
        metrics = (await client.get("/metrics")).text
        assert "ploy_orders_filled_total 2.0" in metrics
        assert 'ploy_orders_rejected_total{reason="max_exposure"} 1.0' in metrics


async def test_shutdown_settles_an_order_in_flight(
    migrated_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(monkeypatch, migrated_dsn)
    settings.trading = trading_config()
    feed = arbitrage_feed()
    exchange = CountingExchange(PaperExchange(feed.book, Decimal(0)))
    exchange.hold_after_place = True
    app = create_app(settings, Overrides(feed=feed, exchange=exchange))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    await asyncio.wait_for(exchange.reached.wait(), 10)  # the YES leg is at the exchange
    runtime = app.state.runtime
    stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
    await asyncio.sleep(0.2)
    assert runtime.trader.epoch is None, "no new orders once shutdown began"
    assert not stopping.done(), "shutdown waits for the order in flight"
    exchange.release.set()
    await asyncio.wait_for(stopping, 10)
    assert list(exchange.placed) == [next(iter(exchange.placed))], (
        "the NO leg was not sent after shutdown began"
    )
    conn = await asyncpg.connect(migrated_dsn)
    try:
        rows = await conn.fetch("SELECT token_id, status FROM orders")
    finally:
        await conn.close()
    assert [(r["token_id"], r["status"]) for r in rows] == [(YES, "FILLED")]


def test_the_openapi_schema_documents_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routes declare response models, so a client generator or a person reading /openapi.json sees
    the bodies of the probes and the ledger views, including their 503 answers."""
    schema = create_app(_settings(monkeypatch, "postgresql://postgres@127.0.0.1:1/x")).openapi()
    paths = schema["paths"]
    assert set(paths) == {"/health/live", "/health/ready", "/health", "/metrics", "/positions", "/orders"}

    def body(path: str, status: str) -> str:
        ref: str = paths[path]["get"]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]

    assert (body("/health/ready", "200"), body("/health/ready", "503")) == ("Ready", "Ready")
    assert (body("/health", "200"), body("/health", "503")) == ("Health", "Health")
    assert (body("/orders", "200"), body("/orders", "503")) == ("Orders", "Unavailable")
    assert body("/positions", "200") == "Positions"
    order = schema["components"]["schemas"]["OrderOut"]["properties"]
    assert {"client_order_id", "status", "epoch", "fence_token"} <= set(order)
