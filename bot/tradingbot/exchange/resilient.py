"""An Exchange wrapper adding retries with backoff (tenacity) and a circuit breaker (purgatory)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import Context, OpenedState
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from tradingbot.domain import OrderRequest, OrderResult
from tradingbot.exchange.base import Exchange, ExchangeError, OrderRejected

T = TypeVar("T")


class CircuitOpenError(ExchangeError):
    """The circuit breaker is open: calls fail fast without reaching the exchange."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ExchangeError) and not isinstance(exc, CircuitOpenError)


class ResilientExchange:
    """Wraps ``inner`` so transient failures are retried and a failing venue is left alone.

    * Each call is tried up to ``attempts`` times while it raises ``ExchangeError``, waiting an
      exponentially growing, jittered delay between ``backoff_initial_s`` and ``backoff_max_s``
      seconds. Retrying ``place_order`` is safe because exchanges are idempotent on
      ``client_order_id``.
    * Every attempt passes a purgatory circuit breaker: after ``failure_threshold`` consecutive
      ``ExchangeError``s it opens and calls raise ``CircuitOpenError`` at once; after
      ``reset_timeout_s`` seconds it half-opens, letting one call probe (success closes it, failure
      re-opens it). ``OrderRejected`` neither counts as a failure nor is retried.
    """

    def __init__(
        self,
        inner: Exchange,
        *,
        attempts: int = 3,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        name: str = "exchange",
    ) -> None:
        if attempts < 1 or failure_threshold < 1:
            raise ValueError("attempts and failure_threshold must be >= 1")
        self.inner = inner
        self.attempts = attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.reset_timeout_s = reset_timeout_s
        self._name = name
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold, default_ttl=reset_timeout_s, exclude=[OrderRejected]
        )
        self._context: Context | None = None

    @property
    def breaker_state(self) -> str:
        """``closed``, ``opened`` or ``half-opened`` (opened past its timeout reads half-opened)."""
        ctx = self._context
        if ctx is None:
            return "closed"
        state = str(ctx.state)
        if state == "opened" and ctx.opened_at is not None and time.time() > ctx.opened_at + ctx.ttl:
            return "half-opened"
        return state

    @property
    def breaker_open(self) -> bool:
        """True while calls fail fast (open and not yet due for a half-open probe)."""
        return self.breaker_state == "opened"

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        """``inner.place_order`` with retries and the breaker. Raises ExchangeError, OrderRejected.

        Retries stop being useful at ``expires_at`` (the venue refuses the order from then on); the
        caller bounds the whole call with a timeout that ends there."""
        return await self._call(lambda: self.inner.place_order(req, expires_at))

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """``inner.get_order`` with retries and the breaker."""
        return await self._call(lambda: self.inner.get_order(client_order_id))

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        """``inner.cancel_order`` with retries and the breaker."""
        return await self._call(lambda: self.inner.cancel_order(client_order_id))

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.backoff_initial_s, max=self.backoff_max_s, jitter=self.backoff_initial_s
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._through_breaker(fn)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _through_breaker(self, fn: Callable[[], Awaitable[T]]) -> T:
        breaker = await self._breakers.get_breaker(self._name)
        self._context = breaker.context
        try:
            async with breaker:
                return await fn()
        except OpenedState as exc:
            raise CircuitOpenError(str(exc)) from exc
