"""The bot's HTTP surface: health probes, Prometheus metrics and read-only ledger views.

``create_app(settings)`` builds the FastAPI app; its lifespan starts the runtime (pool, feed, role,
trader) and stops it gracefully on shutdown (uvicorn turns SIGTERM into that shutdown).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tradingbot import __version__
from tradingbot.config.settings import Settings
from tradingbot.health import (
    Check,
    CheckResult,
    SchemaProbe,
    SingleFlight,
    breaker_check,
    config_check,
    database_check,
    fence_check,
    market_data_check,
    role_check,
    run_checks,
)
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.migrate import expected_version
from tradingbot.runtime import Overrides, Runtime, start_runtime, stop_runtime

CHECK_TIMEOUT_S = 1.0
"""Upper bound of one readiness check; kubelet probes default to a 1 s timeout."""


def _runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


def _probes(request: Request) -> tuple[Check, Check]:
    """The app's shared (database, schema) probes, created in the lifespan."""
    return cast(tuple[Check, Check], request.app.state.probes)


async def _checks(rt: Runtime, probes: tuple[Check, Check]) -> list[CheckResult]:
    database, schema = probes
    return await run_checks(
        {
            "database": database,
            "schema": schema,
            "market_data": market_data_check(
                rt.feed.last_message_age_s, rt.settings.trading.risk.max_data_age_seconds
            ),
            "circuit_breaker": breaker_check(lambda: rt.breaker_open),
            "fence": fence_check(lambda: rt.role.readiness(2 * rt.settings.fence_timeout_seconds)),
            "config": config_check(),
            "role": role_check(rt.role_knowledge, rt.settings.role_confirm_seconds),
        },
        CHECK_TIMEOUT_S,
        rt.redact,
    )


def _checks_json(results: list[CheckResult]) -> dict[str, Any]:
    return {r.name: r.as_json() for r in results}


def create_app(settings: Settings, overrides: Overrides | None = None) -> FastAPI:
    """The bot's FastAPI app for validated ``settings``; resources live only inside its lifespan.

    Endpoints: ``/health/live`` (never touches the database), ``/health/ready`` (503 unless every
    check passes), ``/health``, ``/metrics``, ``/positions``, ``/orders``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start the runtime before serving; stop it gracefully after uvicorn stops serving."""
        runtime = await start_runtime(settings, overrides)
        app.state.runtime = runtime
        app.state.probes = (
            SingleFlight(database_check(runtime.pool)),
            SchemaProbe(runtime.pool, expected_version()),
        )
        try:
            yield
        finally:
            await stop_runtime(runtime)

    app = FastAPI(title="ploy-bot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)

    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        """Ledger views answer 503 (retry later), not 500, while PostgreSQL is unreachable."""
        return JSONResponse({"error": "database unavailable", "detail": type(exc).__name__}, status_code=503)

    # Refused logins (SQLSTATE class 28, e.g. a wrong password) and a missing database (3D000) are not
    # transient, but for a ledger view they equally mean: no database, try later.
    refused = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)
    for error in (*TRANSIENT_DB_ERRORS, *refused):
        if issubclass(error, Exception):
            app.add_exception_handler(error, database_unavailable)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        """Answering at all proves the event loop runs; deliberately no dependency is consulted."""
        return {"status": "ok"}

    @app.get("/health/ready")
    async def ready(request: Request) -> JSONResponse:
        """Readiness: 200 when every check passes, else 503; ``{"status", "checks": {name: {ok,
        latency_seconds, detail}}}``."""
        results = await _checks(_runtime(request), _probes(request))
        ok = all(r.ok for r in results)
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": _checks_json(results)},
            status_code=200 if ok else 503,
        )

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        """Details for people and dashboards: status, version, uptime_seconds, role, epoch, checks."""
        rt = _runtime(request)
        results = await _checks(rt, _probes(request))
        ok = all(r.ok for r in results)
        return JSONResponse(
            {
                "status": "ok" if ok else "degraded",
                "version": __version__,
                "uptime_seconds": round(time.monotonic() - rt.started_monotonic, 3),
                "bot_id": rt.settings.effective_bot_id,
                "role": {
                    "mode": rt.settings.role,
                    "color": rt.settings.color,
                    "state": rt.role.state.value,
                    "trading": rt.trader.epoch is not None,
                },
                "epoch": rt.role.epoch,
                "checks": _checks_json(results),
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus exposition of this process's registry."""
        return Response(generate_latest(_runtime(request).registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/positions")
    async def positions(request: Request) -> dict[str, Any]:
        """Net positions per token derived from the ledger's fills, valued at the current best bids
        (complete sets at 1 USD); amounts are decimal strings."""
        rt = _runtime(request)
        rows = await rt.ledger.positions()
        valuation = await rt.trader.valuation()
        return {
            "positions": [
                {"token_id": p.token_id, "shares": str(p.shares), "cost_usd": str(p.cost_usd)} for p in rows
            ],
            "value_usd": str(valuation.value_usd),
            "pnl_usd": str(valuation.pnl_usd),
            "exposure_usd": str(valuation.exposure_usd),
        }

    @app.get("/orders")
    async def orders(request: Request, limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """The ``limit`` newest orders of this bot, newest first; prices and sizes as decimal strings."""
        rt = _runtime(request)
        rows = await rt.ledger.recent_orders(limit)
        return {
            "orders": [
                {
                    "client_order_id": o.request.client_order_id,
                    "market": o.market,
                    "token_id": o.request.token_id,
                    "side": o.request.side.value,
                    "price": str(o.request.price),
                    "size": str(o.request.size),
                    "time_in_force": o.request.time_in_force.value,
                    "status": o.status.value,
                    "reason": o.reason,
                    "epoch": o.epoch,
                    "created_at": o.created_at.isoformat(),
                    "updated_at": o.updated_at.isoformat(),
                }
                for o in rows
            ]
        }

    return app
