"""Readiness checks (docs/ARCHITECTURE.md, "The bot's readiness"): database reachable, schema at the
expected version, market data fresh, circuit breaker closed, fence token held, role confirmed, config
valid. Each check is timed and bounded by a timeout. They run one after the other in the probe's own
task (no task per check): only the database check does I/O on most probes, so the sum stays near one
database round trip, and each is bounded by ``timeout_s``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from tradingbot.ledger.migrate import current_version
from tradingbot.role.knowledge import RoleKnowledge


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


def _unchanged(text: str) -> str:
    return text


async def timed(
    name: str, check: Check, timeout_s: float, redact: Callable[[str], str] = _unchanged
) -> CheckResult:
    """Run ``check`` with a timeout; never raises. The detail (which may echo an exception's message,
    e.g. a driver error) passes through ``redact``, which masks credentials."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            detail = await check()
        ok = True
    except TimeoutError:
        detail, ok = f"timed out after {timeout_s}s", False
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
    return CheckResult(name, ok, time.perf_counter() - started, redact(detail))


async def run_checks(
    checks: dict[str, Check], timeout_s: float, redact: Callable[[str], str] = _unchanged
) -> list[CheckResult]:
    """Run ``checks`` in order, each bounded by ``timeout_s``, details through ``redact``; results in
    the order given."""
    return [await timed(name, check, timeout_s, redact) for name, check in checks.items()]


class SingleFlight:
    """Concurrent callers share one in-flight run of ``check``.

    Under a burst of probes only one database round trip is in flight; every caller still gets a
    result from a probe that was running when it asked. A caller that gives up (its timeout) does not
    cancel the shared run.
    """

    def __init__(self, check: Check) -> None:
        self._check = check
        self._running: asyncio.Future[str] | None = None

    async def __call__(self) -> str:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check())
            # Nobody may be left to read the outcome if every caller timed out; read it here.
            self._running.add_done_callback(lambda f: f.cancelled() or f.exception())
        return await asyncio.shield(self._running)


def database_check(pool: asyncpg.Pool) -> Check:
    """Healthy when a pooled connection answers ``SELECT 1``."""

    async def check() -> str:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return "reachable"

    return check


class SchemaProbe:
    """Healthy when the applied schema version equals ``expected``.

    A matching version is remembered for ``cache_s`` seconds: migrations only move forward and run
    before a new color starts, so re-reading it on every probe would only add database load. A
    mismatch is re-read on every call.
    """

    def __init__(self, pool: asyncpg.Pool, expected: int, cache_s: float = 30.0) -> None:
        self.pool = pool
        self.expected = expected
        self.cache_s = cache_s
        self._ok_until = 0.0

    async def __call__(self) -> str:
        if time.monotonic() < self._ok_until:
            return f"version {self.expected} (checked within {self.cache_s:.0f}s)"
        async with self.pool.acquire() as conn:
            version = await current_version(conn)
        if version != self.expected:
            raise RuntimeError(f"schema version {version}, expected {self.expected} (run `ploy-bot migrate`)")
        self._ok_until = time.monotonic() + self.cache_s
        return f"version {version}"


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


def fence_check(readiness: Callable[[], tuple[bool, str]]) -> Check:
    """Healthy while ``readiness()`` says the trading role can be served: a standby, or the active
    process holding its fence token (``RoleController.readiness``)."""

    async def check() -> str:
        ok, detail = readiness()
        if not ok:
            raise RuntimeError(detail)
        return detail

    return check


def config_check() -> Check:
    """The config was validated before anything started; an invalid one never gets this far."""

    async def check() -> str:
        return "validated at startup"

    return check


def role_check(knowledge: RoleKnowledge, max_unconfirmed_s: float) -> Check:
    """Healthy when the role was confirmed from the Kubernetes API at most ``max_unconfirmed_s``
    seconds ago (always, standalone). Fails while the watch is forbidden (401/403: this pod would never
    learn it is active), before the first confirmation, and once the last one is too old (a watch that
    cannot reach or read the API); the detail carries the last error."""

    async def check() -> str:
        if knowledge.always:
            return "standalone (role from config)"
        if knowledge.forbidden:
            raise RuntimeError(f"reading the TradingBot is forbidden: {knowledge.last_error}")
        age = knowledge.age_s()
        error = f"; last error: {knowledge.last_error}" if knowledge.last_error else ""
        if age is None:
            raise RuntimeError(f"role not confirmed from the API yet{error}")
        if age > max_unconfirmed_s:
            raise RuntimeError(f"role last confirmed {age:.1f}s ago (limit {max_unconfirmed_s:g}s){error}")
        return f"confirmed {age:.1f}s ago"

    return check
