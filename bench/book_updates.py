"""Benchmark: order-book updates per second replaying the recorded burst in a loop.

One pass over ``ws_market_burst.json`` is 2 snapshots + 98 level changes (49 price_change messages
x 2 tokens) = 100 book updates. Figures, each measured for ``--seconds``:

* ``store_only``: typed messages applied to ``BookStore`` (parsing done beforehand), no hash checks;
* ``store_with_hash_checks``: the same with the market's hash inputs known, so every step end
  recomputes SHA-1 book hashes;
* ``frames_end_to_end``: raw JSON text frames through ``FeedPipeline`` (decode, pydantic parse,
  apply, step checks incl. hashes), as the WebSocket feed does;
* ``replay_feed``: ``ReplayFeed(speed=0, loop=True)`` on the event loop with one listener.

Prints one JSON object. Usage: ``.venv/bin/python bench/book_updates.py [--seconds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Callable
from decimal import Decimal

from tradingbot.market.messages import MarketMessage, parse_event
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


def _timed(seconds: float, one_pass: Callable[[], None]) -> tuple[int, float]:
    passes = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        one_pass()
        passes += 1
    return passes, elapsed


def _figure(passes: int, elapsed: float, updates: int, messages: int) -> dict[str, float]:
    return {
        "passes": passes,
        "seconds": round(elapsed, 3),
        "book_updates_per_s": round(passes * updates / elapsed),
        "messages_per_s": round(passes * messages / elapsed),
    }


def bench_store(seconds: float, params: dict[str, MarketParams] | None) -> dict[str, float]:
    objs = load_recording(embedded_recording())
    steps = [[parse_event(o) for o in step.messages] for step in group_steps(objs)]
    flat = [m for step in steps for m in step]

    def one_pass() -> None:
        store = BookStore(market_params=params)
        for step in steps:
            for msg in step:
                store.apply(msg)
            store.flush()

    passes, elapsed = _timed(seconds, one_pass)
    return _figure(passes, elapsed, _updates_per_pass(flat), len(flat))


def bench_frames(seconds: float) -> dict[str, float]:
    objs = load_recording(embedded_recording())
    frames = [json.dumps(o) for o in objs]
    flat = [parse_event(o) for o in objs]

    def one_pass() -> None:
        pipeline = FeedPipeline(BookStore(market_params=PARAMS))
        for frame in frames:
            pipeline.handle_frame(frame)
        pipeline.store.flush()

    passes, elapsed = _timed(seconds, one_pass)
    return _figure(passes, elapsed, _updates_per_pass(flat), len(flat))


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
    start = time.perf_counter()
    task = asyncio.create_task(feed.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    elapsed = time.perf_counter() - start
    fig = _figure(feed.passes, elapsed, _updates_per_pass(flat), len(flat))
    fig["listener_calls_per_s"] = round(notified / elapsed)
    return fig


def main() -> None:
    """Run every figure and print them as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    args = parser.parse_args()
    result = {
        "benchmark": "book_updates",
        "recording": "ws_market_burst.json (51 messages, 100 book updates per pass)",
        "python": platform.python_version(),
        "store_only": bench_store(args.seconds, None),
        "store_with_hash_checks": bench_store(args.seconds, PARAMS),
        "frames_end_to_end": bench_frames(args.seconds),
        "replay_feed": asyncio.run(bench_replay_feed(args.seconds)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
