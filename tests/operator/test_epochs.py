"""The operator's memory of the epochs it wrote (pure): a status below it is refused, per TradingBot UID."""

from __future__ import annotations

import pytest

from tradingbot_operator.epochs import EpochMemory

# (writes as (uid, epoch), read (uid, epoch), expected regressed() answer)
CASES = [
    ([], ("a", 0), None),
    ([("a", 3)], ("a", 3), None),
    ([("a", 3)], ("a", 4), None),
    ([("a", 3)], ("a", 2), 3),
    ([("a", 3), ("a", 1)], ("a", 2), 3),  # a lower write never lowers the memory
    ([("a", 3)], ("b", 0), None),  # recreated object: another UID starts clean
    ([("a", 0)], ("a", 0), None),
]


@pytest.mark.parametrize(("writes", "read", "expected"), CASES)
def test_regressed(writes: list[tuple[str, int]], read: tuple[str, int], expected: int | None) -> None:
    memory = EpochMemory()
    for uid, epoch in writes:
        memory.wrote(uid, epoch)
    assert memory.regressed(*read) == expected


def test_one_warning_per_lower_value_and_forget() -> None:
    memory = EpochMemory()
    memory.wrote("a", 5)
    assert memory.first_warning("a", 2) is True
    assert memory.first_warning("a", 2) is False
    assert memory.first_warning("a", 1) is True
    memory.wrote("a", 6)  # a new write: a later regression is reported again
    assert memory.first_warning("a", 1) is True
    memory.forget("a")
    assert memory.highest("a") is None and memory.regressed("a", 0) is None
