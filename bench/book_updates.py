"""Benchmark: order-book updates per second replaying the recorded burst in a loop.

One pass over ``ws_market_burst.json`` is 2 snapshots + 98 level changes (49 price_change messages
x 2 tokens) = 100 book updates. Figures, each measured for ``--seconds``:

* ``store_only``: typed messages applied to ``BookStore`` (parsing done beforehand), no hash checks;
* ``store_with_hash_checks``: the same with the market's hash inputs known, so every step end
  recomputes SHA-1 book hashes;
* ``store_with_hash_checks_and_metrics``: the same counting into Prometheus metrics, as the bot does;
* ``frames_end_to_end``: raw JSON text frames through ``FeedPipeline`` (decode, pydantic parse,
  apply, step checks incl. hashes), as the WebSocket feed does;
* ``replay_feed``: ``ReplayFeed(speed=0, loop=True)`` on the event loop with one listener.

Each figure is given per wall-clock second and per CPU second of this (single-threaded) process:
on a machine whose cores are shared, the CPU-second figure is the rate on one core, the wall-clock
one what this process got.

``--compare-with REV`` measures the bot code of git revision ``REV`` (``git archive`` into a
temporary directory, put first on ``PYTHONPATH``) and the working tree's alternately in the same run,
``--rounds`` times each, and prints both medians side by side with their ratio.

Prints one JSON object. Usage:
``.venv/bin/python bench/book_updates.py [--seconds 2] [--compare-with REV [--rounds 3]]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from tradingbot.market.messages import MarketMessage, parse_event
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.pipeline import FeedPipeline
from tradingbot.market.replay import ReplayFeed, embedded_recording, group_steps, load_recording
from tradingbot.market.store import BookStore, MarketParams

MARKET = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
PARAMS = {MARKET: MarketParams(Decimal(5), False)}


def _updates_per_pass(msgs: list[MarketMessage]) -> int:
    n = 0
    for m in msgs:
        n += len(getattr(m, "price_changes", ())) or (1 if m.event_type == "book" else 0)
    return n


def _timed(seconds: float, one_pass: Callable[[], None]) -> tuple[int, float, float]:
    """Passes done in ``seconds`` of wall-clock time, the wall-clock and the CPU seconds they took."""
    passes = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        one_pass()
        passes += 1
    return passes, elapsed, time.process_time() - cpu_start


def _figure(passes: int, elapsed: float, cpu: float, updates: int, messages: int) -> dict[str, float]:
    return {
        "passes": passes,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "book_updates_per_s": round(passes * updates / elapsed),
        "book_updates_per_cpu_s": round(passes * updates / cpu) if cpu > 0 else 0,
        "messages_per_s": round(passes * messages / elapsed),
    }


def bench_store(
    seconds: float, params: dict[str, MarketParams] | None, metrics: bool = False
) -> dict[str, float]:
    objs = load_recording(embedded_recording())
    steps = [[parse_event(o) for o in step.messages] for step in group_steps(objs)]
    flat = [m for step in steps for m in step]
    counters = MarketMetrics(CollectorRegistry()) if metrics else None

    def one_pass() -> None:
        store = BookStore(market_params=params, metrics=counters)
        for step in steps:
            for msg in step:
                store.apply(msg)
            store.flush()

    passes, elapsed, cpu = _timed(seconds, one_pass)
    return _figure(passes, elapsed, cpu, _updates_per_pass(flat), len(flat))


def bench_frames(seconds: float) -> dict[str, float]:
    objs = load_recording(embedded_recording())
    frames = [json.dumps(o) for o in objs]
    flat = [parse_event(o) for o in objs]

    def one_pass() -> None:
        pipeline = FeedPipeline(BookStore(market_params=PARAMS))
        for frame in frames:
            pipeline.handle_frame(frame)
        pipeline.store.flush()

    passes, elapsed, cpu = _timed(seconds, one_pass)
    return _figure(passes, elapsed, cpu, _updates_per_pass(flat), len(flat))


async def bench_replay_feed(seconds: float) -> dict[str, float]:
    objs = load_recording(embedded_recording())
    flat = [parse_event(o) for o in objs]
    stop = asyncio.Event()
    notified = 0

    def on_change(_asset_id: str) -> None:
        nonlocal notified
        notified += 1

    feed = ReplayFeed(speed=0, loop=True, market_params=PARAMS)
    feed.subscribe(on_change)
    cpu_start = time.process_time()
    start = time.perf_counter()
    task = asyncio.create_task(feed.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    fig = _figure(feed.passes, elapsed, cpu, _updates_per_pass(flat), len(flat))
    fig["listener_calls_per_s"] = round(notified / elapsed)
    return fig


def measure(seconds: float) -> dict[str, Any]:
    """Every figure of the code on ``sys.path``."""
    return {
        "store_only": bench_store(seconds, None),
        "store_with_hash_checks": bench_store(seconds, PARAMS),
        "store_with_hash_checks_and_metrics": bench_store(seconds, PARAMS, metrics=True),
        "frames_end_to_end": bench_frames(seconds),
        "replay_feed": asyncio.run(bench_replay_feed(seconds)),
    }


def compare(rev: str, seconds: float, rounds: int) -> dict[str, Any]:
    """``measure`` for the bot code of ``rev`` and of the working tree, alternately, ``rounds`` times
    each (subprocesses, one per round and tree); medians of each rate and the ratio after/before."""
    root = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="book-bench-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", rev, "bot/tradingbot"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True, timeout=60)
        paths = {"before": str(Path(tmp) / "bot"), "after": str(root / "bot")}
        for _ in range(rounds):
            for name, path in paths.items():
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])}
                out = subprocess.run(
                    [sys.executable, __file__, "--seconds", str(seconds), "--figures-only"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60 + 8 * seconds,
                )
                runs[name].append(json.loads(out.stdout))
    result: dict[str, Any] = {"before_rev": rev, "rounds": rounds}
    for figure in runs["after"][0]:
        row: dict[str, Any] = {}
        for rate in ("book_updates_per_s", "book_updates_per_cpu_s"):
            before = statistics.median(r[figure][rate] for r in runs["before"])
            after = statistics.median(r[figure][rate] for r in runs["after"])
            row[rate] = {"before": round(before), "after": round(after), "ratio": round(after / before, 2)}
        result[figure] = row
    return result


def main() -> None:
    """Run every figure and print them as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--compare-with", metavar="REV", help="git revision to measure side by side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per tree with --compare-with")
    parser.add_argument("--figures-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.figures_only:
        print(json.dumps(measure(args.seconds)))
        return
    result: dict[str, Any] = {
        "benchmark": "book_updates",
        "recording": "ws_market_burst.json (51 messages, 100 book updates per pass)",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }
    if args.compare_with:
        result["compare"] = compare(args.compare_with, args.seconds, args.rounds)
    else:
        result.update(measure(args.seconds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
