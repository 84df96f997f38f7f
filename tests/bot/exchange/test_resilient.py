"""ResilientExchange: retries with backoff on ExchangeError, purgatory breaker open/half-open/close."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal as D

import pytest

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.exchange.base import ExchangeError, OrderRejected
from tradingbot.exchange.paper import PaperExchange
from tradingbot.exchange.resilient import CircuitOpenError, ResilientExchange
from tradingbot.market.book import Level, OrderBook


class FlakyExchange:
    """Our own Exchange implementation for tests: fails ``failures`` times, then delegates."""

    def __init__(self, inner: PaperExchange, failures: int = 0, error: Exception | None = None) -> None:
        self.inner = inner
        self.failures = failures
        self.error = error or ExchangeError("venue timeout")
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error

    async def place_order(self, req: OrderRequest, expires_at: datetime | None = None) -> OrderResult:
        self._maybe_fail()
        return await self.inner.place_order(req, expires_at)

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        self._maybe_fail()
        return await self.inner.get_order(client_order_id)

    async def cancel_order(self, client_order_id: str) -> OrderResult | None:
        self._maybe_fail()
        return await self.inner.cancel_order(client_order_id)


def _paper() -> PaperExchange:
    bk = OrderBook("yes", "0xm")
    bk.apply_snapshot([], [Level(D("0.40"), D("100"))])
    return PaperExchange({"yes": bk}.get, D(0))


def _req(cid: str = "o1") -> OrderRequest:
    return OrderRequest(cid, "yes", Side.BUY, D("0.40"), D("10"), TimeInForce.FOK)


def _resilient(
    inner: FlakyExchange, *, attempts: int = 3, failure_threshold: int = 5, reset_timeout_s: float = 30.0
) -> ResilientExchange:
    return ResilientExchange(
        inner,
        attempts=attempts,
        failure_threshold=failure_threshold,
        reset_timeout_s=reset_timeout_s,
        backoff_initial_s=0.001,
        backoff_max_s=0.01,
    )


async def test_retries_then_succeeds_and_fills_once() -> None:
    flaky = FlakyExchange(_paper(), failures=2)
    venue = _resilient(flaky)
    res = await venue.place_order(_req())
    assert res.status is OrderStatus.FILLED and res.filled_size == D(10)
    assert flaky.calls == 3 and not venue.breaker_open and venue.breaker_state == "closed"
    assert await venue.get_order("o1") == res


async def test_gives_up_after_the_attempts() -> None:
    flaky = FlakyExchange(_paper(), failures=10)
    venue = _resilient(flaky, attempts=3)
    with pytest.raises(ExchangeError, match="venue timeout"):
        await venue.place_order(_req())
    assert flaky.calls == 3


async def test_rejections_are_neither_retried_nor_breaker_failures() -> None:
    flaky = FlakyExchange(_paper(), failures=10, error=OrderRejected("bad tick"))
    venue = _resilient(flaky, failure_threshold=2)
    for _ in range(3):
        with pytest.raises(OrderRejected):
            await venue.place_order(_req())
    assert flaky.calls == 3 and venue.breaker_state == "closed"


async def test_breaker_opens_after_n_failures_then_half_opens_and_closes() -> None:
    flaky = FlakyExchange(_paper(), failures=3)
    venue = _resilient(flaky, attempts=1, failure_threshold=3, reset_timeout_s=0.2)
    for _ in range(3):
        with pytest.raises(ExchangeError, match="venue timeout"):
            await venue.place_order(_req())
    assert venue.breaker_open and venue.breaker_state == "opened"
    with pytest.raises(CircuitOpenError):
        await venue.place_order(_req())
    assert flaky.calls == 3  # failed fast, the venue was not called
    await asyncio.sleep(0.3)
    assert venue.breaker_state == "half-opened" and not venue.breaker_open
    res = await venue.place_order(_req())  # the probe succeeds
    assert res.status is OrderStatus.FILLED and venue.breaker_state == "closed"


async def test_a_failed_half_open_probe_reopens_the_breaker() -> None:
    flaky = FlakyExchange(_paper(), failures=3)
    venue = _resilient(flaky, attempts=1, failure_threshold=2, reset_timeout_s=0.2)
    for _ in range(2):
        with pytest.raises(ExchangeError):
            await venue.cancel_order("x")
    await asyncio.sleep(0.3)
    with pytest.raises(ExchangeError, match="venue timeout"):
        await venue.cancel_order("x")  # probe fails
    assert venue.breaker_open
    assert flaky.calls == 3


async def test_retries_stop_once_the_breaker_opens() -> None:
    flaky = FlakyExchange(_paper(), failures=10)
    venue = _resilient(flaky, attempts=5, failure_threshold=2)
    with pytest.raises(CircuitOpenError):
        await venue.place_order(_req())
    assert flaky.calls == 2 and venue.breaker_open
