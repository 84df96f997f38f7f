"""The trader loop: book update -> complete-set strategy -> risk gate -> both legs (FOK) via the ledger.

Trading needs a grant: ``activate(token)`` with the ``FenceToken`` acquired for this process, after
older orders were reconciled; ``deactivate()`` (synchronous, immediate) when the role is lost or a
write was fenced off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from trading_config import MarketSpec, TradingSpec
from tradingbot.domain import OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.execution import OrderFlow
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.fence import FencedError
from tradingbot.ledger.token import FenceToken
from tradingbot.market.feed import MarketFeed
from tradingbot.metrics import BotMetrics
from tradingbot.portfolio import Valuation, value_positions
from tradingbot.risk import ProposedOrder, RiskLimits, RiskState, check
from tradingbot.strategy.complete_set import Opportunity, evaluate
from tradingbot.strategy.unwind import unwind_order

log = logging.getLogger(__name__)


def _utc_midnight() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class Trader:
    """Trades the configured markets on book updates while it holds a fence token.

    At most one evaluation runs per market at a time; updates arriving meanwhile trigger one more pass.
    A fenced write stops trading at once (the token itself tells the role logic, once).
    """

    def __init__(
        self,
        trading: TradingSpec,
        feed: MarketFeed,
        flow: OrderFlow,
        metrics: BotMetrics,
    ) -> None:
        self.trading = trading
        self.feed = feed
        self.flow = flow
        self.metrics = metrics
        self.limits = RiskLimits.from_config(trading.risk, trading.strategy)
        self._token: FenceToken | None = None
        self._accepting = True
        self._dirty: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._daily_task: asyncio.Task[None] | None = None

    @property
    def token(self) -> FenceToken | None:
        """The token this trader writes under, None while it may not trade."""
        token = self._token
        return token if self._accepting and token is not None and token.held else None

    @property
    def epoch(self) -> int | None:
        """The epoch of the token this trader writes under, None while it may not trade."""
        token = self.token
        return None if token is None else token.epoch

    def activate(self, token: FenceToken) -> None:
        """Allow trading under ``token`` (call only after acquiring it and reconciling)."""
        self._token = token
        self.metrics.role_active.set(1 if self._accepting else 0)
        log.info("trading enabled under epoch %d, token %d", token.epoch, token.token)
        # The daily PnL series appears on activation, not only after the first opportunity.
        self._daily_task = asyncio.create_task(self._report_daily_pnl(), name="daily-pnl")
        for market in self.trading.markets:
            self._schedule(market)

    def deactivate(self, reason: str = "role lost") -> None:
        """Stop placing orders at once; legs already at the exchange are still recorded if permitted."""
        if self._token is not None:
            log.warning("trading disabled (%r): %s", self._token, reason)
        self._token = None
        self.metrics.role_active.set(0)
        self.metrics.daily_pnl_usd.clear()

    def on_book(self, asset_id: str) -> None:
        """Feed listener: the book of ``asset_id`` changed."""
        market = self.trading.market_of(asset_id)
        if market is not None:
            self._schedule(market)

    def _schedule(self, market: MarketSpec) -> None:
        if self.token is None:
            return
        self._dirty.add(market.condition_id)
        task = self._tasks.get(market.condition_id)
        if task is None or task.done():
            self._tasks[market.condition_id] = asyncio.create_task(
                self._run_market(market), name=f"trade-{market.condition_id[:10]}"
            )

    async def _run_market(self, market: MarketSpec) -> None:
        while market.condition_id in self._dirty and self.token is not None:
            self._dirty.discard(market.condition_id)
            try:
                await self.trade_once(market)
            except FencedError as exc:
                self.deactivate(f"fenced: {exc}")
            except TRANSIENT_DB_ERRORS as exc:
                log.warning(
                    "trading pass for market %s skipped, database unavailable: %r", market.condition_id, exc
                )
            except Exception:
                log.exception("trading pass for market %s failed", market.condition_id)

    async def _report_daily_pnl(self) -> None:
        try:
            today = await self.valuation(_utc_midnight())
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("daily PnL not reported, database unavailable: %r", exc)
            return
        self._set_daily_pnl(today.pnl_usd)

    def _set_daily_pnl(self, pnl_usd: Decimal) -> None:
        """Report today's PnL while this trader may trade; a standby reports no series at all."""
        if self.token is not None:
            self.metrics.daily_pnl_usd.set(float(pnl_usd))
        else:
            self.metrics.daily_pnl_usd.clear()

    async def valuation(self, since: datetime | None = None) -> Valuation:
        """Value the ledger's positions (optionally only fills since ``since``) at the current best bids."""
        positions = await self.flow.ledger.positions(since)
        marks: dict[str, Decimal] = {}
        for position in positions:
            book = self.feed.book(position.token_id)
            bid = book.best_bid() if book is not None else None
            if bid is not None:
                marks[position.token_id] = bid.price
        return value_positions(positions, self.trading.markets, marks)

    async def trade_once(self, market: MarketSpec) -> list[OrderResult]:
        """One pass over ``market``: evaluate, gate, place the YES leg then the NO leg (both FOK); when
        only the YES leg filled, sell it back (``strategy.unwind``).

        Returns the order results in order (empty when nothing was placed). Raises ``FencedError``.
        """
        token = self.token
        if token is None:
            return []
        yes_book, no_book = self.feed.book(market.yes_token), self.feed.book(market.no_token)
        if yes_book is None or no_book is None:
            return []
        strategy = self.trading.strategy
        opportunity = evaluate(yes_book, no_book, strategy.max_order_size, strategy.min_edge, market.fee_rate)
        if opportunity is None:
            return []
        total = await self.valuation()
        today = await self.valuation(_utc_midnight())
        self.metrics.pnl_usd.set(float(total.pnl_usd))
        self.metrics.exposure_usd.set(float(total.exposure_usd))
        self._set_daily_pnl(today.pnl_usd)
        state = RiskState(total.exposure_usd, today.pnl_usd, self.feed.last_message_age_s())
        reason = check(
            self.limits, state, ProposedOrder(opportunity.size, opportunity.cost_usd + opportunity.fees_usd)
        )
        if reason is not None:
            self.metrics.orders_rejected.labels(reason=reason.value).inc()
            log.debug("opportunity on %s refused by risk gate: %s", market.condition_id, reason.value)
            return []
        return await self._place_legs(token, market, opportunity)

    async def _place_legs(
        self, token: FenceToken, market: MarketSpec, opportunity: Opportunity
    ) -> list[OrderResult]:
        results: list[OrderResult] = []
        legs = (
            (market.yes_token, opportunity.yes_price_limit),
            (market.no_token, opportunity.no_price_limit),
        )
        for token_id, limit in legs:
            if self.token is not token:
                break
            req = OrderRequest(
                client_order_id=f"e{token.epoch}t{token.token}-{uuid.uuid4().hex}",
                token_id=token_id,
                side=Side.BUY,
                price=limit,
                size=opportunity.size,
                time_in_force=TimeInForce.FOK,
            )
            result = await self.flow.submit(token, market.condition_id, req)
            results.append(result)
            if result.status is not OrderStatus.FILLED:
                if len(results) == 2:
                    log.warning(
                        "NO leg %s did not fill (%s): YES leg is unhedged", req.client_order_id, result.status
                    )
                    results.append(await self._unwind(token, market, results[0]))
                break
        if len(results) == 2 and all(r.status is OrderStatus.FILLED for r in results):
            log.info(
                "bought %s complete sets on %s (edge %s)",
                opportunity.size,
                market.condition_id,
                opportunity.edge,
            )
        total = await self.valuation()
        self.metrics.pnl_usd.set(float(total.pnl_usd))
        self.metrics.exposure_usd.set(float(total.exposure_usd))
        self._set_daily_pnl((await self.valuation(_utc_midnight())).pnl_usd)
        return results

    async def _unwind(self, token: FenceToken, market: MarketSpec, filled: OrderResult) -> OrderResult:
        """Sell the unhedged YES leg back under the policy of ``strategy.unwind``; count the outcome."""
        req = unwind_order(
            filled,
            market.yes_token,
            self.trading.strategy.min_edge,
            f"e{token.epoch}t{token.token}-unwind-{uuid.uuid4().hex}",
        )
        if req is None:
            return filled
        result = await self.flow.submit(token, market.condition_id, req)
        outcome = "unwound" if result.status is OrderStatus.FILLED else "kept"
        self.metrics.unhedged_legs.labels(outcome=outcome).inc()
        log.warning("unhedged YES leg %s: %s (%s)", filled.client_order_id, outcome, result.status)
        return result

    async def wait_idle(self) -> None:
        """Wait until no trading pass (nor the daily PnL report of an activation) is running, including
        passes started meanwhile."""
        while pending := [t for t in [*self._tasks.values(), self._daily_task] if t and not t.done()]:
            await asyncio.wait(pending)

    async def stop(self, timeout_s: float) -> None:
        """Refuse new orders, then wait up to ``timeout_s`` for passes in flight (an order already sent to
        the exchange is recorded before its pass ends); passes still running after that are cancelled
        and left for reconciliation."""
        self._accepting = False
        self.metrics.role_active.set(0)
        self.metrics.daily_pnl_usd.clear()
        if self._daily_task is not None and not self._daily_task.done():
            self._daily_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._daily_task
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=timeout_s)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
