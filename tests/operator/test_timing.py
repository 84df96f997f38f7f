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


# Timeline (seconds from T0, each pass ``fraction`` past the second): start at 0 (deadline 300 from
# startedAt, which is rounded up like every interval's origin, so the deadline is never early); blue
# Ready at 5 (bake 30: due 35, or 36 past the second, since readySince is rounded up); promoted exactly
# when due (first rollout: no window); green starts 10 s later, Ready 5 s after that, promoted exactly
# when due: the window (60) then counts from that whole second.
CASES = [
    Case("on the second", 0.0, (300.0, 30.0, None, 30.0, 60.0)),
    Case("a quarter past", 0.25, (300.75, 30.75, None, 30.75, 60.0)),
    Case("just before the next second", 0.999, (300.001, 30.001, None, 30.001, 60.0)),
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


def _first_rollout_promoted(bot: Bot) -> None:
    bot.settle()
    bot.world.set_ready(Color.BLUE, bot.now)
    bot.settle()
    bot.now += timedelta(seconds=30)
    bot.settle()
    assert active(bot) is Color.BLUE


def _second_version_promoted_off_the_second(bot: Bot) -> None:
    """Blue promoted, then green (Ready at once) promoted 0.6 s past a whole second."""
    _first_rollout_promoted(bot)
    bot.now += timedelta(seconds=10.6)
    bot.change_spec(image="registry.example/ploy-bot:2.0.0")
    bot.settle()
    bot.world.set_ready(Color.GREEN, bot.now)
    bot.settle()
    assert active(bot) is Color.GREEN


def test_the_progress_deadline_is_never_early() -> None:
    """Started 0.75 s before a whole second, never Ready: still progressing when the floored clock
    reaches start + deadline, failed once the full deadline has passed."""
    bot = Bot(spec=make_spec(progressDeadlineSeconds=10, bakeSeconds=0), now=T0 + timedelta(seconds=0.25))
    bot.settle()
    assert bot.status.rollout is not None and bot.status.rollout.started_at == T0 + timedelta(seconds=1)
    bot.now = T0 + timedelta(seconds=10.9)  # 10.65 s after the start
    bot.settle()
    assert bot.status.last_rollout is None, "failed before its deadline"
    bot.now = T0 + timedelta(seconds=11)
    bot.settle()
    assert (
        bot.status.last_rollout is not None and bot.status.last_rollout.reason == "ProgressDeadlineExceeded"
    )


def test_the_window_and_the_scale_down_delay_are_never_short() -> None:
    """Promoted 0.6 s past a whole second: the window (4 s) and the scale-down delay (6 s) count from
    the next whole second, so neither ends before its full length."""
    bot = Bot(spec=make_spec(bakeSeconds=0, postPromotionSeconds=4, scaleDownDelaySeconds=6))
    _second_version_promoted_off_the_second(bot)
    promoted = bot.now
    assert bot.status.rollout is not None and bot.status.rollout.promoted_at is not None
    assert bot.status.rollout.promoted_at - promoted == timedelta(seconds=0.4)
    assert bot.status.standby is not None
    assert bot.status.standby.scale_down_at - promoted == timedelta(seconds=6.4)


def test_empty_intervals_start_on_the_floored_second() -> None:
    """With no window and no scale-down delay nothing can end early: the origin is not pushed to the
    next second, which would only delay the scale-down."""
    bot = Bot(spec=make_spec(bakeSeconds=0, postPromotionSeconds=0, scaleDownDelaySeconds=0))
    _second_version_promoted_off_the_second(bot)
    floored = bot.now.replace(microsecond=0)
    assert bot.status.last_rollout is not None and bot.status.last_rollout.result.value == "Promoted"
    assert bot.status.standby is None or bot.status.standby.scale_down_at == floored
