"""When the time-based gates are due: ``requeue_after`` counts from the exact clock, not the whole second.

The status holds whole seconds and the transitions compare against the whole-second ``now``, but the
reconciler's timer runs on the real clock: a requeue counted from the truncated ``now`` fired the gate
up to a second late (issue 14: a 2 s scale-down took 2.06 s, deadlines up to 1 s late).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from tradingbot_operator.model import Color
from tradingbot_operator.reconciler import MIN_GATE_WAIT_SECONDS, remaining

from .plan_world import T0, Bot, make_spec


def active(bot: Bot) -> Color | None:
    return bot.status.active_color


@dataclass(frozen=True)
class Case:
    name: str
    fraction: float  # seconds past the whole second at which every pass runs
    expected: tuple[float | None, ...]  # requeue_after of: start, blue Ready, baked, green Ready, promoted


# Timeline (seconds from T0, each pass ``fraction`` past the second): start at 0 (deadline 300); blue
# Ready at 5 (bake 30: due 35, or 36 past the second, since readySince is rounded up); promoted exactly
# when due (first rollout: no window); green starts 10 s later, Ready 5 s after that, promoted exactly
# when due: the window (60) then counts from that whole second.
CASES = [
    Case("on the second", 0.0, (300.0, 30.0, None, 30.0, 60.0)),
    Case("a quarter past", 0.25, (299.75, 30.75, None, 30.75, 60.0)),
    Case("just before the next second", 0.999, (299.001, 30.001, None, 30.001, 60.0)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_requeue_counts_from_the_exact_clock(case: Case) -> None:
    bot = Bot(spec=make_spec(), now=T0 + timedelta(seconds=case.fraction))
    got: list[float | None] = []
    got.append(bot.settle().requeue_after)
    bot.now += timedelta(seconds=5)
    bot.world.set_ready(Color.BLUE, bot.now)
    got.append(bot.settle().requeue_after)
    due = bot.now + timedelta(seconds=got[-1] or 0)
    bot.now = due  # the timer fires exactly when due: the gate must pass in that pass
    got.append(bot.settle().requeue_after)
    assert active(bot) is Color.BLUE, "the bake gate passed at its due instant"
    bot.now += timedelta(seconds=10 + case.fraction)  # off the whole second again
    bot.change_spec(image="registry.example/ploy-bot:2.0.0")
    bot.settle()
    bot.now += timedelta(seconds=5)
    bot.world.set_ready(Color.GREEN, bot.now)
    got.append(bot.settle().requeue_after)
    bot.now += timedelta(seconds=got[-1] or 0)
    got.append(bot.settle().requeue_after)
    assert active(bot) is Color.GREEN, "the second bake gate passed at its due instant"
    assert got == pytest.approx(case.expected), case.name


@dataclass(frozen=True)
class Remaining:
    name: str
    requeue_after: float | None
    elapsed: float
    expected: float | None


REMAINING = [
    Remaining("no gate", None, 0.3, None),
    Remaining("due now stays due now (the queue's floor applies)", 0.0, 0.3, 0.0),
    Remaining("the pass's writes are subtracted", 2.0, 0.3, 1.7),
    Remaining("a clock stepping back adds nothing", 2.0, -0.5, 2.0),
    Remaining("a gate passed during the writes runs at once, never 0", 0.2, 0.3, MIN_GATE_WAIT_SECONDS),
]


@pytest.mark.parametrize("case", REMAINING, ids=lambda c: c.name)
def test_remaining_counts_from_the_end_of_the_pass(case: Remaining) -> None:
    got = remaining(case.requeue_after, T0, T0 + timedelta(seconds=case.elapsed))
    assert got == (pytest.approx(case.expected) if case.expected is not None else None)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.999])
def test_no_bake_promotes_in_the_pass_that_sees_ready(fraction: float) -> None:
    """bakeSeconds 0: readySince is rounded up to the next second, which must not hold the gate."""
    bot = Bot(spec=make_spec(bakeSeconds=0), now=T0 + timedelta(seconds=fraction))
    bot.settle()
    bot.now += timedelta(seconds=5)
    bot.world.set_ready(Color.BLUE, bot.now)
    bot.settle()
    assert active(bot) is Color.BLUE
