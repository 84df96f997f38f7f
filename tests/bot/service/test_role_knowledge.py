"""The role readiness check and the watch timings derived from ``PLOY_ROLE_CONFIRM_SECONDS`` (pure)."""

from __future__ import annotations

import time

import pytest

from tradingbot.health import role_check, timed
from tradingbot.role.knowledge import RoleKnowledge
from tradingbot.role.tradingbot_watch import WatchTimings


async def _detail(knowledge: RoleKnowledge, limit_s: float = 30.0) -> tuple[bool, str]:
    result = await timed("role", role_check(knowledge, limit_s), 1.0)
    return result.ok, result.detail


async def test_never_confirmed_is_not_ready_and_says_why() -> None:
    knowledge = RoleKnowledge()
    assert await _detail(knowledge) == (False, "RuntimeError: role not confirmed from the API yet")
    knowledge.failed("TimeoutError")
    assert await _detail(knowledge) == (
        False,
        "RuntimeError: role not confirmed from the API yet; last error: TimeoutError",
    )


async def test_confirmed_recently_is_ready_and_too_long_ago_is_not() -> None:
    knowledge = RoleKnowledge()
    knowledge.confirm()
    ok, detail = await _detail(knowledge)
    assert ok and detail.startswith("confirmed ")
    knowledge.confirmed_at = time.monotonic() - 31.0
    knowledge.failed("HTTP 503: unavailable")
    ok, detail = await _detail(knowledge)
    assert not ok
    assert detail.startswith("RuntimeError: role last confirmed 31.")
    assert detail.endswith("s ago (limit 30s); last error: HTTP 503: unavailable")


async def test_forbidden_is_not_ready_even_when_recently_confirmed() -> None:
    knowledge = RoleKnowledge()
    knowledge.confirm()
    knowledge.failed("HTTP 403: no", forbidden=True)
    assert await _detail(knowledge) == (
        False,
        "RuntimeError: reading the TradingBot is forbidden: HTTP 403: no",
    )
    knowledge.confirm()  # a later success clears it
    assert (await _detail(knowledge))[0]


async def test_standalone_is_always_confirmed() -> None:
    assert await _detail(RoleKnowledge.standalone(), 0.001) == (True, "standalone (role from config)")


def test_timings_confirm_well_within_the_window() -> None:
    assert WatchTimings.for_confirm_window(30) == WatchTimings(watch_s=10, read_s=15.0, request_s=5.0)
    small = WatchTimings.for_confirm_window(3)
    assert small.watch_s == 1 and small.read_s + small.request_s < 3
    with pytest.raises(ValueError, match="inconsistent"):
        WatchTimings(watch_s=10, read_s=10.0)
