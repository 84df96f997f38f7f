"""Property tests of the plan: random histories of pods, spec edits, pauses, manual actions and
metric analysis readings.

Whatever happens, the fencing epoch never decreases and moves by at most 1 per pass, ``activeColor``
changes only together with an epoch increase, the active Service routes to exactly the active color,
and a pass repeated over the same input changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.operator.plan_world import Bot, World, events, make_spec, non_events
from tests.operator.test_plan import TO_GREEN_ACTIVE
from tradingbot_operator.model import Color
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY, ServiceRole
from tradingbot_operator.observed import JobState, Reading
from tradingbot_operator.plan import plan

colors = st.sampled_from(list(Color))
advance = st.tuples(st.just("advance"), st.sampled_from([0, 1, 5, 20, 31, 61, 120, 301, 400]))
pod_trouble = st.tuples(st.sampled_from(["unready", "restart"]), colors)
# Trouble for whichever color is active or rolling out right now: this is what reaches rollbacks.
targeted_trouble = st.tuples(
    st.just("trouble"),
    st.tuples(st.sampled_from(["unready", "restart"]), st.sampled_from(["active", "rollout"])),
)
# Weighted towards what drives rollouts (time, pods, new images) so that promotions and rollbacks,
# not just pauses and failed migrations, show up in most histories.
operations = st.one_of(
    advance,
    advance,
    advance,
    st.tuples(st.just("ready"), colors),
    pod_trouble,
    targeted_trouble,
    targeted_trouble,
    st.tuples(st.just("image"), st.sampled_from(["1.0.0", "1.1.0", "1.2.0"])),
    st.tuples(st.just("paused"), st.sampled_from([False, False, True])),
    st.tuples(st.just("replicas"), st.integers(min_value=0, max_value=1)),
    st.tuples(
        st.just("annotate"),
        st.tuples(
            st.sampled_from([ANNOTATION_PROMOTE, ANNOTATION_ABORT, ANNOTATION_RETRY]),
            st.sampled_from(["a", "b", None]),
        ),
    ),
    st.tuples(st.just("job"), st.sampled_from([JobState.SUCCEEDED, JobState.SUCCEEDED, JobState.FAILED])),
    st.tuples(st.just("auto_ready"), st.booleans()),
    # What Prometheus answers to the analysis query: healthy, sick, unreachable, NaN.
    st.tuples(st.just("metric"), st.sampled_from([1.0, 1.0, 42.0, None, float("nan")])),
)
ANALYSIS = {
    "name": "age",
    "query": 'max(ploy_market_data_age_seconds{namespace="{{namespace}}",color="{{color}}"})',
    "successCondition": {"op": "<=", "value": "5"},
}
rollout_settings = st.fixed_dictionaries(
    {
        "autoPromote": st.sampled_from([True, True, False]),
        "bakeSeconds": st.sampled_from([0, 30]),
        "postPromotionSeconds": st.sampled_from([0, 60, 60]),
        "maxRestarts": st.sampled_from([0, 1]),
        "migration": st.fixed_dictionaries(
            {"enabled": st.sampled_from([False, False, True]), "args": st.just(["migrate"])}
        ),
        "analysis": st.sampled_from(
            [
                [],
                [{**ANALYSIS, "intervalSeconds": 10}],
                [{**ANALYSIS, "intervalSeconds": 20, "failureLimit": 1, "onInconclusive": "Fail"}],
            ]
        ),
    }
)


def apply_operation(bot: Bot, operation: tuple[str, Any]) -> None:
    """Change the world or the spec as ``operation`` says (ignored when it does not apply)."""
    kind, argument = operation
    if kind == "advance":
        bot.now += timedelta(seconds=argument)
    elif kind in ("ready", "unready", "restart") and argument in bot.world.deployments:
        if kind == "ready":
            bot.world.set_ready(argument, bot.now)
        elif kind == "unready":
            bot.world.lose_readiness(argument)
        else:
            bot.world.restart(argument)
    elif kind == "trouble":
        what, whose = argument
        rollout = bot.status.rollout
        color = bot.status.active_color if whose == "active" else (rollout.color if rollout else None)
        if color is not None and color in bot.world.deployments:
            apply_operation(bot, (what, color))
    elif kind == "image":
        bot.change_spec(image=f"registry.example/ploy-bot:{argument}")
    elif kind == "paused":
        bot.change_spec(paused=argument)
    elif kind == "replicas":
        bot.change_spec(replicas=argument)
    elif kind == "annotate":
        key, value = argument
        if value is None:
            bot.annotations.pop(key, None)
        else:
            bot.annotations[key] = value
    elif kind == "job":
        for revision in list(bot.world.jobs):
            bot.world.jobs[revision] = argument
    elif kind == "auto_ready":
        bot.world.auto_ready = argument
    elif kind == "metric":
        bot.prometheus["age"] = Reading(argument, "" if argument is not None else "Prometheus unreachable")


def start_bot(rollout: dict[str, Any], in_window: bool) -> Bot:
    """A fresh bot, or (``in_window``) one whose green was just promoted over blue (default settings)."""
    if not in_window:
        bot = Bot(spec=make_spec(**rollout), world=World(auto_ready=True))
        bot.step()
        return bot
    bot = Bot(spec=make_spec(), world=World())
    for step in TO_GREEN_ACTIVE:
        bot.now += timedelta(seconds=step.seconds)
        if step.change is not None:
            step.change(bot)
        bot.step()
    assert bot.status.rollout is not None and bot.status.rollout.promoted_at is not None
    bot.world.auto_ready = True
    return bot


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rollout=rollout_settings,
    in_window=st.booleans(),
    history=st.lists(operations, min_size=10, max_size=50),
)
def test_epoch_and_active_color_invariants(
    rollout: dict[str, Any], in_window: bool, history: list[tuple[str, Any]]
) -> None:
    bot = start_bot(rollout, in_window)
    for operation in history:
        apply_operation(bot, operation)
        before = bot.status
        observed = bot.observed()
        result = bot.step()
        after = result.status
        assert after.epoch >= before.epoch
        assert after.epoch - before.epoch <= 1
        if after.active_color != before.active_color:
            assert after.epoch == before.epoch + 1
        assert (after.active_color is None) == (after.active_revision is None)
        assert bot.world.services[ServiceRole.ACTIVE] == after.active_color
        if after.rollout is not None and after.rollout.promoted_at is None:
            assert after.rollout.color != after.active_color
        repeat = plan(bot.spec, after, observed, bot.now)
        assert repeat.status == after
        assert events(repeat) == []
        assert non_events(repeat) == non_events(result)
