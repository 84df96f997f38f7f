"""The metric analysis gate in the pure plan, table-driven like ``test_plan`` (same runner and invariants).

Prometheus is the scenario's table of answers (``Bot.prometheus``); the plan world asks it only for
the queries due in a pass (``plan.analysis.due_queries``), the way the reconciler does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.operator.plan_world import T0, Bot, World, events, make_spec, non_events
from tests.operator.test_plan import (
    BLUE,
    GREEN,
    Expect,
    Mutation,
    Scenario,
    Step,
    both,
    check_expectation,
    check_invariants,
    degraded_before_promotion,
    edit,
    image,
    ready,
    rolled_back,
)
from tradingbot_operator.model import MeasurementResult, Phase, RolloutResult
from tradingbot_operator.observed import Reading
from tradingbot_operator.plan import REASON_ANALYSIS_FAILED, REASON_DEADLINE, REASON_PROMOTED, plan
from tradingbot_operator.plan.analysis import due_queries, render

AGE_QUERY = 'max(ploy_market_data_age_seconds{namespace="{{namespace}}",color="{{color}}"})'


def analysis(**query: Any) -> dict[str, Any]:
    """Rollout overrides with one analysis query ``age`` (``<= 5``, every 10 s) and ``query`` changes."""
    return {
        "analysis": [
            {
                "name": "age",
                "query": AGE_QUERY,
                "successCondition": {"op": "<=", "value": "5"},
                "intervalSeconds": 10,
                **query,
            }
        ]
    }


def prom(value: float | None, error: str = "") -> Mutation:
    def change(bot: Bot) -> None:
        bot.prometheus["age"] = Reading(value, error)

    return change


PROM_DOWN = prom(None, "Prometheus unreachable: ConnectError: connection refused")


def last_measurement(result: MeasurementResult, value: str | None, failures: int = 0) -> Any:
    def check(bot: Bot) -> None:
        assert bot.status.analysis is not None
        m = bot.status.analysis.of("age")
        assert m is not None
        assert (m.result, m.value, m.failures) == (result, value, failures), m

    return check


def measured_times(count: int) -> Any:
    def check(bot: Bot) -> None:
        assert bot.status.analysis is not None
        assert [m.count for m in bot.status.analysis.measurements] == [count]

    return check


def last_message_has(*parts: str) -> Any:
    def check(bot: Bot) -> None:
        last = bot.status.last_rollout
        assert last is not None
        for part in parts:
            assert part in last.message, last.message

    return check


def checks(*fns: Any) -> Any:
    def check(bot: Bot) -> None:
        for fn in fns:
            fn(bot)

    return check


# The first rollout with the analysis passing (Prometheus says 1 second old market data).
FIRST = [
    Step("start", change=prom(1), expect=Expect(phase=Phase.PROGRESSING, rollout_color=BLUE)),
    # The pass that sees Ready starts the bake; the analysis is due at once (requeue 0).
    Step("blue Ready", 5, ready(BLUE), Expect(phase=Phase.BAKING, requeue=0)),
    Step(
        "first measurement: Successful",
        expect=Expect(
            phase=Phase.BAKING,
            events=(),
            requeue=10,
            check=last_measurement(MeasurementResult.SUCCESSFUL, "1"),
        ),
    ),
    Step(
        "baked and analysed: promoted",
        30,
        expect=Expect(active=BLUE, epoch=1, events=("GatePassed", "Switched")),
    ),
]
GREEN_BAKING = [
    Step("green starts", 10, image("1.1.0"), Expect(rollout_color=GREEN, events=("RolloutStarted",))),
    Step("green Ready", 5, ready(GREEN), Expect(phase=Phase.BAKING, requeue=0)),
    Step("green measured", expect=Expect(check=last_measurement(MeasurementResult.SUCCESSFUL, "1"))),
]
GREEN_PROMOTED = Step(
    "green baked and analysed: promoted",
    30,
    expect=Expect(
        phase=Phase.VERIFYING, active=GREEN, epoch=2, events=("GatePassed", "Switched"), requeue=10
    ),
)

SCENARIOS = [
    Scenario(
        "analysis passes: promoted, and the window ends with the analysis passing",
        [
            *FIRST,
            *GREEN_BAKING,
            GREEN_PROMOTED,
            Step("window: measured again", 10, expect=Expect(phase=Phase.VERIFYING, events=())),
            Step(
                "window ends",
                50,
                expect=Expect(
                    phase=Phase.HEALTHY,
                    active=GREEN,
                    last=(RolloutResult.PROMOTED, REASON_PROMOTED),
                    events=("Promoted",),
                    check=measured_times(4),
                ),
            ),
        ],
        analysis(),
    ),
    Scenario(
        "analysis fails during the bake: AnalysisFailed before promotion, the measured value in the message",
        [
            *FIRST,
            *GREEN_BAKING,
            Step(
                "market data 42 s old",
                10,
                prom(42),
                Expect(
                    **{
                        **degraded_before_promotion(REASON_ANALYSIS_FAILED).__dict__,
                        "events": ("AnalysisFailed",),
                        "check": checks(
                            last_message_has("analysis age failed on green", "measured 42, not <= 5"),
                            last_measurement(MeasurementResult.FAILED, "42", failures=1),
                        ),
                    }
                ),
            ),
            Step("not measured any more", 10, expect=Expect(events=(), requeue=None)),
        ],
        analysis(),
    ),
    Scenario(
        "failureLimit 1: one failure is tolerated and holds the gate, a success resets, two in a row fail",
        [
            *FIRST,
            *GREEN_BAKING,
            Step(
                "one failure",
                10,
                prom(9),
                Expect(
                    phase=Phase.BAKING,
                    events=(),
                    check=last_measurement(MeasurementResult.FAILED, "9", failures=1),
                ),
            ),
            Step(
                "success resets",
                10,
                prom(2),
                Expect(phase=Phase.BAKING, check=last_measurement(MeasurementResult.SUCCESSFUL, "2")),
            ),
            Step("failure at bake end holds the gate", 10, prom(7), Expect(phase=Phase.BAKING, events=())),
            Step(
                "second failure in a row fails",
                10,
                expect=Expect(
                    **{
                        **degraded_before_promotion(REASON_ANALYSIS_FAILED).__dict__,
                        "check": last_message_has("measured 7", "2 consecutive, failureLimit 1"),
                    }
                ),
            ),
        ],
        analysis(failureLimit=1),
    ),
    Scenario(
        "analysis fails in the post-promotion window: rolled back, epoch + 1",
        [
            *FIRST,
            *GREEN_BAKING,
            GREEN_PROMOTED,
            Step("window: still fine", 10),
            Step(
                "stale market data after promotion",
                10,
                prom(31.5),
                Expect(
                    **{
                        **rolled_back(REASON_ANALYSIS_FAILED).__dict__,
                        "check": last_message_has("measured 31.5, not <= 5", "after promotion"),
                    }
                ),
            ),
        ],
        analysis(),
    ),
    Scenario(
        "Prometheus unreachable, onInconclusive Wait: the bake holds until the progress deadline",
        [
            *FIRST,
            Step("green starts", 10, image("1.1.0"), Expect(rollout_color=GREEN)),
            Step("green Ready", 5, both(ready(GREEN), PROM_DOWN), Expect(phase=Phase.BAKING)),
            Step("inconclusive", expect=Expect(check=last_measurement(MeasurementResult.INCONCLUSIVE, None))),
            Step("bake time over: held", 30, expect=Expect(phase=Phase.BAKING, events=())),
            Step(
                "deadline",
                270,
                expect=Expect(
                    **{
                        **degraded_before_promotion(REASON_DEADLINE).__dict__,
                        "check": last_message_has("analysis not passed"),
                    }
                ),
            ),
        ],
        analysis(),
    ),
    Scenario(
        "Prometheus back after an inconclusive reading (Wait): the gate passes on the next measurement",
        [
            *FIRST,
            Step("green starts", 10, image("1.1.0"), Expect(rollout_color=GREEN)),
            Step("green Ready", 5, both(ready(GREEN), PROM_DOWN), Expect(phase=Phase.BAKING)),
            Step("inconclusive", 0),
            Step("still down at bake end", 30, expect=Expect(phase=Phase.BAKING, events=())),
            Step("back", 10, prom(0.5), Expect(active=GREEN, epoch=2, events=("GatePassed", "Switched"))),
        ],
        analysis(),
    ),
    Scenario(
        "Prometheus unreachable, onInconclusive Fail: AnalysisFailed with the reason",
        [
            *FIRST,
            Step("green starts", 10, image("1.1.0"), Expect(rollout_color=GREEN)),
            Step("green Ready", 5, both(ready(GREEN), PROM_DOWN), Expect(phase=Phase.BAKING)),
            Step(
                "inconclusive counts as a failure",
                expect=Expect(
                    **{
                        **degraded_before_promotion(REASON_ANALYSIS_FAILED).__dict__,
                        "check": last_message_has("inconclusive: Prometheus unreachable"),
                    }
                ),
            ),
        ],
        analysis(onInconclusive="Fail"),
    ),
    Scenario(
        "no series in the window (Wait): the window does not end, the standby stays warm",
        [
            *FIRST,
            *GREEN_BAKING,
            GREEN_PROMOTED,
            Step("series gone", 10, prom(None, "no series")),
            Step(
                "window end: held",
                50,
                expect=Expect(phase=Phase.VERIFYING, events=(), absent=(("scale", "blue", 0),)),
            ),
            Step("series back: window ends", 10, prom(3), Expect(phase=Phase.HEALTHY, events=("Promoted",))),
        ],
        analysis(),
    ),
    Scenario(
        "NaN is inconclusive",
        [
            *FIRST,
            Step("green starts", 10, image("1.1.0")),
            Step("green Ready", 5, both(ready(GREEN), prom(float("nan")))),
            Step("NaN", expect=Expect(check=last_measurement(MeasurementResult.INCONCLUSIVE, None))),
        ],
        analysis(),
    ),
    Scenario(
        "replicas 0: nothing is measured, nothing fails",
        [
            *FIRST,
            *GREEN_BAKING,
            Step(
                "stopped, then Prometheus says sick",
                5,
                both(edit(replicas=0), prom(99)),
                Expect(phase=Phase.STOPPED),
            ),
            Step("still stopped", 60, expect=Expect(phase=Phase.STOPPED, events=(), rollout_color=GREEN)),
        ],
        analysis(),
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_analysis_scenario(scenario: Scenario) -> None:
    bot = Bot(spec=make_spec(**scenario.rollout), world=World())
    for step in scenario.steps:
        bot.now += timedelta(seconds=step.seconds)
        if step.change is not None:
            step.change(bot)
        before = bot.status
        observed = bot.observed()
        result = bot.step()
        repeat = plan(bot.spec, result.status, observed, bot.now)
        assert repeat.status == result.status, f"{step.label}: repeated pass changed status"
        assert events(repeat) == [], f"{step.label}: repeated pass emitted {events(repeat)}"
        assert non_events(repeat) == non_events(result), f"{step.label}: repeated pass changed actions"
        check_expectation(bot, step, result.actions, [reason for _, reason in events(result)])
        check_invariants(before, bot, step.label)


def test_the_failure_event_carries_the_measured_value() -> None:
    bot = Bot(spec=make_spec(**analysis()), world=World())
    for step in [*FIRST, *GREEN_BAKING]:
        bot.now += timedelta(seconds=step.seconds)
        if step.change is not None:
            step.change(bot)
        bot.step()
    bot.prometheus["age"] = Reading(42.0)
    result = bot.step(10)
    failed = [t for t in result.transitions if t.reason == REASON_ANALYSIS_FAILED]
    assert len(failed) == 1 and "measured 42, not <= 5" in failed[0].message, result.transitions


def test_only_due_queries_are_asked_and_only_for_the_new_color() -> None:
    bot = Bot(spec=make_spec(**analysis(intervalSeconds=20)), world=World(), now=T0)
    assert due_queries(bot.spec, bot.status, bot.now) == ()
    bot.prometheus["age"] = Reading(1.0)
    bot.step()
    assert bot.queried == []  # Starting: not measured
    bot.world.set_ready(BLUE, bot.now)
    bot.step(5)
    bot.step()
    bot.step(10)
    bot.step(10)
    assert bot.queried == ["age", "age"]  # at 5 s, then 20 s later


def test_render_fills_every_placeholder() -> None:
    query = 'x{namespace="{{namespace}}",tb="{{name}}",color="{{color}}",revision="{{revision}}"}'
    assert render(query, namespace="prod", name="bot", color=GREEN, revision="abc123") == (
        'x{namespace="prod",tb="bot",color="green",revision="abc123"}'
    )
