"""Readiness check plumbing: timing, timeouts, and probes shared by concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from tradingbot.health import Check, SingleFlight, market_data_check, run_checks, timed


async def answer(check: Check) -> str:
    """The check's detail, awaited when it is not known at once."""
    outcome = check()
    return outcome if isinstance(outcome, str) else await outcome


async def test_single_flight_shares_one_run_between_concurrent_callers() -> None:
    runs = 0
    gate = asyncio.Event()

    async def probe() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return f"run {runs}"

    shared = SingleFlight(probe)
    callers = [asyncio.create_task(answer(shared)) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*callers) == ["run 1"] * 5
    assert await answer(shared) == "run 2", "a call after the run finished starts a new one"


async def test_single_flight_survives_a_caller_giving_up_and_passes_errors_on() -> None:
    gate = asyncio.Event()

    async def probe() -> str:
        await gate.wait()
        raise RuntimeError("database down")

    shared = SingleFlight(probe)
    impatient = await timed("database", shared, timeout_s=0.05)
    assert not impatient.ok and impatient.detail == "timed out after 0.05s"
    waiting = asyncio.create_task(answer(shared))
    gate.set()
    with pytest.raises(RuntimeError, match="database down"):
        await waiting


async def test_single_flight_reuses_a_recent_success_for_a_bounded_time_and_never_a_failure() -> None:
    now = 100.0
    down: str | Exception = RuntimeError("database down")
    outcomes = ["reachable", "reachable", "reachable", down, "reachable"]
    runs = 0

    async def probe() -> str:
        nonlocal runs
        outcome = outcomes[runs]
        runs += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    shared = SingleFlight(probe, reuse_success_s=1.0, clock=lambda: now)
    assert await answer(shared) == "reachable" and runs == 1
    now = 100.25
    assert await answer(shared) == "reachable (confirmed 0.250s ago)" and runs == 1, "reused"
    now = 100.75
    assert await answer(shared) == "reachable (confirmed 0.750s ago)", "past half the bound: reused"
    await asyncio.sleep(0)
    assert runs == 2, "... and a new round trip started in the background"
    now = 101.5
    assert await answer(shared) == "reachable (confirmed 0.750s ago)", "the background run's start counts"
    now = 102.0
    assert await answer(shared) == "reachable" and runs == 3, "past the bound: the caller waits for a run"
    now = 103.5
    with pytest.raises(RuntimeError, match="database down"):
        await answer(shared)
    assert await answer(shared) == "reachable" and runs == 5, "a failure is not reused: the next call runs"


async def test_single_flight_runs_again_right_after_a_failure() -> None:
    calls: list[str] = []

    async def probe() -> str:
        calls.append("run")
        if len(calls) == 1:
            raise RuntimeError("database down")
        return "reachable"

    shared = SingleFlight(probe, reuse_success_s=60.0, clock=lambda: 5.0)
    with pytest.raises(RuntimeError):
        await answer(shared)
    assert await answer(shared) == "reachable" and len(calls) == 2, "a failure is not reused"
    assert await answer(shared) == "reachable (confirmed 0.000s ago)" and len(calls) == 2


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
