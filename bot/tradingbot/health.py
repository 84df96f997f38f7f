"""Readiness checks (docs/ARCHITECTURE.md, "The bot's readiness"): database reachable, schema at the
expected version, market data fresh, circuit breaker closed, fence token held, role confirmed, config
valid. Each check is timed. They run one after the other in the probe's own task (no task per check).
A check answers at once when it knows without I/O (most of them always; the database and schema
probes while a recent success may be reused); only an answer that needs I/O is awaited, bounded by
``timeout_s``. Timers and coroutines for answers already known measurably cost probe throughput
(bench/health_ready.py)."""

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


Check = Callable[[], str | Awaitable[str]]
"""A check: a detail string when healthy, or an awaitable of one when the answer needs I/O; raises
(any exception, at once or when awaited) when not healthy."""


def _unchanged(text: str) -> str:
    return text


async def timed(
    name: str, check: Check, timeout_s: float, redact: Callable[[str], str] = _unchanged
) -> CheckResult:
    """Run ``check``, awaiting its answer with a ``timeout_s`` timeout when it is not known at once;
    never raises. A failure's detail (which may echo an exception's message, e.g. a driver error)
    passes through ``redact``, which masks credentials; a passing check's detail is Ploy's own text."""
    started = time.perf_counter()
    try:
        outcome = check()
        if isinstance(outcome, str):
            detail = outcome
        else:
            async with asyncio.timeout(timeout_s):
                detail = await outcome
        ok = True
    except TimeoutError:
        detail, ok = f"timed out after {timeout_s}s", False
    except Exception as exc:
        detail, ok = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__), False
    return CheckResult(name, ok, time.perf_counter() - started, detail)


async def run_checks(
    checks: dict[str, Check], timeout_s: float, redact: Callable[[str], str] = _unchanged
) -> list[CheckResult]:
    """Run ``checks`` in order, each awaited answer bounded by ``timeout_s``, details through
    ``redact``; results in the order given."""
    return [await timed(name, check, timeout_s, redact) for name, check in checks.items()]


class SingleFlight:
    """Concurrent callers share one in-flight run of ``check``; a recent success may be reused.

    Under a burst of probes only one database round trip is in flight; every caller still gets a
    result from a probe that was running when it asked. A caller that gives up (its timeout) does not
    cancel the shared run.

    With ``reuse_success_s > 0`` a run that succeeded and *started* at most that many seconds ago (on
    ``clock``, seconds) answers further callers without waiting, its detail suffixed with the age: the
    answer is then at most ``reuse_success_s`` older than the call. Once half of that has passed, a
    caller answered from the success also starts a new run in the background, so callers arriving
    steadily never wait for a round trip (a stall of the database server would otherwise hold every
    probe of that moment). A failure is never reused: the next caller starts a new run and waits
    for it, so a recovery shows at once.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[str]],
        reuse_success_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._reuse_s = reuse_success_s
        self._clock = clock
        self._running: asyncio.Future[str] | None = None
        self._success: tuple[float, str] | None = None  # (run started, detail)

    def __call__(self) -> str | Awaitable[str]:
        """The reused detail at once, or an awaitable of the shared run's detail (must be called with
        a running event loop)."""
        now = self._clock()
        if self._success is not None:
            age = now - self._success[0]
            if age <= self._reuse_s:
                if age > self._reuse_s / 2:
                    self._start(now)
                return f"{self._success[1]} (confirmed {age:.3f}s ago)"
        return asyncio.shield(self._start(now))

    def _start(self, now: float) -> asyncio.Future[str]:
        """The run in flight, or a new one started at ``now``."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run(now))
            # Nobody may be left to read the outcome if every caller timed out; read it here.
            self._running.add_done_callback(lambda f: f.cancelled() or f.exception())
        return self._running

    async def _run(self, started: float) -> str:
        try:
            detail = await self._check()
        except BaseException:
            self._success = None
            raise
        if self._reuse_s > 0:
            self._success = (started, detail)
        return detail


def database_check(pool: asyncpg.Pool) -> Callable[[], Awaitable[str]]:
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

    def __call__(self) -> str | Awaitable[str]:
        """The remembered version at once, or an awaitable reading it from the database."""
        if time.monotonic() < self._ok_until:
            return f"version {self.expected} (checked within {self.cache_s:.0f}s)"
        return self._read()

    async def _read(self) -> str:
        async with self.pool.acquire() as conn:
            version = await current_version(conn)
        if version != self.expected:
            raise RuntimeError(f"schema version {version}, expected {self.expected} (run `ploy-bot migrate`)")
        self._ok_until = time.monotonic() + self.cache_s
        return f"version {version}"


def market_data_check(age_s: Callable[[], float | None], max_age_s: float) -> Check:
    """Healthy when the feed's last message is at most ``max_age_s`` seconds old."""

    def check() -> str:
        age = age_s()
        if age is None:
            raise RuntimeError("no market data received yet")
        if age > max_age_s:
            raise RuntimeError(f"last message {age:.1f}s ago (limit {max_age_s}s)")
        return f"last message {age:.3f}s ago"

    return check


def breaker_check(is_open: Callable[[], bool]) -> Check:
    """Healthy while the exchange circuit breaker is closed."""

    def check() -> str:
        if is_open():
            raise RuntimeError("exchange circuit breaker is open")
        return "closed"

    return check


def fence_check(readiness: Callable[[], tuple[bool, str]]) -> Check:
    """Healthy while ``readiness()`` says the trading role can be served: a standby, or the active
    process holding its fence token (``RoleController.readiness``)."""

    def check() -> str:
        ok, detail = readiness()
        if not ok:
            raise RuntimeError(detail)
        return detail

    return check


def config_check() -> Check:
    """The config was validated before anything started; an invalid one never gets this far."""

    def check() -> str:
        return "validated at startup"

    return check


def role_check(knowledge: RoleKnowledge, max_unconfirmed_s: float) -> Check:
    """Healthy when the role was confirmed from the Kubernetes API at most ``max_unconfirmed_s``
    seconds ago (always, standalone). Fails while the watch is forbidden (401/403: this pod would never
    learn it is active), before the first confirmation, and once the last one is too old (a watch that
    cannot reach or read the API); the detail carries the last error."""

    def check() -> str:
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
