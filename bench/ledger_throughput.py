"""Fenced order inserts per second vs pgbench on the same PostgreSQL server; prints JSON.

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates a fresh database, raises the fence,
then for ``--seconds`` runs ``--clients`` concurrent writers of:

* ``persist``: ``Ledger.persist_pending`` (one transaction: fence check FOR SHARE + INSERT), and
* ``order_flow``: the bot's whole per-order path without an exchange delay (persist PENDING, then a
  fenced transaction that records a FILLED result with one fill).

Then pgbench ``-S`` (select-only) and ``-N`` (simple update, no branch/teller updates) with the same
client count on a scale-1 pgbench database of the same server.

Usage: .venv/bin/python bench/ledger_throughput.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import PostgresServer, start_postgres
from tradingbot.domain import Fill, OrderRequest, OrderResult, OrderStatus, Side, TimeInForce
from tradingbot.ledger.fence import FenceKey
from tradingbot.ledger.migrate import migrate
from tradingbot.ledger.pool import create_pool
from tradingbot.ledger.store import Ledger
from tradingbot.ledger.token import FenceToken


def _dsn(server: PostgresServer, db: str) -> str:
    return server.dsn.rsplit("/", 1)[0] + "/" + db


async def _create_db(server: PostgresServer, name: str) -> str:
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _dsn(server, name)


async def _run_writers(ledger: FenceToken, clients: int, seconds: float, full_flow: bool) -> dict[str, float]:
    counter = itertools.count()
    done = 0
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    expires = datetime.now(UTC) + timedelta(days=1)

    async def writer() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            oid = f"bench-{'f' if full_flow else 'p'}-{next(counter)}"
            req = OrderRequest(oid, "1001", Side.BUY, Decimal("0.40"), Decimal("10"), TimeInForce.FOK)
            started = time.perf_counter()
            await ledger.persist_pending("0xbench", req, expires)
            if full_flow:
                async with ledger.fenced() as w:
                    fill = Fill(Decimal("0.40"), Decimal("10"), Decimal("0"))
                    await w.record_result(OrderResult(oid, OrderStatus.FILLED, (fill,)))
            latencies.append(time.perf_counter() - started)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "orders": done,
        "per_second": round(done / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
    }


def _pgbench_base(server: PostgresServer) -> list[str]:
    return [str(server.bindir / "pgbench"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"]


def _pgbench_init(server: PostgresServer, db: str) -> None:
    subprocess.run([*_pgbench_base(server), "-i", "-s", "1", "-q", db], check=True, capture_output=True)


def _pgbench(server: PostgresServer, db: str, mode: str, clients: int, seconds: int) -> float:
    out = subprocess.run(
        [*_pgbench_base(server), mode, "-c", str(clients), "-j", "2", "-T", str(seconds), db],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if match is None:
        raise RuntimeError(f"unexpected pgbench output: {out}")
    return float(match.group(1))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    server = start_postgres()
    try:
        dsn = await _create_db(server, "ledger_bench")
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        pool = await create_pool(dsn, max_size=args.clients)
        try:
            token = await Ledger(pool, "bench").acquire(FenceKey.standalone("bench"), 1, "ledger_throughput")
            persist = await _run_writers(token, args.clients, args.seconds, full_flow=False)
            flow = await _run_writers(token, args.clients, args.seconds, full_flow=True)
        finally:
            await pool.close()
        await _create_db(server, "pgbench")
        await asyncio.to_thread(_pgbench_init, server, "pgbench")
        seconds = max(1, int(args.seconds))
        select_tps = await asyncio.to_thread(_pgbench, server, "pgbench", "-S", args.clients, seconds)
        simple_tps = await asyncio.to_thread(_pgbench, server, "pgbench", "-N", args.clients, seconds)
    finally:
        server.destroy()
    print(
        json.dumps(
            {
                "benchmark": "ledger_throughput",
                "clients": args.clients,
                "seconds": args.seconds,
                "server": "tests/support/postgres.py: fsync=off, synchronous_commit=off",
                "fenced_persist_pending": persist,
                "fenced_order_flow": flow,
                "pgbench_select_only_tps": select_tps,
                "pgbench_simple_update_tps": simple_tps,
                "persist_vs_pgbench_N": round(persist["per_second"] / simple_tps, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
