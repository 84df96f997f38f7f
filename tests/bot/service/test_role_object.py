"""Reading the role from a TradingBot object (the dict the API server returns)."""

from __future__ import annotations

from typing import Any

import pytest

from tradingbot.role.tradingbot_watch import role_from_object


@pytest.mark.parametrize(
    ("obj", "color", "expected"),
    [
        ({"status": {"activeColor": "blue", "epoch": 3}}, "blue", (True, 3)),
        ({"status": {"activeColor": "blue", "epoch": 3}}, "green", (False, 3)),
        ({"status": {"activeColor": "green"}}, "green", (False, None)),
        ({"status": {"activeColor": "green", "epoch": 0}}, "green", (False, None)),
        ({"status": {"activeColor": "green", "epoch": "4"}}, "green", (False, None)),
        ({"status": {"activeColor": "green", "epoch": True}}, "green", (False, None)),
        ({"spec": {}}, "blue", (False, None)),
        (None, "blue", (False, None)),
    ],
)
def test_role_from_object(obj: dict[str, Any] | None, color: str, expected: tuple[bool, int | None]) -> None:
    assert role_from_object(obj, color) == expected
