"""The fenced order flow: persist PENDING -> call the exchange -> confirm, and reconciliation.

An order is persisted PENDING (committed) with a deadline before any exchange call; the call itself
then runs inside a transaction that holds the fence FOR SHARE at the writer's token
(``FenceToken.fenced``), and is cut off at the deadline, which the venue enforces too. So another
process's ``acquire`` waits for a call under way, and after it no call under an older token can start
or still execute. The exchange is idempotent on ``client_order_id``; an order whose outcome is unknown
(timeout, transport error) stays unsettled until the venue, asked by client order id after the
deadline, says what happened. Reconciliation only asks about orders, never places one, so no order is
ever placed twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus
from tradingbot.exchange.base import Exchange, ExchangeError, OrderRejected
from tradingbot.exchange.resilient import CircuitOpenError
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.rows import UNSETTLED, StoredOrder
from tradingbot.ledger.store import Ledger
from tradingbot.ledger.token import FenceToken
from tradingbot.metrics import EXCHANGE_REJECTED, BotMetrics

log = logging.getLogger(__name__)

UNKNOWN_OUTCOME = "outcome unknown"
"""Prefix of the reason of an order left PENDING because the venue's answer never arrived."""


@dataclass(frozen=True)
class FenceTiming:
    """Every time bound of the fence, derived from one setting (``fence_timeout_s``, seconds).

    * ``fence_timeout_s``: PostgreSQL's ``idle_in_transaction_session_timeout`` for the bot's sessions.
      A process frozen inside a fenced transaction loses its session (and the fence lock) after it.
    * ``order_ttl_s`` = half of it: from persisting an order to its venue deadline. The exchange call
      starts after the fence check and ends (or is cut off) by the deadline, so the lock is never held
      idle longer than this, strictly inside the fence's lifetime.
    * ``query_timeout_s`` = a quarter: one venue query (status by client order id, cancel); two fit in
      one fenced transaction.

    Raises ``ValueError`` unless ``fence_timeout_s`` is finite and >= 1.
    """

    fence_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if not (1.0 <= self.fence_timeout_s < float("inf")):
            raise ValueError(
                f"fence timeout must be a finite number of seconds >= 1, got {self.fence_timeout_s}"
            )

    @property
    def order_ttl_s(self) -> float:
        """Seconds from persisting an order to its venue deadline."""
        return self.fence_timeout_s / 2

    @property
    def query_timeout_s(self) -> float:
        """Seconds one venue query may take."""
        return self.fence_timeout_s / 4


@dataclass(frozen=True)
class Reconciled:
    """One unsettled order of an earlier run and the status it was settled to."""

    client_order_id: str
    epoch: int
    status: OrderStatus


_UNANSWERED: tuple[type[BaseException], ...] = (ExchangeError, TimeoutError, *TRANSIENT_DB_ERRORS)
"""Errors after which the venue's answer about an order is still unknown."""


def _now() -> datetime:
    return datetime.now(UTC)


class OrderFlow:
    """Places orders through a ``FenceToken`` (fenced) and ``exchange`` and records their outcome.

    ``FencedError`` from the token propagates: the caller must stop trading at once (the token has
    already counted it and signalled the loss). ``record_retry_s`` bounds how long a result the
    exchange already gave is retried into a database that went away. ``timing`` gives every deadline.
    """

    def __init__(
        self,
        ledger: Ledger,
        exchange: Exchange,
        metrics: BotMetrics,
        timing: FenceTiming | None = None,
        record_retry_s: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.exchange = exchange
        self.metrics = metrics
        self.timing = timing or FenceTiming()
        self.record_retry_s = record_retry_s

    async def submit(self, token: FenceToken, market: str, req: OrderRequest) -> OrderResult:
        """Persist ``req`` PENDING under ``token``, place it, record the result; return that result.

        A retried ``req`` whose row is already final returns the stored status without calling the
        exchange. Raises ``FencedError`` (the order was not sent) and database errors raised before
        the exchange call (not sent either). When the venue's answer is lost (timeout, transport
        error) the order is resolved by asking the venue after its deadline; if that fails too, a
        PENDING result is returned and the row stays PENDING for reconciliation.
        """
        started = time.monotonic()
        expires_at = _now() + timedelta(seconds=self.timing.order_ttl_s)
        try:
            stored = await token.persist_pending(market, req, expires_at)
        except TRANSIENT_DB_ERRORS:
            # The INSERT may have committed although its reply was lost; the order was not sent
            # either way, so settle it as FAILED if it exists.
            await self._fail_unsent(token, req.client_order_id)
            raise
        if stored.status not in UNSETTLED:
            return OrderResult(req.client_order_id, stored.status, (), stored.reason)
        deadline = stored.expires_at or expires_at
        result: OrderResult | None = None
        sent = False
        try:
            async with token.fenced() as writer:
                remaining = (deadline - _now()).total_seconds()
                if remaining <= 0:
                    # This process stalled after persisting; the venue would refuse it anyway.
                    result = OrderResult(
                        req.client_order_id,
                        OrderStatus.FAILED,
                        (),
                        "deadline passed before sending; not sent",
                    )
                    await writer.record_result(result)
                    self._count(result)
                    return result
                self.metrics.orders_placed.inc()
                sent = True
                try:
                    async with asyncio.timeout(remaining):
                        result = await self.exchange.place_order(req, deadline)
                except OrderRejected as exc:
                    result = OrderResult(
                        req.client_order_id, OrderStatus.REJECTED, (), str(exc) or "rejected"
                    )
                except CircuitOpenError as exc:
                    self.metrics.exchange_errors.inc()
                    result = OrderResult(req.client_order_id, OrderStatus.FAILED, (), f"not sent: {exc}")
                except (ExchangeError, TimeoutError) as exc:
                    self.metrics.exchange_errors.inc()
                    log.warning("order %s: %s: %r", req.client_order_id, UNKNOWN_OUTCOME, exc)
                if result is not None:
                    await writer.record_result(result)
        except TRANSIENT_DB_ERRORS:
            if result is None:
                if not sent:
                    # The fenced transaction never opened, so the order was certainly not sent.
                    await self._fail_unsent(token, req.client_order_id)
                raise
            await self._record_after_outage(token, result)
        if result is None:
            # The fenced transaction ended (the fence is free again) without an answer.
            result = await self.resolve(token, stored, deadline)
        self._count(result)
        self.metrics.order_latency.observe(time.monotonic() - started)
        return result

    async def resolve(self, token: FenceToken, order: StoredOrder, deadline: datetime) -> OrderResult:
        """Settle ``order``, whose outcome is unknown, by asking the venue once ``deadline`` passed.

        Known at the venue: its state is recorded (fills included). Unknown after the deadline: the
        venue refuses it from then on, so it is FAILED. Returns the result recorded, or a PENDING one
        when the venue could not be asked (the row stays PENDING for reconciliation). Raises
        ``FencedError``.
        """
        oid = order.request.client_order_id
        wait = (deadline - _now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(min(wait, self.timing.order_ttl_s))
        try:
            async with token.fenced() as writer:
                async with asyncio.timeout(self.timing.query_timeout_s):
                    state = await self.exchange.get_order(oid)
                if state is None:
                    state = OrderResult(oid, OrderStatus.FAILED, (), "not at the venue by its deadline")
                await writer.record_result(state)
                return state
        except _UNANSWERED as exc:
            self.metrics.orders_failed.inc()
            log.warning("order %s: %s; left PENDING for reconciliation: %r", oid, UNKNOWN_OUTCOME, exc)
            return OrderResult(oid, OrderStatus.PENDING, (), f"{UNKNOWN_OUTCOME}: {exc!r}")

    async def _record_after_outage(self, token: FenceToken, result: OrderResult) -> None:
        # The exchange acted but the commit was lost: ride out the database blip. If the outage
        # outlasts the retries the row stays PENDING and the next activation reconciles it.
        log.warning("order %s: database lost while recording; retrying", result.client_order_id)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_DB_ERRORS),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(self.record_retry_s),
            reraise=True,
        ):
            with attempt:
                await token.record_result(result)

    async def _fail_unsent(self, token: FenceToken, client_order_id: str) -> None:
        failed = OrderResult(client_order_id, OrderStatus.FAILED, (), "database unavailable; not sent")
        try:
            await self._record_after_outage(token, failed)
        except KeyError:
            return  # never persisted: nothing to settle
        self._count(failed)

    def _count(self, result: OrderResult) -> None:
        if result.status is OrderStatus.FILLED:
            self.metrics.orders_filled.inc()
        elif result.status is OrderStatus.REJECTED:
            self.metrics.orders_rejected.labels(reason=EXCHANGE_REJECTED).inc()
        elif result.status is OrderStatus.FAILED:
            self.metrics.orders_failed.inc()

    async def reconcile(self, token: FenceToken) -> list[Reconciled]:
        """Settle every unsettled order of this bot (left by an older token or a crash) under ``token``.

        For each, after its deadline (an order written by version 1 has none; its deadline is taken as
        created_at + the fence timeout), inside a fenced transaction: ask the exchange by client order
        id. Unknown there: it never executed and never will, so PENDING becomes FAILED and OPEN becomes
        CANCELED. Still working there: cancel the remainder and record the final state. Final there:
        record it with its fills. Raises ``FencedError``, ``ExchangeError``, ``TimeoutError`` and
        database errors (the caller retries; every step is idempotent).
        """
        settled: list[Reconciled] = []
        for order in await self.ledger.unsettled_orders():
            oid = order.request.client_order_id
            deadline = order.expires_at or order.created_at + timedelta(seconds=self.timing.fence_timeout_s)
            wait = (deadline - _now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, self.timing.order_ttl_s))
            async with token.fenced() as writer:
                async with asyncio.timeout(self.timing.query_timeout_s):
                    state = await self.exchange.get_order(oid)
                if state is not None and state.status in UNSETTLED:
                    async with asyncio.timeout(self.timing.query_timeout_s):
                        state = await self.exchange.cancel_order(oid) or state
                if state is None:
                    unknown = (
                        OrderStatus.FAILED if order.status is OrderStatus.PENDING else OrderStatus.CANCELED
                    )
                    state = OrderResult(oid, unknown, (), "unknown to the exchange at reconciliation")
                elif state.status in UNSETTLED:
                    state = OrderResult(oid, OrderStatus.FAILED, state.fills, "exchange would not cancel")
                final = await writer.record_result(state)
            self._count(state)
            self.metrics.reconciled_orders.labels(status=final.value).inc()
            log.info("reconciled order %s of epoch %d -> %s", oid, order.epoch, final.value)
            settled.append(Reconciled(oid, order.epoch, final))
        return settled
