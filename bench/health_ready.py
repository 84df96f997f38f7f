"""``/health/ready`` under constant-rate load next to a hello-world FastAPI app; prints JSON.

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates a fresh database, runs
``ploy-bot run`` (standalone, replay feed) and ``bench/hello_app.py`` (one route, served by uvicorn the
same way) as subprocesses on free ports, waits until both answer, then drives both with vegeta
(``scripts/build-vegeta.sh`` builds it into the cache on first use), side by side in the same run:

* ``constant_rate``: ``--rounds`` times, for each ``--rates`` value, ``--seconds`` of open-loop load at
  that rate on each target (order alternating); per rate and target the round with the median p99,
  with every round's p99. Vegeta starts requests on schedule whether or not earlier ones
  have answered (a new worker when all are busy), so a slow server shows as latency, not as a lower
  offered rate. Latency percentiles in milliseconds, achieved throughput, status codes.
* ``max_throughput``: ``--seconds`` as fast as ``--connections`` keep-alive workers can go (closed
  loop) on each target: requests per second, and the ratio bot / hello-world.

The two cores of the development machine are shared with the load generator and other work, so the
figures are indicative; the ratios (same machine, same run) are what to compare. The bot is stopped with
SIGTERM afterwards and its exit code reported.

Usage: .venv/bin/python bench/health_ready.py [--rates 500 2000] [--seconds 10] [--rounds 3]
[--connections 64]
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
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import free_port, start_postgres
from tradingbot.ledger.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
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


def _vegeta() -> str:
    """Path of the cached vegeta binary (built from the Go module proxy on first use)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/build-vegeta.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
    )
    return out.stdout.strip().splitlines()[-1]


def _wait_ok(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200")


def _attack(vegeta: str, url: str, seconds: float, rate: float | None, connections: int) -> dict[str, Any]:
    """One vegeta attack on ``url``: at ``rate``/s (open loop), or as fast as ``connections`` workers go
    (``rate=None``, closed loop). Returns vegeta's JSON report reduced to milliseconds."""
    pacing = [f"-rate={rate:g}/s"] if rate else ["-rate=0", f"-max-workers={connections}"]
    load1 = os.getloadavg()[0]
    attack = subprocess.run(
        [vegeta, "attack", f"-duration={seconds:g}s", "-timeout=5s", f"-connections={connections}", *pacing],
        input=f"GET {url}\n".encode(),
        capture_output=True,
        check=True,
        timeout=seconds + 60,
    )
    report = subprocess.run(
        [vegeta, "report", "-type=json"], input=attack.stdout, capture_output=True, check=True, timeout=120
    )
    raw = json.loads(report.stdout)
    lat = raw["latencies"]
    return {
        "requests": raw["requests"],
        "offered_rate_per_s": round(raw["rate"], 1),
        "throughput_per_s": round(raw["throughput"], 1),
        "success_ratio": raw["success"],
        "status_codes": raw["status_codes"],
        "errors": raw.get("errors") or [],
        "latency_ms": {
            k: round(lat[q] / 1e6, 3)
            for k, q in (("p50", "50th"), ("p90", "90th"), ("p99", "99th"), ("max", "max"))
        },
        "load_average_1m_before": round(load1, 2),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``latency_ms[key]`` is the median (upper median for an even count), with every
    run's value of it: one noisy run on shared cores neither makes nor breaks the figure."""
    ordered = sorted(runs, key=lambda r: float(r["latency_ms"][key]))
    return {**ordered[len(ordered) // 2], f"{key}_ms_per_round": [r["latency_ms"][key] for r in runs]}


def measure(
    vegeta: str, urls: dict[str, str], rates: list[float], seconds: float, connections: int, rounds: int
) -> dict[str, Any]:
    """``rounds`` times both targets at each rate (the order of the targets alternating), then each at
    full speed; per rate and target the round with the median p99."""
    names = list(urls)
    runs: dict[tuple[float, str], list[dict[str, Any]]] = {}
    flip = False
    for _ in range(rounds):
        for rate in rates:
            for name in names[::-1] if flip else names:
                runs.setdefault((rate, name), []).append(
                    _attack(vegeta, urls[name], seconds, rate, connections)
                )
            flip = not flip
    constant: dict[str, dict[str, Any]] = {}
    for rate in rates:
        row: dict[str, Any] = {name: _median_run(runs[rate, name], "p99") for name in names}
        row["p99_ratio_bot_to_hello"] = _ratio(
            row["bot_ready"]["latency_ms"]["p99"], row["hello_world"]["latency_ms"]["p99"]
        )
        constant[f"{rate:g}_per_s"] = row
    full: dict[str, Any] = {
        name: _attack(vegeta, urls[name], seconds, None, connections) for name in reversed(names)
    }
    full["throughput_ratio_bot_to_hello"] = _ratio(
        full["bot_ready"]["throughput_per_s"], full["hello_world"]["throughput_per_s"]
    )
    return {"constant_rate": constant, "max_throughput": full}


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[500.0, 2000.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="constant-rate runs per rate and target")
    args = parser.parse_args()
    vegeta = _vegeta()
    server = start_postgres()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        dsn = asyncio.run(_prepare_db(server.dsn))
        bot_port, hello_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLOY_")},
            "PLOY_DATABASE_URL": dsn,
            "PLOY_HTTP_HOST": "127.0.0.1",
            "PLOY_HTTP_PORT": str(bot_port),
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        procs.append(subprocess.Popen([str(PLOY_BOT), "run"], env=env, **quiet))  # type: ignore[call-overload]
        procs.append(
            subprocess.Popen([sys.executable, str(ROOT / "bench/hello_app.py"), str(hello_port)], **quiet)  # type: ignore[call-overload]
        )
        urls = {
            "bot_ready": f"http://127.0.0.1:{bot_port}/health/ready",
            "hello_world": f"http://127.0.0.1:{hello_port}/hello",
        }
        for url in urls.values():
            _wait_ok(url)
        result = measure(vegeta, urls, args.rates, args.seconds, args.connections, args.rounds)
        _stop(procs.pop())  # uvicorn re-raises SIGTERM after its graceful stop: exit -15, not of interest
        bot_exit = _stop(procs.pop())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        server.destroy()
    print(
        json.dumps(
            {
                "benchmark": "health_ready",
                "load_generator": f"vegeta {Path(vegeta).parent.name.removeprefix('vegeta-')}",
                "seconds_per_run": args.seconds,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "note": "load generator, servers and other work share the machine's cores; compare ratios",
                **result,
                "bot_exit_code_after_sigterm": bot_exit,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
