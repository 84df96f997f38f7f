"""Routes of the health probes: ``/health/live``, ``/health/ready`` and ``/health``."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tradingbot import __version__
from tradingbot.api.deps import ProbesDep, RuntimeDep, probes_of, runtime_of
from tradingbot.api.models import CheckOut, FenceOut, Health, Live, Ready, RoleOut
from tradingbot.health import (
    Check,
    CheckResult,
    breaker_check,
    config_check,
    fence_check,
    market_data_check,
    role_check,
    run_checks,
)
from tradingbot.runtime import Runtime

CHECK_TIMEOUT_S = 1.0
"""Upper bound of one readiness check, seconds; kubelet probes default to a 1 s timeout."""

router = APIRouter(prefix="/health", tags=["health"])


async def run_readiness(rt: Runtime, probes: tuple[Check, Check]) -> list[CheckResult]:
    """Every readiness check of ``rt``, in a fixed order; the database and schema probes are each
    bounded by ``CHECK_TIMEOUT_S``, the others only read memory."""
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


def _checks(results: list[CheckResult]) -> dict[str, CheckOut]:
    return {
        r.name: CheckOut(ok=r.ok, latency_seconds=round(r.latency_seconds, 6), detail=r.detail)
        for r in results
    }


@router.get("/live", response_model=Live)
async def live() -> Live:
    """Answering at all proves the event loop runs; deliberately no dependency is consulted."""
    return Live()


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready, "description": "not ready"}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when every check passes, else 503, with every check's result (shape: ``Ready``).

    The body is built as plain data rather than through the ``Ready`` model: probes are the hottest
    route, and validating models the checks already produced cost throughput for nothing
    (bench/health_ready.py); the tests check the body against ``Ready``. For the same reason it reads
    the runtime and probes from the request instead of solving dependencies."""
    results = await run_readiness(runtime_of(request), probes_of(request))
    ok = all(r.ok for r in results)
    body = {"status": "ready" if ok else "not_ready", "checks": {r.name: r.as_json() for r in results}}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("", response_model=Health, responses={503: {"model": Health, "description": "a check fails"}})
async def health(rt: RuntimeDep, probes: ProbesDep) -> JSONResponse:
    """Details for people and dashboards: status, version, uptime, role, epoch, fence token, checks."""
    results = await run_readiness(rt, probes)
    ok = all(r.ok for r in results)
    token = rt.role.token
    body = Health(
        status="ok" if ok else "degraded",
        version=__version__,
        uptime_seconds=round(time.monotonic() - rt.started_monotonic, 3),
        bot_id=rt.settings.effective_bot_id,
        role=RoleOut(
            mode=rt.settings.role,
            color=rt.settings.color,
            state=rt.role.state.value,
            trading=rt.trader.epoch is not None,
        ),
        epoch=rt.role.epoch,
        fence=None
        if token is None or not token.held
        else FenceOut(token=token.token, epoch=token.epoch, holder=token.holder),
        checks=_checks(results),
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
