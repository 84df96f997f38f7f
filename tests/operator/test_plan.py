"""The pure rollout plan, table-driven: every transition (docs/ARCHITECTURE.md) as a scenario of passes.

A scenario is a list of steps; each step advances the clock, changes the world (pods Ready, NotReady,
restarting; spec edits; annotations) and runs one plan pass whose actions are applied to the
in-memory children (``plan_world``). After every step the runner also checks the invariants: the
epoch never falls and moves by at most 1, ``activeColor`` only changes together with an epoch
increase, and the plan is idempotent (the same pass again yields the same status and no Events; a
pass over the children after the actions yields no actions at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import timedelta
from typing import Any

import pytest

from tests.operator.plan_world import Bot, World, events, make_spec, non_events
from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    ScaleDeployment,
)
from tradingbot_operator.bake import ReadyObservations
from tradingbot_operator.model import Color, Phase, RolloutResult, TradingBotStatus
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY, ServiceRole
from tradingbot_operator.observed import JobState, ServiceFacts
from tradingbot_operator.plan import (
    REASON_ABORTED,
    REASON_DEADLINE,
    REASON_MIGRATION_FAILED,
    REASON_PROMOTED,
    REASON_PROMOTED_FIRST,
    REASON_READINESS_LOST,
    REASON_RESTARTS,
    REASON_SUPERSEDED,
    REASON_WINDOW_CUT,
    plan,
)
from tradingbot_operator.revision import revision
from tradingbot_operator.stopping import REASON_STOPPED_IN_WINDOW

BLUE, GREEN = Color.BLUE, Color.GREEN
UNSET: Any = object()

Mutation = Callable[[Bot], None]


def describe(action: Action) -> tuple[Any, ...]:
    """A short comparable form of an action."""
    match action:
        case EnsureDeployment(color=color, replicas=replicas):
            return ("deploy", color.value, replicas)
        case ScaleDeployment(color=color, replicas=replicas):
            return ("scale", color.value, replicas)
        case EnsureService(role=role, color=color):
            return ("service", role.value, color.value if color else None)
        case EnsureConfigMap():
            return ("configmap",)
        case EnsureMigrationJob():
            return ("job",)
        case DeleteMigrationJob():
            return ("delete-job",)
    return (type(action).__name__,)


@dataclass(frozen=True)
class Expect:
    """What must hold after a step; unset fields are not checked."""

    phase: Phase | None = None
    active: Color | None = UNSET
    epoch: int | None = None
    rollout_color: Color | None = UNSET
    last: tuple[RolloutResult, str] | None = UNSET
    events: tuple[str, ...] | None = None  # exactly these Event reasons, in order
    actions: tuple[tuple[Any, ...], ...] = ()  # these (non-Event) actions, among others
    absent: tuple[tuple[Any, ...], ...] = ()  # none of these actions
    requeue: float | None = UNSET
    check: Callable[[Bot], None] | None = None


@dataclass(frozen=True)
class Step:
    """Advance ``seconds``, apply ``change``, run one pass, check ``expect``."""

    label: str
    seconds: float = 0
    change: Mutation | None = None
    expect: Expect = field(default_factory=Expect)


# --- world changes -----------------------------------------------------------------------------------


def ready(color: Color) -> Mutation:
    return lambda bot: bot.world.set_ready(color, bot.now)


def unready(color: Color) -> Mutation:
    return lambda bot: bot.world.lose_readiness(color)


def restart(color: Color, times: int = 1) -> Mutation:
    return lambda bot: bot.world.restart(color, times)


def edit(**changes: Any) -> Mutation:
    return lambda bot: bot.change_spec(**changes)


def image(tag: str) -> Mutation:
    return edit(image=f"registry.example/ploy-bot:{tag}")


def annotate(key: str, value: str | None) -> Mutation:
    def change(bot: Bot) -> None:
        if value is None:
            bot.annotations.pop(key, None)
        else:
            bot.annotations[key] = value

    return change


def jobs_become(state: JobState) -> Mutation:
    def change(bot: Bot) -> None:
        for revision_ in bot.world.jobs:
            bot.world.jobs[revision_] = state

    return change


def both(*changes: Mutation) -> Mutation:
    def change(bot: Bot) -> None:
        for one in changes:
            one(bot)

    return change


def ready_with_node_clock(color: Color, skew_seconds: float) -> Mutation:
    """Pods of ``color`` turn Ready; their node writes the time with a clock off by ``skew_seconds``."""
    return lambda bot: bot.world.set_ready(color, bot.now + timedelta(seconds=skew_seconds))


def restart_operator(bot: Bot) -> None:
    """A new operator process: its in-memory Ready observations are gone."""
    bot.ready_seen = ReadyObservations()


def condition_is(bot: Bot, type_: str, status: str, reason: str) -> None:
    found = {c.type: (c.status, c.reason) for c in bot.status.conditions}
    assert found[type_] == (status, reason), found


def stopped_in_place(bot: Bot) -> None:
    same_revision_as_before(bot)
    condition_is(bot, "Available", "False", "Stopped")


# --- building blocks ---------------------------------------------------------------------------------

FIRST_ROLLOUT = [
    Step(
        "first rollout starts on blue",
        expect=Expect(
            phase=Phase.PROGRESSING,
            active=None,
            epoch=0,
            rollout_color=BLUE,
            events=("RolloutStarted",),
            actions=(
                ("configmap",),
                ("deploy", "blue", 1),
                ("service", "active", None),
                ("service", "preview", "blue"),
            ),
            requeue=300,
        ),
    ),
    Step("blue Ready: bake starts", 5, ready(BLUE), Expect(phase=Phase.BAKING, events=(), requeue=30)),
    Step(
        "baked: first promotion, epoch 0 -> 1, no window",
        30,
        expect=Expect(
            phase=Phase.HEALTHY,
            active=BLUE,
            epoch=1,
            rollout_color=None,
            last=(RolloutResult.PROMOTED, REASON_PROMOTED_FIRST),
            events=("GatePassed", "Switched"),
            actions=(("service", "active", "blue"), ("service", "preview", None)),
            requeue=None,
        ),
    ),
]

GREEN_STARTS = Step(
    "new image: green starts as standby",
    10,
    image("1.1.0"),
    Expect(
        phase=Phase.PROGRESSING,
        active=BLUE,
        epoch=1,
        rollout_color=GREEN,
        events=("RolloutStarted",),
        # Same trading config: the ConfigMap of revision 1 is reused.
        actions=(("deploy", "green", 1), ("service", "preview", "green")),
        absent=(("service", "active", "green"), ("configmap",)),
    ),
)
GREEN_READY = Step("green Ready: bake", 5, ready(GREEN), Expect(phase=Phase.BAKING, active=BLUE, requeue=30))
GREEN_PROMOTED = Step(
    "baked: promote green, epoch 1 -> 2",
    30,
    expect=Expect(
        phase=Phase.VERIFYING,
        active=GREEN,
        epoch=2,
        rollout_color=GREEN,
        events=("GatePassed", "Switched"),
        actions=(("service", "active", "green"), ("service", "preview", "blue")),
        absent=(("scale", "blue", 0),),
        requeue=60,
    ),
)
TO_GREEN_ACTIVE = [*FIRST_ROLLOUT, GREEN_STARTS, GREEN_READY, GREEN_PROMOTED]


def degraded_before_promotion(reason: str, result: RolloutResult = RolloutResult.ROLLED_BACK) -> Expect:
    """Failure before promotion: green scaled to 0, blue stays active, epoch unchanged."""
    return Expect(
        phase=Phase.DEGRADED,
        active=BLUE,
        epoch=1,
        rollout_color=None,
        last=(result, reason),
        actions=(("scale", "green", 0), ("service", "preview", None)),
        absent=(("service", "active", "green"),),
    )


def rolled_back(reason: str, result: RolloutResult = RolloutResult.ROLLED_BACK) -> Expect:
    """Post-promotion rollback: blue active again, epoch 2 -> 3, selector back, green to 0."""
    return Expect(
        phase=Phase.DEGRADED,
        active=BLUE,
        epoch=3,
        rollout_color=None,
        last=(result, reason),
        events=("RolledBack",),
        actions=(("service", "active", "blue"), ("service", "preview", None), ("scale", "green", 0)),
    )


def handled(name: str, value: str | None) -> Callable[[Bot], None]:
    def check(bot: Bot) -> None:
        assert getattr(bot.status.handled_actions, name) == value

    return check


def same_revision_as_before(bot: Bot) -> None:
    assert bot.status.active_revision == revision(bot.spec)


def green_runs_latest(bot: Bot) -> None:
    assert bot.world.deployments[GREEN].revision == revision(bot.spec)


MIGRATION = {"migration": {"enabled": True, "args": ["migrate"]}}
MIGRATED_FIRST_ROLLOUT = [
    Step(
        "start: migration first",
        expect=Expect(
            phase=Phase.MIGRATING, actions=(("configmap",), ("job",)), absent=(("deploy", "blue", 1),)
        ),
    ),
    Step("Job still running", 10, expect=Expect(phase=Phase.MIGRATING, events=())),
    Step(
        "Job succeeded: blue starts",
        10,
        jobs_become(JobState.SUCCEEDED),
        Expect(phase=Phase.PROGRESSING, events=("MigrationSucceeded",), actions=(("deploy", "blue", 1),)),
    ),
    Step("Ready", 5, ready(BLUE), Expect(phase=Phase.BAKING)),
    Step("promoted", 30, expect=Expect(active=BLUE, epoch=1)),
]


@dataclass(frozen=True)
class Scenario:
    """A named list of steps, on a spec with ``rollout`` overrides."""

    name: str
    steps: list[Step]
    rollout: dict[str, Any] = field(default_factory=dict)


SCENARIOS = [
    Scenario("first rollout", FIRST_ROLLOUT),
    Scenario(
        "promotion, post-promotion window, scale-down of the old color",
        [
            *TO_GREEN_ACTIVE,
            Step(
                "window passes: green is stable",
                60,
                expect=Expect(
                    phase=Phase.HEALTHY,
                    active=GREEN,
                    epoch=2,
                    rollout_color=None,
                    last=(RolloutResult.PROMOTED, REASON_PROMOTED),
                    events=("Promoted",),
                    absent=(("scale", "blue", 0),),
                    requeue=240,
                ),
            ),
            Step(
                "scale-down delay passes: blue to 0, Deployment kept",
                240,
                expect=Expect(
                    phase=Phase.HEALTHY,
                    active=GREEN,
                    epoch=2,
                    events=("ScaledDown",),
                    actions=(("scale", "blue", 0), ("service", "preview", None)),
                    requeue=None,
                    check=lambda bot: (
                        None if BLUE in bot.world.deployments else pytest.fail("blue Deployment deleted")
                    ),
                ),
            ),
        ],
    ),
    Scenario(
        "bake failure: readiness lost during bake",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "green NotReady mid-bake",
                10,
                unready(GREEN),
                degraded_before_promotion(REASON_READINESS_LOST),
            ),
            Step("the failed revision is not retried", 600, expect=Expect(rollout_color=None, events=())),
        ],
    ),
    Scenario(
        "a readiness flap between two passes restarts the bake",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "NotReady and Ready again, unseen",
                20,
                both(unready(GREEN), ready(GREEN)),
                Expect(phase=Phase.BAKING, active=BLUE, requeue=30),
            ),
            Step(
                "the first bake end passes without promotion",
                10,
                expect=Expect(phase=Phase.BAKING, requeue=20),
            ),
            Step("the restarted bake ends", 20, expect=Expect(phase=Phase.VERIFYING, active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "crash loop: rolled back at once, before the deadline",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step(
                "green restarts (not Ready yet)",
                10,
                restart(GREEN),
                degraded_before_promotion(REASON_RESTARTS),
            ),
        ],
    ),
    Scenario(
        "crash loop with maxRestarts 2",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step("two restarts are tolerated", 10, restart(GREEN, 2), Expect(phase=Phase.PROGRESSING)),
            Step("the third is not", 10, restart(GREEN), degraded_before_promotion(REASON_RESTARTS)),
        ],
        rollout={"maxRestarts": 2},
    ),
    Scenario(
        "progress deadline",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step("one second before", 299, expect=Expect(phase=Phase.PROGRESSING, requeue=1)),
            Step("deadline", 1, expect=degraded_before_promotion(REASON_DEADLINE)),
        ],
    ),
    Scenario(
        "deadline counts until the gate, Ready late is too late",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step("Ready at 290s", 290, ready(GREEN), Expect(phase=Phase.BAKING, requeue=10)),
            Step("deadline while baking", 10, expect=degraded_before_promotion(REASON_DEADLINE)),
        ],
    ),
    Scenario(
        "post-promotion rollback on readiness loss",
        [*TO_GREEN_ACTIVE, Step("green NotReady", 20, unready(GREEN), rolled_back(REASON_READINESS_LOST))],
    ),
    Scenario(
        "post-promotion rollback on restarts",
        [*TO_GREEN_ACTIVE, Step("green restarts", 20, restart(GREEN), rolled_back(REASON_RESTARTS))],
    ),
    Scenario(
        "manual promotion (autoPromote false), one promotion per annotation value",
        [
            Step("start", expect=Expect(phase=Phase.PROGRESSING)),
            Step("Ready", 5, ready(BLUE), Expect(phase=Phase.BAKING)),
            Step("baked, waits", 30, expect=Expect(phase=Phase.AWAITING_PROMOTION, active=None, epoch=0)),
            Step(
                "still waits, no deadline", 600, expect=Expect(phase=Phase.AWAITING_PROMOTION, requeue=None)
            ),
            Step(
                "promote",
                0,
                annotate(ANNOTATION_PROMOTE, "1"),
                Expect(
                    phase=Phase.HEALTHY,
                    active=BLUE,
                    epoch=1,
                    events=("Switched",),
                    check=handled("promote", "1"),
                ),
            ),
            Step("new image", 0, image("1.1.0"), Expect(rollout_color=GREEN)),
            Step("green Ready", 5, ready(GREEN), Expect(phase=Phase.BAKING)),
            Step("old annotation value does not promote", 30, expect=Expect(phase=Phase.AWAITING_PROMOTION)),
            Step(
                "new value promotes",
                0,
                annotate(ANNOTATION_PROMOTE, "2"),
                Expect(active=GREEN, epoch=2, events=("Switched",), check=handled("promote", "2")),
            ),
        ],
        rollout={"autoPromote": False},
    ),
    Scenario(
        "promote before Ready waits for Ready, then skips the bake",
        [
            Step("start", expect=Expect(phase=Phase.PROGRESSING)),
            Step(
                "promote requested",
                1,
                annotate(ANNOTATION_PROMOTE, "now"),
                Expect(phase=Phase.PROGRESSING, active=None, events=(), check=handled("promote", None)),
            ),
            Step(
                "Ready: promoted at once",
                5,
                ready(BLUE),
                Expect(active=BLUE, epoch=1, events=("Switched",), check=handled("promote", "now")),
            ),
        ],
        rollout={"autoPromote": False},
    ),
    Scenario(
        "promote with nothing to promote is acknowledged, not kept for later",
        [
            Step("start", expect=Expect(phase=Phase.PROGRESSING)),
            Step("Ready", 5, ready(BLUE), Expect(phase=Phase.BAKING)),
            Step("baked", 30, expect=Expect(phase=Phase.AWAITING_PROMOTION)),
            Step("promote", 1, annotate(ANNOTATION_PROMOTE, "1"), Expect(active=BLUE, epoch=1)),
            Step(
                "promote again, nothing waits",
                1,
                annotate(ANNOTATION_PROMOTE, "2"),
                Expect(active=BLUE, epoch=1, events=("NothingToPromote",), check=handled("promote", "2")),
            ),
            Step("new image", 1, image("1.1.0"), Expect(rollout_color=GREEN, events=("RolloutStarted",))),
            Step("green Ready", 5, ready(GREEN), Expect(phase=Phase.BAKING)),
            Step(
                "baked: the acknowledged request does not promote it",
                30,
                expect=Expect(phase=Phase.AWAITING_PROMOTION, active=BLUE, epoch=1),
            ),
        ],
        rollout={"autoPromote": False},
    ),
    Scenario(
        "abort before promotion, then retry",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "abort",
                1,
                annotate(ANNOTATION_ABORT, "stop"),
                degraded_before_promotion(REASON_ABORTED, RolloutResult.ABORTED),
            ),
            Step("not retried by itself", 600, expect=Expect(rollout_color=None, phase=Phase.DEGRADED)),
            Step(
                "retry",
                1,
                annotate(ANNOTATION_RETRY, "1"),
                Expect(
                    phase=Phase.PROGRESSING,
                    rollout_color=GREEN,
                    events=("RetryRequested", "RolloutStarted"),
                    actions=(("deploy", "green", 1),),
                    check=handled("retry", "1"),
                ),
            ),
            Step("green Ready", 5, ready(GREEN), Expect(phase=Phase.BAKING)),
            Step("promoted", 30, expect=Expect(active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "abort during the post-promotion window rolls back",
        [
            *TO_GREEN_ACTIVE,
            Step(
                "abort",
                5,
                annotate(ANNOTATION_ABORT, "a"),
                rolled_back(REASON_ABORTED, RolloutResult.ABORTED),
            ),
        ],
    ),
    Scenario(
        "retry with nothing failed is acknowledged",
        [
            *FIRST_ROLLOUT,
            Step(
                "retry",
                1,
                annotate(ANNOTATION_RETRY, "r"),
                Expect(events=("NothingToRetry",), check=handled("retry", "r")),
            ),
            Step(
                "annotation removed: handled value forgotten",
                1,
                annotate(ANNOTATION_RETRY, None),
                Expect(check=handled("retry", None)),
            ),
        ],
    ),
    Scenario(
        "a newer revision supersedes the rollout in progress",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "image 1.2.0 mid-bake",
                5,
                image("1.2.0"),
                Expect(
                    phase=Phase.PROGRESSING,
                    active=BLUE,
                    epoch=1,
                    rollout_color=GREEN,
                    last=(RolloutResult.SUPERSEDED, REASON_SUPERSEDED),
                    events=("Superseded", "RolloutStarted"),
                    actions=(("deploy", "green", 1),),
                    check=green_runs_latest,
                ),
            ),
            Step("new green Ready", 5, ready(GREEN), Expect(phase=Phase.BAKING)),
            Step("promoted", 30, expect=Expect(active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "reverting the spec mid-rollout cancels it",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step(
                "back to 1.0.0",
                5,
                image("1.0.0"),
                Expect(
                    phase=Phase.HEALTHY,
                    active=BLUE,
                    epoch=1,
                    rollout_color=None,
                    last=(RolloutResult.SUPERSEDED, REASON_SUPERSEDED),
                    actions=(("scale", "green", 0),),
                ),
            ),
        ],
    ),
    Scenario(
        "a newer revision during the post-promotion window ends it and rolls out on blue",
        [
            *TO_GREEN_ACTIVE,
            Step(
                "image 1.2.0",
                5,
                image("1.2.0"),
                Expect(
                    phase=Phase.PROGRESSING,
                    active=GREEN,
                    epoch=2,
                    rollout_color=BLUE,
                    last=(RolloutResult.PROMOTED, REASON_WINDOW_CUT),
                    events=("Promoted", "RolloutStarted"),
                    # blue was the warm standby: the preview Service already routes there.
                    actions=(("deploy", "blue", 1),),
                ),
            ),
        ],
    ),
    Scenario(
        "pause stops a new rollout; resume starts it",
        [
            *FIRST_ROLLOUT,
            Step("pause", 1, edit(paused=True), Expect(phase=Phase.PAUSED, events=("Paused",))),
            Step(
                "new image while paused",
                1,
                image("1.1.0"),
                Expect(phase=Phase.PAUSED, rollout_color=None, events=(), absent=(("deploy", "green", 1),)),
            ),
            Step(
                "resume",
                1,
                edit(paused=False),
                Expect(phase=Phase.PROGRESSING, rollout_color=GREEN, events=("Resumed", "RolloutStarted")),
            ),
        ],
    ),
    Scenario(
        "pause mid-bake: no promotion, no deadline; resume promotes",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step("pause", 1, edit(paused=True), Expect(phase=Phase.PAUSED, requeue=None)),
            Step(
                "far past bake and deadline",
                900,
                expect=Expect(phase=Phase.PAUSED, active=BLUE, epoch=1, events=()),
            ),
            Step(
                "resume",
                1,
                edit(paused=False),
                Expect(
                    phase=Phase.VERIFYING, active=GREEN, epoch=2, events=("Resumed", "GatePassed", "Switched")
                ),
            ),
        ],
    ),
    Scenario(
        "pause does not stop a safety rollback",
        [
            *TO_GREEN_ACTIVE,
            Step("pause", 1, edit(paused=True), Expect(phase=Phase.PAUSED)),
            Step(
                "green NotReady",
                5,
                unready(GREEN),
                Expect(active=BLUE, epoch=3, last=(RolloutResult.ROLLED_BACK, REASON_READINESS_LOST)),
            ),
        ],
    ),
    Scenario(
        "replicas 0 stops the bot in place: activeColor kept, no new revision",
        [
            *FIRST_ROLLOUT,
            Step(
                "replicas 0",
                1,
                edit(replicas=0),
                Expect(
                    phase=Phase.STOPPED,
                    active=BLUE,
                    epoch=1,
                    rollout_color=None,
                    events=("Stopped",),
                    actions=(("deploy", "blue", 0),),
                    check=stopped_in_place,
                ),
            ),
            Step(
                "replicas 1",
                1,
                edit(replicas=1),
                Expect(
                    phase=Phase.DEGRADED,
                    active=BLUE,
                    epoch=1,
                    rollout_color=None,
                    events=("Started",),
                    actions=(("deploy", "blue", 1),),
                    check=same_revision_as_before,
                ),
            ),
            Step("blue Ready again", 3, ready(BLUE), Expect(phase=Phase.HEALTHY, active=BLUE, epoch=1)),
        ],
    ),
    Scenario(
        "replicas 0 mid-bake holds the rollout: no promotion without a Ready pod",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "replicas 0",
                5,
                edit(replicas=0),
                Expect(
                    phase=Phase.STOPPED,
                    rollout_color=GREEN,
                    events=("Stopped",),
                    actions=(("scale", "blue", 0), ("deploy", "green", 0)),
                    requeue=None,
                ),
            ),
            Step(
                "the bake and the deadline pass while stopped: nothing is promoted",
                400,
                expect=Expect(phase=Phase.STOPPED, active=BLUE, epoch=1, rollout_color=GREEN, events=()),
            ),
            Step(
                "a promote request waits for a Ready pod",
                1,
                annotate(ANNOTATION_PROMOTE, "now"),
                Expect(phase=Phase.STOPPED, active=BLUE, epoch=1, events=(), check=handled("promote", None)),
            ),
            Step(
                "replicas 1: both colors start, the stopped time extends the deadline",
                1,
                both(annotate(ANNOTATION_PROMOTE, None), edit(replicas=1)),
                Expect(
                    phase=Phase.PROGRESSING,
                    active=BLUE,
                    epoch=1,
                    rollout_color=GREEN,
                    events=("Started",),
                    actions=(("scale", "blue", 1), ("deploy", "green", 1)),
                ),
            ),
            Step(
                "green Ready: the bake starts over", 2, ready(GREEN), Expect(phase=Phase.BAKING, requeue=30)
            ),
            Step("baked: promoted", 30, expect=Expect(phase=Phase.VERIFYING, active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "a crash-looping revision under replicas 0 is never promoted",
        [
            *FIRST_ROLLOUT,
            Step("replicas 0", 1, edit(replicas=0), Expect(phase=Phase.STOPPED)),
            Step(
                "new image while stopped: no rollout starts",
                1,
                image("1.1.0"),
                Expect(phase=Phase.STOPPED, rollout_color=None, events=(), absent=(("deploy", "green", 0),)),
            ),
            Step(
                "long after any bake or deadline",
                600,
                expect=Expect(phase=Phase.STOPPED, active=BLUE, epoch=1, rollout_color=None, events=()),
            ),
            Step(
                "replicas 1: the rollout starts now",
                1,
                edit(replicas=1),
                Expect(phase=Phase.PROGRESSING, rollout_color=GREEN, events=("Started", "RolloutStarted")),
            ),
            Step("green crash-loops", 5, restart(GREEN), degraded_before_promotion(REASON_RESTARTS)),
        ],
    ),
    Scenario(
        "replicas 0 inside the post-promotion window ends the window; starting again is no rollback",
        [
            *TO_GREEN_ACTIVE,
            Step(
                "replicas 0",
                5,
                edit(replicas=0),
                Expect(
                    phase=Phase.STOPPED,
                    active=GREEN,
                    epoch=2,
                    rollout_color=None,
                    last=(RolloutResult.PROMOTED, REASON_STOPPED_IN_WINDOW),
                    events=("Stopped", "Promoted"),
                ),
            ),
            Step(
                "replicas 1: green starts, not Ready yet",
                5,
                edit(replicas=1),
                Expect(phase=Phase.DEGRADED, active=GREEN, epoch=2, events=("Started",)),
            ),
            Step("green Ready", 3, ready(GREEN), Expect(phase=Phase.HEALTHY, active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "a lagging node clock does not shorten the bake",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            Step(
                "green Ready, its node clock 120 s behind",
                5,
                ready_with_node_clock(GREEN, -120),
                Expect(phase=Phase.BAKING, active=BLUE, epoch=1, events=(), requeue=30),
            ),
            Step("29 s: still baking", 29, expect=Expect(phase=Phase.BAKING, active=BLUE, requeue=1)),
            Step("30 s: promoted", 1, expect=Expect(phase=Phase.VERIFYING, active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "an operator restart mid-bake restarts the bake from its first observation",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step("20 s into the bake", 20, expect=Expect(phase=Phase.BAKING, requeue=10)),
            Step(
                "a new operator process: no memory of the observation",
                5,
                restart_operator,
                Expect(phase=Phase.BAKING, active=BLUE, requeue=30),
            ),
            Step("the first bake end passes", 10, expect=Expect(phase=Phase.BAKING, active=BLUE, requeue=20)),
            Step("30 s after the restart: promoted", 20, expect=Expect(active=GREEN, epoch=2)),
        ],
    ),
    Scenario(
        "config-only change is a new revision",
        [
            *FIRST_ROLLOUT,
            Step(
                "minEdge 0.02",
                1,
                edit(**{"trading.strategy.minEdge": "0.02"}),
                Expect(
                    phase=Phase.PROGRESSING,
                    rollout_color=GREEN,
                    events=("RolloutStarted",),
                    actions=(("configmap",), ("deploy", "green", 1)),
                ),
            ),
        ],
    ),
    Scenario(
        "rollout settings are not part of the revision",
        [
            *FIRST_ROLLOUT,
            Step(
                "bakeSeconds 10",
                1,
                edit(**{"rollout.bakeSeconds": 10}),
                Expect(rollout_color=None, events=()),
            ),
        ],
    ),
    Scenario(
        "first rollout fails: nothing active; a spec change retries it",
        [
            Step("start", expect=Expect(rollout_color=BLUE)),
            Step(
                "deadline",
                300,
                expect=Expect(
                    phase=Phase.DEGRADED,
                    active=None,
                    epoch=0,
                    last=(RolloutResult.ROLLED_BACK, REASON_DEADLINE),
                    actions=(("scale", "blue", 0),),
                ),
            ),
            Step(
                "progressDeadlineSeconds raised",
                10,
                edit(**{"rollout.progressDeadlineSeconds": 600}),
                Expect(phase=Phase.PROGRESSING, rollout_color=BLUE, events=("RolloutStarted",)),
            ),
        ],
    ),
    Scenario("migration Job runs before the new color starts", MIGRATED_FIRST_ROLLOUT, rollout=MIGRATION),
    Scenario(
        "migration failure: rollback, blue untouched",
        [
            *MIGRATED_FIRST_ROLLOUT,
            Step(
                "new image: migration",
                1,
                image("1.1.0"),
                Expect(phase=Phase.MIGRATING, actions=(("job",),), absent=(("deploy", "green", 1),)),
            ),
            Step(
                "Job failed",
                20,
                jobs_become(JobState.FAILED),
                Expect(
                    phase=Phase.DEGRADED,
                    active=BLUE,
                    epoch=1,
                    events=(REASON_MIGRATION_FAILED,),
                    last=(RolloutResult.ROLLED_BACK, REASON_MIGRATION_FAILED),
                    # The first revision's finished Job goes; the failed one stays for its logs.
                    actions=(("delete-job",),),
                    absent=(("deploy", "green", 1),),
                    check=lambda bot: (
                        None
                        if list(bot.world.jobs) == [revision(bot.spec)]
                        else pytest.fail(str(bot.world.jobs))
                    ),
                ),
            ),
        ],
        rollout=MIGRATION,
    ),
    Scenario(
        "post-promotion window of 0 seconds",
        [
            *FIRST_ROLLOUT,
            GREEN_STARTS,
            GREEN_READY,
            Step(
                "promoted and stable in one pass",
                30,
                expect=Expect(
                    phase=Phase.HEALTHY,
                    active=GREEN,
                    epoch=2,
                    rollout_color=None,
                    last=(RolloutResult.PROMOTED, REASON_PROMOTED),
                    events=("GatePassed", "Switched", "Promoted"),
                ),
            ),
        ],
        rollout={"postPromotionSeconds": 0},
    ),
    Scenario(
        "bake of 0 seconds promotes as soon as Ready",
        [
            Step("start"),
            Step("Ready", 3, ready(BLUE), Expect(active=BLUE, epoch=1, events=("GatePassed", "Switched"))),
        ],
        rollout={"bakeSeconds": 0},
    ),
]


def check_expectation(bot: Bot, step: Step, result_actions: tuple[Action, ...], events_: list[str]) -> None:
    e = step.expect
    status = bot.status
    where = f"step {step.label!r}"
    if e.phase is not None:
        assert status.phase == e.phase, f"{where}: phase {status.phase}, message {status.message}"
    if e.active is not UNSET:
        assert status.active_color == e.active, where
    if e.epoch is not None:
        assert status.epoch == e.epoch, where
    if e.rollout_color is not UNSET:
        assert (status.rollout.color if status.rollout else None) == e.rollout_color, where
    if e.last is not UNSET:
        last = status.last_rollout
        assert ((last.result, last.reason) if last else None) == e.last, f"{where}: {last}"
    if e.events is not None:
        assert events_ == list(e.events), where
    described = [describe(a) for a in result_actions]
    for wanted in e.actions:
        assert wanted in described, f"{where}: {wanted} not in {described}"
    for unwanted in e.absent:
        assert unwanted not in described, f"{where}: {unwanted} in {described}"
    if e.requeue is not UNSET:
        assert bot.history[-1].requeue_after == e.requeue, where
    if e.check is not None:
        e.check(bot)


def check_invariants(before: TradingBotStatus, bot: Bot, label: str) -> None:
    after = bot.status
    assert after.epoch in (before.epoch, before.epoch + 1), f"{label}: epoch {before.epoch} -> {after.epoch}"
    if after.active_color != before.active_color:
        assert after.epoch == before.epoch + 1, f"{label}: activeColor changed without an epoch increase"
    # Idempotent over its own output: the children now match, so nothing is left to do (a measurement
    # due now is new input, so none is taken here).
    again = plan(bot.spec, after, bot.observed(measure=False), bot.now)
    assert again.status == after, f"{label}: status not a fixed point"
    assert again.actions == (), f"{label}: actions left after applying: {again.actions}"
    # The active Service routes to exactly the status's active color (never both, never another).
    assert bot.world.services[ServiceRole.ACTIVE] == after.active_color, label


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    bot = Bot(spec=make_spec(**scenario.rollout), world=World())
    for step in scenario.steps:
        bot.now += timedelta(seconds=step.seconds)
        if step.change is not None:
            step.change(bot)
        before = bot.status
        observed = bot.observed()
        result = bot.step()
        # Idempotent over its input: the same pass again gives the same status and no new Events.
        repeat = plan(bot.spec, result.status, observed, bot.now)
        assert repeat.status == result.status, f"{step.label}: repeated pass changed status"
        assert events(repeat) == [], f"{step.label}: repeated pass emitted {events(repeat)}"
        assert non_events(repeat) == non_events(result), f"{step.label}: repeated pass changed actions"
        check_expectation(bot, step, result.actions, [reason for _, reason in events(result)])
        check_invariants(before, bot, step.label)


def test_deletion_does_nothing() -> None:
    bot = Bot()
    for step in FIRST_ROLLOUT:
        bot.now += timedelta(seconds=step.seconds)
        if step.change:
            step.change(bot)
        bot.step()
    bot.change_spec(image="registry.example/ploy-bot:2.0.0")
    observed = bot.world.observe(bot.generation, deleting=True)
    result = plan(bot.spec, bot.status, observed, bot.now)
    assert result.actions == ()
    assert result.status is bot.status
    assert result.requeue_after is None


def test_conditions_keep_transition_time_while_status_unchanged() -> None:
    bot = Bot()
    bot.step()
    first = {c.type: c.last_transition_time for c in bot.status.conditions}
    bot.now += timedelta(seconds=5)
    bot.world.set_ready(BLUE, bot.now)
    bot.step()  # Baking: Progressing stays True (reason changes), Available stays False
    later = {c.type: c for c in bot.status.conditions}
    assert later["Progressing"].reason == "Baking"
    assert later["Progressing"].last_transition_time == first["Progressing"]
    assert later["Available"].last_transition_time == first["Available"]
    bot.now += timedelta(seconds=30)
    bot.step()  # promoted: Available turns True, its time moves
    promoted = {c.type: c for c in bot.status.conditions}
    assert promoted["Available"].status == "True"
    assert promoted["Available"].last_transition_time == bot.now
    assert promoted["Paused"].last_transition_time == first["Paused"]
    assert [c.type for c in bot.status.conditions] == ["Available", "Progressing", "Degraded", "Paused"]


def test_status_round_trips_through_the_wire_format() -> None:
    bot = Bot()
    for step in TO_GREEN_ACTIVE:
        bot.now += timedelta(seconds=step.seconds)
        if step.change:
            step.change(bot)
        bot.step()
    wire = bot.status.to_wire()
    assert TradingBotStatus.model_validate(wire) == bot.status
    assert wire["activeColor"] == "green"
    assert wire["epoch"] == 2
    assert wire["rollout"]["promotedAt"].endswith("Z")
    # A restarted operator resumes from the wire status alone: the same pass gives the same result.
    resumed = plan(bot.spec, TradingBotStatus.model_validate(wire), bot.observed(), bot.now)
    assert resumed.status == bot.status
    assert resumed.actions == ()


def test_now_must_be_timezone_aware() -> None:
    bot = Bot()
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(bot.spec, bot.status, bot.observed(), bot.now.replace(tzinfo=None))


def _run(bot: Bot, steps: list[Step]) -> None:
    for step in steps:
        bot.now += timedelta(seconds=step.seconds)
        if step.change is not None:
            step.change(bot)
        bot.step()


@pytest.mark.parametrize("role", list(ServiceRole))
def test_a_hand_edited_service_selector_is_written_again(role: ServiceRole) -> None:
    bot = Bot()
    _run(bot, [*FIRST_ROLLOUT, GREEN_STARTS])
    observed = bot.observed()
    color = observed.services[role].color
    services = {**observed.services, role: ServiceFacts(color=color, drifted=True)}
    result = plan(bot.spec, bot.status, dc_replace(observed, services=services), bot.now)
    assert [describe(a) for a in non_events(result)] == [
        ("service", role.value, color.value if color else None)
    ]
    assert result.status == bot.status and events(result) == []


def test_a_refused_child_write_shows_as_degraded_with_the_api_message() -> None:
    bot = Bot()
    _run(bot, [*FIRST_ROLLOUT, GREEN_STARTS])
    message = 'Deployment.apps "bot-green" is invalid: spec.template.spec.affinity: Unsupported value'
    refused = dc_replace(bot.observed(), child_rejected=message)
    result = plan(bot.spec, bot.status, refused, bot.now)
    degraded = next(c for c in result.status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason, degraded.message) == ("True", "ChildRejected", message)
    assert result.status.message is not None and message in result.status.message
    assert result.status.phase == Phase.PROGRESSING and result.status.epoch == 1
    # Once the writes succeed again (no rejection remembered), the condition clears.
    cleared = plan(bot.spec, result.status, bot.observed(), bot.now)
    assert next(c for c in cleared.status.conditions if c.type == "Degraded").reason == "AsExpected"
