"""A market feed that replays recorded WS market-channel messages (the bot's embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.pipeline import FeedPipeline, PipelineFeed
from tradingbot.market.store import BookStore, MarketParams

DEFAULT_RECORDING = "ws_market_burst.json"
# Longest pause between two steps, seconds: recordings can hold hours-long silences.
MAX_STEP_GAP_S = 5.0


# Book-hash inputs the WS recordings cannot carry, for the markets of the embedded recordings:
# the shared data README states their hashes recompute with min_order_size "5", neg_risk false.
EMBEDDED_MARKET_PARAMS: dict[str, MarketParams] = {
    "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01": MarketParams(Decimal(5), False),
    "0x6bd56627aa21311850825edb27e53434a0e17a4f782be0086bc07f71eee00d0d": MarketParams(Decimal(5), False),
}


def embedded_recording(name: str = DEFAULT_RECORDING) -> Path:
    """Path of a recording shipped in ``tradingbot/data`` (see its README for provenance)."""
    return Path(str(resources.files("tradingbot") / "data" / name))


def load_recording(path: Path) -> list[object]:
    """The JSON objects of a recording: a file holding one message or an array of messages.

    Raises ``OSError`` or ``ValueError`` (invalid JSON).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data) if isinstance(data, list) else [data]


def _timestamp(obj: object) -> int | None:
    ts = obj.get("timestamp") if isinstance(obj, dict) else None
    return int(ts) if isinstance(ts, str) and ts.isdigit() else None


@dataclass(frozen=True, slots=True)
class Step:
    """Consecutive recorded messages sharing one timestamp (ms; None if unreadable)."""

    timestamp_ms: int | None
    messages: tuple[object, ...]


def group_steps(objs: Iterable[object]) -> list[Step]:
    """Group consecutive messages with equal ``timestamp`` into steps, keeping order.

    Polymarket stamps every message of a same-timestamp burst with the post-burst book state
    (README notes on ``ws_market_burst.json``), so books are compared with the recording only at
    step boundaries.
    """
    steps: list[Step] = []
    current: list[object] = []
    current_ts: int | None = None
    for obj in objs:
        ts = _timestamp(obj)
        if current and ts != current_ts:
            steps.append(Step(current_ts, tuple(current)))
            current = []
        current.append(obj)
        current_ts = ts
    if current:
        steps.append(Step(current_ts, tuple(current)))
    return steps


class ReplayFeed(PipelineFeed):
    """Replays recordings through the same parsing and book code as the live feed.

    ``speed`` scales the recorded inter-step delays (1.0 = real time, 10.0 = ten times faster,
    0 = no delay); a single pause never exceeds ``MAX_STEP_GAP_S / speed``. With ``loop`` the
    files are replayed forever, each pass starting from a clean store so books are rebuilt from
    the recording's first snapshot. ``market_params`` (hash inputs per market) defaults to
    ``EMBEDDED_MARKET_PARAMS``. ``on_pass_end`` (tests, benchmarks) is called after each pass.
    Raises ``OSError``/``ValueError`` at construction if a file cannot be read.
    """

    def __init__(
        self,
        paths: Sequence[Path] | None = None,
        speed: float = 1.0,
        loop: bool = False,
        *,
        market_params: dict[str, MarketParams] | None = None,
        metrics: MarketMetrics | None = None,
        on_pass_end: Callable[[int], None] | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.paths = list(paths) if paths else [embedded_recording()]
        self.speed = speed
        self.loop = loop
        self._files = [group_steps(load_recording(p)) for p in self.paths]
        params = EMBEDDED_MARKET_PARAMS if market_params is None else market_params
        self._pipeline = FeedPipeline(BookStore(market_params=params, metrics=metrics), metrics)
        self._on_pass_end = on_pass_end
        self.passes = 0
        self._reset_pending = False

    async def run(self, stop: asyncio.Event) -> None:
        """Replay until the recordings end (without ``loop``) or ``stop`` is set."""
        while not stop.is_set():
            self._reset_pending = self.passes > 0
            for steps in self._files:
                prev_ts: int | None = None
                for step in steps:
                    if stop.is_set():
                        return
                    await self._pause(prev_ts, step.timestamp_ms, stop)
                    if stop.is_set():
                        return
                    prev_ts = step.timestamp_ms if step.timestamp_ms is not None else prev_ts
                    await self.play_step(step)
            self.passes += 1
            if self._on_pass_end is not None:
                self._on_pass_end(self.passes)
            if not self.loop:
                return
            # Yield even at speed 0 so a looping replay cannot starve the event loop.
            await asyncio.sleep(0)

    async def play_step(self, step: Step) -> None:
        """Apply one step's messages, close the step (integrity checks) and notify listeners."""
        if self._reset_pending:
            # Reset right before the first step's snapshot, with no await in between, so no
            # reader ever sees the books missing between two passes.
            self._pipeline.store.reset()
            self._reset_pending = False
        self._pipeline.mark_received()
        out = self._pipeline.handle_objects(step.messages)
        out.merge(self._pipeline.store.flush())
        # No REST here: a gap or mismatch is counted and healed by the recording's next snapshot.
        await self._pipeline.notify(out.changed)

    async def _pause(self, prev_ts: int | None, ts: int | None, stop: asyncio.Event) -> None:
        if self.speed == 0 or prev_ts is None or ts is None or ts <= prev_ts:
            await asyncio.sleep(0)
            return
        delay = min((ts - prev_ts) / 1000.0, MAX_STEP_GAP_S) / self.speed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
