"""Turns role observations into fence -> reconcile -> trade, and stops trading the moment the role goes.

Order on becoming active under epoch E (DESIGN §4): raise the fence to E first, then reconcile orders of
older epochs, then let the trader place orders. Database or exchange outages during activation are
retried with backoff until they succeed or the role changes; a higher fence is final for E.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import StrEnum

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from tradingbot.exchange.base import ExchangeError
from tradingbot.execution import OrderFlow
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.fence import FencedError
from tradingbot.metrics import BotMetrics
from tradingbot.trader import Trader

log = logging.getLogger(__name__)

_TRANSIENT = (*TRANSIENT_DB_ERRORS, ExchangeError)


class RoleState(StrEnum):
    """``passive`` (standby), ``activating`` (fencing/reconciling), ``active`` (trading), ``fenced``
    (a newer epoch holds the fence; standby until told otherwise)."""

    PASSIVE = "passive"
    ACTIVATING = "activating"
    ACTIVE = "active"
    FENCED = "fenced"


class RoleController:
    """Applies ``observe(active, epoch)`` calls from the standalone starter or the TradingBot watch."""

    def __init__(
        self, flow: OrderFlow, trader: Trader, metrics: BotMetrics, max_backoff_s: float = 5.0
    ) -> None:
        self.flow = flow
        self.trader = trader
        self.metrics = metrics
        self.max_backoff_s = max_backoff_s
        self.state = RoleState.PASSIVE
        self.epoch: int | None = None
        self._wanted: tuple[bool, int | None] = (False, None)
        self._task: asyncio.Task[None] | None = None

    async def observe(self, active: bool, epoch: int | None) -> None:
        """The role source says this process is ``active`` (or not) at ``epoch``.

        Losing the role disables trading before this coroutine yields. A new active epoch starts a
        fresh activation (the previous one is cancelled).
        """
        if epoch is not None:
            self.epoch = epoch
            self.metrics.epoch.set(epoch)
        wanted = (active and epoch is not None, epoch if active else None)
        if wanted == self._wanted and self.state is not RoleState.PASSIVE:
            return
        self._wanted = wanted
        if not wanted[0]:
            self.trader.deactivate("not the active color")
            self.state = RoleState.PASSIVE
            await self._cancel_activation()
            return
        self.trader.deactivate("new epoch")
        await self._cancel_activation()
        assert wanted[1] is not None
        self.state = RoleState.ACTIVATING
        self._task = asyncio.create_task(self._activate(wanted[1]), name=f"activate-epoch-{wanted[1]}")

    def on_fenced(self, exc: FencedError) -> None:
        """The trader's write was fenced off: a newer epoch is active somewhere; stay standby."""
        log.error("fenced off: %s; trading stopped", exc)
        self.state = RoleState.FENCED

    async def _activate(self, epoch: int) -> None:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_TRANSIENT),
                wait=wait_exponential(multiplier=0.1, max=self.max_backoff_s),
                reraise=True,
            ):
                with attempt:
                    await self.flow.ledger.raise_fence(epoch)
                    settled = await self.flow.reconcile(epoch)
            log.info("epoch %d: fence raised, %d older orders reconciled", epoch, len(settled))
        except FencedError as exc:
            self.metrics.fenced_writes.inc()
            self.on_fenced(exc)
            return
        except Exception:
            log.exception("activation under epoch %d failed", epoch)
            self.state = RoleState.PASSIVE
            return
        self.state = RoleState.ACTIVE
        self.trader.activate(epoch)

    async def wait_settled(self) -> RoleState:
        """Wait for the current activation attempt (if any) to finish; return the state."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        return self.state

    async def _cancel_activation(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Stop trading and any activation in progress."""
        self.trader.deactivate("shutting down")
        await self._cancel_activation()
