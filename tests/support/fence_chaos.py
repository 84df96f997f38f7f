"""Randomized runs against the fence: real bot processes, the real PostgreSQL, the real API server.

Each sequence creates its own TradingBot, binds two worker processes (tests/support/chaos_worker.py)
to it as blue and green, makes blue active through ``status`` (the harness writes status the way the
operator does), then plays random faults between trading moments:

* ``promote`` / ``rollback``: flip ``activeColor``, ``epoch + 1`` (one status write);
* ``evict``: a replacement process of the active color starts while the old one keeps running for a
  while (terminating), then stops gracefully — or is killed (``force-delete``);
* ``freeze``: SIGSTOP a process for up to 2.5 fence timeouts, then SIGCONT;
* ``slow-venue``: requests take up to 1.5 order deadlines to reach the venue, for one step;
* ``pg-restart``: PostgreSQL stops and starts (every session dies);
* ``tamper``: ``status.epoch`` patched downwards (refused by the CRD's transition rule when installed).

At the end everything is resumed, a final promotion is made, the processes stop, and the harness itself
acquires the fence and reconciles what is left. Invariants over the whole history:

1. the venue executes orders in token order: once it executed an order under a token, it never
   executes one under a lower token;
2. no token is ever held by two processes;
3. no fill is lost: every order the venue filled is FILLED in the ledger with the same size, and the
   ledger has no fill the venue did not make;
4. no order is duplicated: the venue executed each client order id at most once, and nothing is left
   unsettled in the ledger.

The operator is not in the loop: the harness plays its status writes (the operator's own kill/resume
is covered by tests/operator/test_kill_resume.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from kubernetes.aio.client import ApiClient
from prometheus_client import CollectorRegistry

from tests.bot.service.support import NO, YES
from tests.support.postgres import PostgresServer
from tests.support.tradingbot import tradingbot_manifest
from tests.support.venue import VenueClient, VenueServer, deep_book
from tradingbot.domain import OrderStatus
from tradingbot.execution import FenceTiming, OrderFlow
from tradingbot.ledger.fence import FenceKey
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.rows import StoredOrder
from tradingbot.ledger.store import Ledger
from tradingbot.metrics import BotMetrics
from tradingbot.role.tradingbot_watch import fence_key_from_object
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path

ACTIONS = ("promote", "rollback", "evict", "force-delete", "freeze", "slow-venue", "pg-restart", "tamper")
ROOT = Path(__file__).resolve().parents[2]


def chaos_venue() -> VenueServer:
    """The shared venue: the synthetic market's YES at 0.40 and NO at 0.55, deep enough never to empty."""
    return VenueServer({YES: deep_book(YES, "0.40"), NO: deep_book(NO, "0.55")})


@dataclass
class Worker:
    """One worker process and the events it reported."""

    proc: asyncio.subprocess.Process
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    frozen: bool = False
    reader: asyncio.Task[None] | None = None

    async def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout_s: float = 20.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                got = await self.events.get()
                if got["event"] == event:
                    return got

    async def state(self) -> str | None:
        await self.send("state")
        return (await self.expect("state"))["state"]  # type: ignore[no-any-return]

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)


@dataclass
class Outcome:
    """One sequence: its seed, the actions played, what was checked, and the violations found."""

    seed: int
    actions: list[str]
    executed_orders: int
    tokens: int
    violations: list[str]


@dataclass
class FenceChaos:
    """The harness. ``dsn`` is a migrated database in ``postgres``; ``api`` talks to the cluster that
    has the TradingBot CRD; TradingBots are made in ``namespace``; ``fence_timeout_s`` is the bots'
    fence timeout (seconds)."""

    postgres: PostgresServer
    dsn: str
    kubeconfig: Path
    api: ApiClient
    namespace: str
    fence_timeout_s: float = 1.0
    venue: VenueServer = field(
        default_factory=lambda: VenueServer({YES: deep_book(YES, "0.40"), NO: deep_book(NO, "0.55")})
    )
    acquired: list[tuple[int, str]] = field(default_factory=list)
    idle: list[Worker] = field(default_factory=list)
    pg_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises PostgreSQL restarts; harnesses running side by side must share one."""

    async def __aenter__(self) -> FenceChaos:
        await self.venue.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for worker in self.idle:
            await self._retire(worker)
        await self.venue.stop()

    async def _spawn(self) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.chaos_worker", "--dsn", self.dsn, "--kubeconfig",
            str(self.kubeconfig), "--venue-port", str(self.venue.port), "--fence-timeout",
            str(self.fence_timeout_s), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=None if os.environ.get("PLOY_CHAOS_VERBOSE") else asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        worker = Worker(proc)
        worker.reader = asyncio.create_task(self._read(worker))
        await worker.expect("ready", timeout_s=60)
        return worker

    async def _read(self, worker: Worker) -> None:
        assert worker.proc.stdout is not None
        while line := await worker.proc.stdout.readline():
            event = json.loads(line)
            if event["event"] == "acquired":
                self.acquired.append((event["token"], event["holder"]))
            else:
                worker.events.put_nowait(event)

    async def _take(self) -> Worker:
        return self.idle.pop() if self.idle else await self._spawn()

    async def _retire(self, worker: Worker) -> None:
        worker.signal(signal.SIGCONT)
        worker.signal(signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.proc.wait(), 10)
        if worker.reader is not None:
            worker.reader.cancel()

    async def _status(self, kube: Kube, name: str, color: str, epoch: int) -> None:
        body = {"status": {"activeColor": color, "epoch": epoch}}
        path = tradingbot_path(self.namespace, name) + "/status"
        with contextlib.suppress(Exception):  # a refused tamper (422) is the CRD doing its job
            await kube.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def run(self, seed: int, steps: int = 6) -> Outcome:
        """Play one random sequence (deterministic choices from ``seed``); return what it found."""
        rng = random.Random(seed)
        kube = Kube(self.api)
        name = f"chaos-{seed}-{rng.randrange(16**6):06x}"
        manifest = tradingbot_manifest(
            name, "registry.example/ploy-bot:chaos", rollout={}, condition_id="0x" + "cd" * 32,
            tokens=[YES, NO], namespace=self.namespace,
        )  # fmt: skip
        await kube.request("POST", tradingbot_path(self.namespace), body=manifest)
        holders = iter(range(1, 1000))
        bound: dict[str, list[Worker]] = {"blue": [], "green": []}

        async def start(color: str) -> Worker:
            worker = await self._take()
            holder = f"{name}/{color}-{next(holders)} pid={worker.proc.pid}"
            await worker.send("bind", namespace=self.namespace, name=name, color=color, holder=holder)
            await worker.expect("bound")
            bound[color].append(worker)
            return worker

        async def stop(worker: Worker, color: str, kill: bool) -> None:
            bound[color].remove(worker)
            if kill:
                await self._retire(worker)
                return
            worker.signal(signal.SIGCONT)
            worker.frozen = False
            await worker.send("unbind")
            await worker.expect("unbound")
            self.idle.append(worker)

        active, epoch, actions = "blue", 1, []
        await start("blue")
        await start("green")
        await self._status(kube, name, active, epoch)
        for _ in range(steps):
            action = rng.choice(ACTIONS)
            actions.append(action)
            if action in ("promote", "rollback"):
                active, epoch = ("green" if active == "blue" else "blue"), epoch + 1
                await self._status(kube, name, active, epoch)
            elif action in ("evict", "force-delete"):
                old = bound[active][-1]
                await start(active)
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                await stop(old, active, kill=action == "force-delete")
            elif action == "freeze":
                victim = rng.choice(bound["blue"] + bound["green"])
                victim.signal(signal.SIGSTOP)
                victim.frozen = True
                await asyncio.sleep(rng.uniform(0.2, 2.5) * self.fence_timeout_s)
                victim.signal(signal.SIGCONT)
                victim.frozen = False
            elif action == "slow-venue":
                ttl = FenceTiming(self.fence_timeout_s).order_ttl_s
                self.venue.delay_s = (0.2 * ttl, 1.5 * ttl)
            elif action == "pg-restart":
                async with self.pg_lock:
                    await asyncio.to_thread(self.postgres.restart)
            elif action == "tamper":
                await self._status(kube, name, active, max(1, epoch - 1))
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            if action != "slow-venue":
                self.venue.delay_s = (0.0, 0.0)
        self.venue.delay_s = (0.0, 0.0)
        active, epoch = ("green" if active == "blue" else "blue"), epoch + 1
        await self._status(kube, name, active, epoch)
        await self._until_active(bound[active][-1])
        await asyncio.sleep(0.2)
        for color in ("blue", "green"):
            for worker in list(bound[color]):
                await stop(worker, color, kill=False)
        await self.venue.settle()
        obj = await kube.request("GET", tradingbot_path(self.namespace, name))
        key = fence_key_from_object(obj)
        assert key is not None
        outcome = await self._check(seed, actions, key, epoch + 1, name)
        await kube.request("DELETE", tradingbot_path(self.namespace, name))
        return outcome

    async def _until_active(self, worker: Worker, timeout_s: float = 30.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                if await worker.state() == "active":
                    return
                await asyncio.sleep(0.05)

    async def _check(self, seed: int, actions: list[str], key: FenceKey, epoch: int, name: str) -> Outcome:
        violations: list[str] = []
        holders: dict[int, set[str]] = defaultdict(set)
        for token, holder in self.acquired:
            if holder.startswith(f"{name}/"):
                holders[token].add(holder)
        violations += [f"token {t} held by {sorted(h)}" for t, h in holders.items() if len(h) > 1]
        # Settle what the stopped processes left, as the next holder would (no restart meanwhile).
        async with self.pg_lock:
            orders, fills = await self._settle(key, epoch, name)
        mine = [a for a in self.venue.arrivals if a.token in holders]
        executed = [a for a in mine if a.executed]
        for before, after in itertools.pairwise(executed):
            if after.token is not None and before.token is not None and after.token < before.token:
                violations.append(f"venue executed token {after.token} after token {before.token}")
        seen: set[str] = set()
        for arrival in executed:
            oid = arrival.client_order_id
            if oid in seen:
                violations.append(f"order {oid} executed twice")
            seen.add(oid)
            venue_state = await self.venue.paper.get_order(oid)
            filled = Decimal(0) if venue_state is None else venue_state.filled_size
            stored = orders.get(oid)
            if stored is None:
                violations.append(f"order {oid} executed at the venue but absent from the ledger")
            elif filled and (stored.status is not OrderStatus.FILLED or fills[oid] != filled):
                violations.append(
                    f"fill lost: {oid} filled {filled} at the venue, ledger {stored.status} {fills[oid]}"
                )
        for oid, stored in orders.items():
            if stored.status in (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                violations.append(f"order {oid} left {stored.status} after reconciliation")
            if fills[oid] and oid not in seen:
                violations.append(f"ledger has fills for {oid} the venue never made")
        return Outcome(seed, actions, len(executed), len(holders), violations)

    async def _settle(
        self, key: FenceKey, epoch: int, name: str
    ) -> tuple[dict[str, StoredOrder], dict[str, Decimal]]:
        """Acquire the fence as the next holder, reconcile, and read the ledger: orders by client
        order id, and the filled size per client order id."""
        pool = await create_pool(self.dsn, max_size=2)
        try:
            ledger = Ledger(pool, key.ledger_id)
            flow = OrderFlow(ledger, VenueClient(self.venue.port), BotMetrics(CollectorRegistry()),
                             FenceTiming(self.fence_timeout_s))  # fmt: skip
            harness = await ledger.acquire(key, epoch, f"{name}/harness")
            await flow.reconcile(harness)
            orders = {o.request.client_order_id: o for o in await ledger.recent_orders(1_000_000)}
            fills: dict[str, Decimal] = defaultdict(Decimal)
            for fill in await ledger.fills():
                fills[fill.client_order_id] += fill.size
        finally:
            await pool.close()
        return orders, fills


async def migrated_database(server_dsn: str, name: str) -> str:
    """Create database ``name`` in the server and apply the ledger schema; return its DSN."""
    from tradingbot.ledger.migrate import migrate

    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn
