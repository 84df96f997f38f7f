"""Turns role observations into acquire -> reconcile -> trade, and stops trading the moment the role goes.

Order on becoming active under epoch E (docs/ARCHITECTURE.md, "The fence"): acquire a fencing token
for this process under E first, then reconcile orders left unsettled by earlier holders, then let the
trader place orders under the token. Database or exchange outages during activation are retried with
backoff until they succeed or the role changes; a refusal by the fence is final for E.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import StrEnum

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from tradingbot.exchange.base import ExchangeError
from tradingbot.execution import OrderFlow
from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
from tradingbot.ledger.fence import FencedError, FenceKey
from tradingbot.ledger.token import FenceToken
from tradingbot.metrics import BotMetrics
from tradingbot.trader import Trader

log = logging.getLogger(__name__)

_TRANSIENT = (*TRANSIENT_DB_ERRORS, ExchangeError, TimeoutError)


class RoleState(StrEnum):
    """``passive`` (standby), ``activating`` (acquiring/reconciling), ``active`` (trading), ``fenced``
    (another process holds the fence; standby until the role changes)."""

    PASSIVE = "passive"
    ACTIVATING = "activating"
    ACTIVE = "active"
    FENCED = "fenced"


class RoleController:
    """Applies ``observe(active, epoch, key)`` calls from the standalone starter or the TradingBot watch.

    ``holder`` names this process in the fence row (pod, pid, start time); ``default_key`` is the fence
    key used when an observation carries none (standalone).
    """

    def __init__(
        self,
        flow: OrderFlow,
        trader: Trader,
        metrics: BotMetrics,
        holder: str,
        default_key: FenceKey,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.flow = flow
        self.trader = trader
        self.metrics = metrics
        self.holder = holder
        self.default_key = default_key
        self.max_backoff_s = max_backoff_s
        self.state = RoleState.PASSIVE
        self.state_since = time.monotonic()
        self.epoch: int | None = None
        self.token: FenceToken | None = None
        self.fenced_reason: str | None = None
        self._wanted: tuple[bool, int | None, FenceKey | None] = (False, None, None)
        self._task: asyncio.Task[None] | None = None

    def _set(self, state: RoleState) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = time.monotonic()

    async def observe(self, active: bool, epoch: int | None, key: FenceKey | None = None) -> None:
        """The role source says this process is ``active`` (or not) at ``epoch`` for bot ``key``.

        Losing the role disables trading before this coroutine yields. A new active epoch (or a new
        TradingBot UID) starts a fresh activation (the previous one is cancelled).
        """
        if epoch is not None:
            self.epoch = epoch
            self.metrics.epoch.set(epoch)
        key = key or self.default_key
        wanted = (active and epoch is not None, epoch if active else None, key if active else None)
        if wanted == self._wanted and self.state is not RoleState.PASSIVE:
            return
        self._wanted = wanted
        if not wanted[0]:
            self.trader.deactivate("not the active color")
            self.token = None
            self._set(RoleState.PASSIVE)
            await self._cancel_activation()
            return
        self.trader.deactivate("new epoch")
        await self._cancel_activation()
        self.token = None
        assert wanted[1] is not None
        self._set(RoleState.ACTIVATING)
        self._task = asyncio.create_task(self._activate(wanted[1], key), name=f"activate-epoch-{wanted[1]}")

    def on_lost(self, exc: FencedError) -> None:
        """The token was refused by the fence: another process holds it; stop and stay standby."""
        log.error("fenced off: %s; trading stopped", exc)
        self.trader.deactivate(f"fenced: {exc.reason}")
        self.fenced_reason = exc.reason
        self._set(RoleState.FENCED)

    def _count_fenced(self, _exc: FencedError) -> None:
        self.metrics.fenced_writes.inc()

    async def _activate(self, epoch: int, key: FenceKey) -> None:
        token: FenceToken | None = None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_TRANSIENT),
                wait=wait_exponential(multiplier=0.1, max=self.max_backoff_s),
                reraise=True,
            ):
                with attempt:
                    if token is None:
                        token = await self.flow.ledger.acquire(
                            key, epoch, self.holder, on_fenced=self._count_fenced, on_lost=self.on_lost
                        )
                        self.token = token
                    settled = await self.flow.reconcile(token)
        except FencedError as exc:
            if token is None:  # refused at acquisition; a refused write already counted itself
                self._count_fenced(exc)
                self.on_lost(exc)
            return
        except Exception:
            log.exception("activation under epoch %d failed", epoch)
            self._set(RoleState.PASSIVE)
            return
        assert token is not None
        log.info(
            "epoch %d: fence token %d acquired, %d older orders reconciled", epoch, token.token, len(settled)
        )
        if not token.held:
            return  # a write during reconciliation was refused; on_lost already ran
        self._set(RoleState.ACTIVE)
        self.trader.activate(token)

    def readiness(self, activation_bound_s: float) -> tuple[bool, str]:
        """Whether this process can do its role's job now, and why (for ``/health/ready``).

        Standby: ready. Active: ready only while it holds its fence token. Activating: ready for at most
        ``activation_bound_s`` seconds (acquiring waits for the previous holder's write in flight, which
        the fence timeout bounds). Fenced off by another process: not ready.
        """
        if self.state is RoleState.PASSIVE:
            return True, "standby"
        if self.state is RoleState.ACTIVE:
            token = self.token
            if token is not None and token.held:
                return True, f"trading under epoch {token.epoch}, fence token {token.token}"
            return False, "active but the fence token was lost"
        if self.state is RoleState.ACTIVATING:
            waited = time.monotonic() - self.state_since
            if waited <= activation_bound_s:
                return True, f"acquiring the fence token ({waited:.1f}s)"
            return False, f"could not acquire the fence token for {waited:.0f}s"
        return False, f"fenced off: {self.fenced_reason}"

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
