"""``/health/ready`` latency under load against a real uvicorn and PostgreSQL; prints JSON.

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates a fresh database, runs
``ploy-bot run`` (standalone, replay feed) as a subprocess on a free port, waits until it is ready,
then sends ``--rate`` requests per second for ``--seconds`` (open loop: requests are started on
schedule whether or not earlier ones have finished) and reports latency percentiles in milliseconds.
The bot is stopped with SIGTERM afterwards and its exit code reported.

Usage: .venv/bin/python bench/health_ready.py [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import free_port, start_postgres
from tradingbot.ledger.migrate import migrate

PLOY_BOT = Path(sys.executable).parent / "ploy-bot"


async def _prepare_db(server_dsn: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute('CREATE DATABASE "ready_bench"')
    finally:
        await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + "/ready_bench"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


def _start_bot(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PLOY_BOT), "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _wait_ready(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await client.get("/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("bot never became ready")


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[index] * 1000, 3)


async def _connection_worker(
    port: int,
    schedule: Iterator[float],
    latencies: list[float],
    statuses: dict[str, int],
    errors: list[str],
) -> None:
    """One keep-alive HTTP/1.1 connection taking the next due time from ``schedule``.

    Latency runs from the request's *scheduled* time, so falling behind the offered rate shows up as
    latency instead of silently lowering the rate (no coordinated omission).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /health/ready HTTP/1.1\r\nHost: bench\r\n\r\n"
    try:
        for due in schedule:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(type(exc).__name__)
                return
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(port: int, rate: float, seconds: float, connections: int) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    begin = time.perf_counter() + 0.1
    total = int(rate * seconds)
    schedule = iter([begin + i / rate for i in range(total)])
    await asyncio.gather(
        *(_connection_worker(port, schedule, latencies, statuses, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "requests": len(latencies),
        "achieved_rate_per_s": round(len(latencies) / elapsed, 1),
        "connections": connections,
        "statuses": statuses,
        "errors": len(errors),
        "latency_ms": {
            "p50": _percentile(latencies, 0.50),
            "p90": _percentile(latencies, 0.90),
            "p99": _percentile(latencies, 0.99),
            "max": round(latencies[-1] * 1000, 3) if latencies else None,
        },
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    server = start_postgres()
    proc: subprocess.Popen[bytes] | None = None
    try:
        dsn = await _prepare_db(server.dsn)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLOY_")},
            "PLOY_DATABASE_URL": dsn,
            "PLOY_HTTP_HOST": "127.0.0.1",
            "PLOY_HTTP_PORT": str(port),
        }
        proc = await asyncio.to_thread(_start_bot, env)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _wait_ready(client)
        result = await _load(port, args.rate, args.seconds, args.connections)
        proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.destroy()
    print(
        json.dumps(
            {
                "benchmark": "health_ready",
                "target_rate_per_s": args.rate,
                "seconds": args.seconds,
                "cpus": os.cpu_count(),
                **result,
                "bot_exit_code_after_sigterm": exit_code,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
