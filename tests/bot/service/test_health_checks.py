"""Readiness check plumbing: timing, timeouts, and probes shared by concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from tradingbot.health import SingleFlight, market_data_check, run_checks, timed


async def test_single_flight_shares_one_run_between_concurrent_callers() -> None:
    runs = 0
    gate = asyncio.Event()

    async def probe() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return f"run {runs}"

    shared = SingleFlight(probe)
    callers = [asyncio.create_task(shared()) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*callers) == ["run 1"] * 5
    assert await shared() == "run 2", "a call after the run finished starts a new one"


async def test_single_flight_survives_a_caller_giving_up_and_passes_errors_on() -> None:
    gate = asyncio.Event()

    async def probe() -> str:
        await gate.wait()
        raise RuntimeError("database down")

    shared = SingleFlight(probe)
    impatient = await timed("database", shared, timeout_s=0.05)
    assert not impatient.ok and impatient.detail == "timed out after 0.05s"
    waiting = asyncio.create_task(shared())
    gate.set()
    with pytest.raises(RuntimeError, match="database down"):
        await waiting


async def test_run_checks_reports_each_check_in_order() -> None:
    async def ok() -> str:
        return "fine"

    async def boom() -> str:
        raise ValueError("bad")

    results = await run_checks(
        {
            "a": ok,
            "b": boom,
            "c": market_data_check(lambda: 45.0, 30.0),
            "d": market_data_check(lambda: None, 30.0),
        },
        timeout_s=1.0,
    )
    assert [(r.name, r.ok, r.detail) for r in results] == [
        ("a", True, "fine"),
        ("b", False, "ValueError: bad"),
        ("c", False, "RuntimeError: last message 45.0s ago (limit 30.0s)"),
        ("d", False, "RuntimeError: no market data received yet"),
    ]
    assert all(r.latency_seconds >= 0 for r in results)
