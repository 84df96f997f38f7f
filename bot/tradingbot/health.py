"""Readiness checks (DESIGN §5): database reachable, schema at the expected version, market data fresh,
circuit breaker closed, config valid. Each check is timed and bounded by a timeout, and all run
concurrently so one hung dependency cannot stall the probe past ``timeout_s``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from tradingbot.ledger.migrate import current_version


@dataclass(frozen=True)
class CheckResult:
    """One check: ``ok``, how long it took (seconds) and a short human ``detail``."""

    name: str
    ok: bool
    latency_seconds: float
    detail: str

    def as_json(self) -> dict[str, object]:
        """``{"ok": bool, "latency_seconds": float, "detail": str}``."""
        return {"ok": self.ok, "latency_seconds": round(self.latency_seconds, 6), "detail": self.detail}


Check = Callable[[], Awaitable[str]]
"""A check returns a detail string when healthy and raises (any exception) when not."""


async def timed(name: str, check: Check, timeout_s: float) -> CheckResult:
    """Run ``check`` with a timeout; never raises."""
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout_s)
        ok = True
    except TimeoutError:
        detail, ok = f"timed out after {timeout_s}s", False
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
    return CheckResult(name, ok, time.perf_counter() - started, detail)


async def run_checks(checks: dict[str, Check], timeout_s: float) -> list[CheckResult]:
    """Run all ``checks`` concurrently; results in the order given."""
    return list(await asyncio.gather(*(timed(name, check, timeout_s) for name, check in checks.items())))


def database_check(pool: asyncpg.Pool) -> Check:
    """Healthy when a pooled connection answers ``SELECT 1``."""

    async def check() -> str:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return "reachable"

    return check


def schema_check(pool: asyncpg.Pool, expected: int) -> Check:
    """Healthy when the applied schema version equals ``expected``."""

    async def check() -> str:
        async with pool.acquire() as conn:
            version = await current_version(conn)
        if version != expected:
            raise RuntimeError(f"schema version {version}, expected {expected} (run `ploy-bot migrate`)")
        return f"version {version}"

    return check


def market_data_check(age_s: Callable[[], float | None], max_age_s: float) -> Check:
    """Healthy when the feed's last message is at most ``max_age_s`` seconds old."""

    async def check() -> str:
        age = age_s()
        if age is None:
            raise RuntimeError("no market data received yet")
        if age > max_age_s:
            raise RuntimeError(f"last message {age:.1f}s ago (limit {max_age_s}s)")
        return f"last message {age:.3f}s ago"

    return check


def breaker_check(is_open: Callable[[], bool]) -> Check:
    """Healthy while the exchange circuit breaker is closed."""

    async def check() -> str:
        if is_open():
            raise RuntimeError("exchange circuit breaker is open")
        return "closed"

    return check


def config_check() -> Check:
    """The config was validated before anything started; an invalid one never gets this far."""

    async def check() -> str:
        return "validated at startup"

    return check
