"""The fenced order flow: persist PENDING -> call the exchange -> confirm, and reconciliation.

An order is persisted PENDING (committed) before any exchange call; the call itself then runs inside
a transaction that holds the fence FOR SHARE at the writer's epoch (``Ledger.fenced``). So a newer
epoch's ``raise_fence`` waits for a call under way, and after it no call of an older epoch can start:
a stale color's order never reaches the exchange. The exchange is idempotent on ``client_order_id``,
and reconciliation only asks about orders (``get_order``/``cancel_order``), never places one, so no
order is ever placed twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tradingbot.domain import OrderRequest, OrderResult, OrderStatus
from tradingbot.exchange.base import Exchange, ExchangeError, OrderRejected
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.fence import FencedError
from tradingbot.ledger.store import UNSETTLED, Ledger
from tradingbot.metrics import EXCHANGE_REJECTED, BotMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    """One unsettled order of an earlier run and the status it was settled to."""

    client_order_id: str
    epoch: int
    status: OrderStatus


class OrderFlow:
    """Places orders through ``ledger`` (fenced) and ``exchange`` and records their outcome.

    ``FencedError`` from the ledger propagates: the caller must stop trading at once.
    ``record_retry_s`` bounds how long a result the exchange already gave is retried into a database
    that went away. ``max_lease_s`` is how old the fence check may be when the exchange call starts;
    it must stay well below the pool's ``idle_in_transaction_timeout_s`` (after which PostgreSQL may
    have ended the session, and with it the lock, while this process was frozen).
    """

    def __init__(
        self,
        ledger: Ledger,
        exchange: Exchange,
        metrics: BotMetrics,
        record_retry_s: float = 30.0,
        max_lease_s: float = 5.0,
    ) -> None:
        self.ledger = ledger
        self.exchange = exchange
        self.metrics = metrics
        self.record_retry_s = record_retry_s
        self.max_lease_s = max_lease_s

    async def submit(self, epoch: int, market: str, req: OrderRequest) -> OrderResult:
        """Persist ``req`` PENDING under ``epoch``, place it, record the result; return that result.

        A retried ``req`` whose row is already final returns the stored status without calling the
        exchange. Raises ``FencedError`` (the order was not sent) and database errors raised before
        the exchange call (not sent either). An exchange error returns a PENDING result and leaves the
        row PENDING for reconciliation.
        """
        started = time.monotonic()
        try:
            stored = await self.ledger.persist_pending(epoch, market, req)
        except FencedError:
            self.metrics.fenced_writes.inc()
            raise
        except TRANSIENT_DB_ERRORS:
            # The INSERT may have committed although its reply was lost; the order was not sent
            # either way, so settle it as FAILED if it exists.
            await self._fail_unsent(epoch, req.client_order_id)
            raise
        if stored.status not in UNSETTLED:
            return OrderResult(req.client_order_id, stored.status, (), stored.reason)
        result: OrderResult | None = None
        sent = False
        try:
            async with self.ledger.fenced(epoch) as writer:
                if time.monotonic() - writer.checked_at > self.max_lease_s:
                    # This process stalled after the fence check; the lock may be gone. Do not send.
                    result = OrderResult(
                        req.client_order_id, OrderStatus.FAILED, (), "fence lease expired; not sent"
                    )
                    await writer.record_result(result)
                    self._count(result)
                    return result
                self.metrics.orders_placed.inc()
                sent = True
                try:
                    result = await self.exchange.place_order(req)
                except OrderRejected as exc:
                    result = OrderResult(
                        req.client_order_id, OrderStatus.REJECTED, (), str(exc) or "rejected"
                    )
                except ExchangeError as exc:
                    self.metrics.exchange_errors.inc()
                    self.metrics.orders_failed.inc()
                    log.warning("order %s: exchange error, left PENDING: %s", req.client_order_id, exc)
                    return OrderResult(req.client_order_id, OrderStatus.PENDING, (), f"exchange error: {exc}")
                await writer.record_result(result)
        except FencedError:
            self.metrics.fenced_writes.inc()
            raise
        except TRANSIENT_DB_ERRORS:
            if result is None:
                if not sent:
                    # The fenced transaction never opened, so the order was certainly not sent.
                    await self._fail_unsent(epoch, req.client_order_id)
                raise
            await self._record_after_outage(epoch, result)
        self._count(result)
        self.metrics.order_latency.observe(time.monotonic() - started)
        return result

    async def _record_after_outage(self, epoch: int, result: OrderResult) -> None:
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
                try:
                    await self.ledger.record_result(epoch, result)
                except FencedError:
                    self.metrics.fenced_writes.inc()
                    raise

    async def _fail_unsent(self, epoch: int, client_order_id: str) -> None:
        failed = OrderResult(client_order_id, OrderStatus.FAILED, (), "database unavailable; not sent")
        try:
            await self._record_after_outage(epoch, failed)
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

    async def reconcile(self, epoch: int) -> list[Reconciled]:
        """Settle every unsettled order of this bot (left by an older epoch or a crash) under ``epoch``.

        For each, inside a fenced transaction: ask the exchange by client order id. Unknown there: it
        never reached the exchange, so PENDING becomes FAILED and OPEN becomes CANCELED. Still working
        there: cancel the remainder and record the final state. Final there: record it with its fills.
        Raises ``FencedError``, ``ExchangeError`` and database errors (the caller retries; every step is
        idempotent).
        """
        settled: list[Reconciled] = []
        for order in await self.ledger.unsettled_orders():
            oid = order.request.client_order_id
            try:
                async with self.ledger.fenced(epoch) as writer:
                    state = await self.exchange.get_order(oid)
                    if state is not None and state.status in UNSETTLED:
                        state = await self.exchange.cancel_order(oid) or state
                    if state is None:
                        unknown = (
                            OrderStatus.FAILED
                            if order.status is OrderStatus.PENDING
                            else OrderStatus.CANCELED
                        )
                        state = OrderResult(oid, unknown, (), "unknown to the exchange at reconciliation")
                    elif state.status in UNSETTLED:
                        state = OrderResult(oid, OrderStatus.FAILED, state.fills, "exchange would not cancel")
                    final = await writer.record_result(state)
            except FencedError:
                self.metrics.fenced_writes.inc()
                raise
            self._count(state)
            self.metrics.reconciled_orders.labels(status=final.value).inc()
            log.info("reconciled order %s of epoch %d -> %s", oid, order.epoch, final.value)
            settled.append(Reconciled(oid, order.epoch, final))
        return settled
