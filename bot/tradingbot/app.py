"""The bot's FastAPI app: health probes, Prometheus metrics and read-only ledger views.

``create_app(settings)`` builds the app; its lifespan starts the runtime (pool, feed, role, trader)
and stops it gracefully on shutdown (uvicorn turns SIGTERM into that shutdown). The routes live in
``tradingbot.api`` (one router per concern); the OpenAPI schema is served at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tradingbot import __version__
from tradingbot.api import health, ledger, metrics
from tradingbot.config.settings import Settings
from tradingbot.health import SchemaProbe, SingleFlight, database_check
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.migrate import expected_version
from tradingbot.runtime import Overrides, start_runtime, stop_runtime

DATABASE_CONFIRMED_S = 1.0
"""How old a successful database round trip may be and still answer a readiness probe, seconds.

Well under the readiness probe's period (5 s), so every kubelet probe reports the database as it was
at most a second ago, while a burst of probes (or a load test) costs at most one round trip a second.
A failed round trip is never reused."""


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """Ledger views answer 503 (retry later), not 500, while PostgreSQL is unreachable."""
    return JSONResponse({"error": "database unavailable", "detail": type(exc).__name__}, status_code=503)


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
            SingleFlight(database_check(runtime.pool), reuse_success_s=DATABASE_CONFIRMED_S),
            SchemaProbe(runtime.pool, expected_version()),
        )
        try:
            yield
        finally:
            await stop_runtime(runtime)

    app = FastAPI(title="ploy-bot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    # Refused logins (SQLSTATE class 28, e.g. a wrong password) and a missing database (3D000) are not
    # transient, but for a ledger view they equally mean: no database, try later.
    refused = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)
    for error in (*TRANSIENT_DB_ERRORS, *refused):
        if issubclass(error, Exception):
            app.add_exception_handler(error, _database_unavailable)
    for router in (health.router, metrics.router, ledger.router):
        app.include_router(router)
    return app
