"""The order of the writes of the key transitions, pinned exactly.

The status is written first (the reconciler, before any action); in the plan, Events come first,
the Service selectors follow a promotion or rollback only in the pass whose status commits it, and
scale-downs come last. A change of order here is a change of the safety argument in
docs/ARCHITECTURE.md ("The operator loop"), not a refactoring.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry

from tests.operator.plan_world import T0, Bot, World, spec_dict
from tests.operator.test_plan import describe
from tradingbot_operator.actions import Action, EmitEvent
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.model import Color, TradingBotStatus
from tradingbot_operator.names import ANNOTATION_PROMOTE
from tradingbot_operator.plan import Plan
from tradingbot_operator.reconciler import Reconciler
from tradingbot_operator.snapshot import Snapshot

BLUE, GREEN = Color.BLUE, Color.GREEN


def writes(result: Plan) -> list[tuple[Any, ...]]:
    return [("event", a.reason) if isinstance(a, EmitEvent) else describe(a) for a in result.actions]


def promoted_bot() -> Bot:
    """Blue active (epoch 1) after the first rollout; green starts revision 2.0.0 and is Ready."""
    bot = Bot(world=World(auto_ready=True))
    bot.settle()
    bot.step(30)
    bot.settle()
    bot.change_spec(image="registry.example/ploy-bot:2.0.0")
    bot.step()
    bot.step()
    return bot


def test_first_rollout() -> None:
    bot = Bot(world=World(auto_ready=True))
    assert writes(bot.step()) == [
        ("event", "RolloutStarted"),
        ("configmap",),
        ("deploy", "blue", 1),
        ("service", "active", None),
        ("service", "preview", "blue"),
    ]
    bot.step()
    promotion = bot.step(30)
    assert promotion.status.active_color is BLUE and promotion.status.epoch == 1
    assert writes(promotion) == [
        ("event", "GatePassed"),
        ("event", "Switched"),
        ("service", "active", "blue"),
        ("service", "preview", None),
    ]


def test_promotion_moves_the_selectors_in_the_pass_that_commits_it() -> None:
    bot = promoted_bot()
    assert bot.status.active_color is BLUE
    promotion = bot.step(30)
    assert (promotion.status.active_color, promotion.status.epoch) == (GREEN, 2)
    assert writes(promotion) == [
        ("event", "GatePassed"),
        ("event", "Switched"),
        ("service", "active", "green"),
        ("service", "preview", "blue"),
    ]


def test_rollback_moves_the_selector_back_then_scales_the_failed_color_down() -> None:
    bot = promoted_bot()
    bot.step(30)
    bot.world.lose_readiness(GREEN)
    rollback = bot.step(5)
    assert (rollback.status.active_color, rollback.status.epoch) == (BLUE, 3)
    assert writes(rollback) == [
        ("event", "RolledBack"),
        ("service", "active", "blue"),
        ("service", "preview", None),
        ("scale", "green", 0),
    ]


def test_window_end_then_scale_down_last() -> None:
    bot = promoted_bot()
    bot.step(30)
    assert writes(bot.step(60)) == [("event", "Promoted")]
    assert writes(bot.step(240)) == [
        ("event", "ScaledDown"),
        ("service", "preview", None),
        ("scale", "blue", 0),
    ]


class RecordingKube:
    """Stands in for :class:`~tradingbot_operator.kube.Kube`: one TradingBot, calls recorded in order."""

    def __init__(self, body: dict[str, Any], snapshot: Snapshot) -> None:
        self.body = body
        self.snapshot = snapshot
        self.calls: list[tuple[Any, ...]] = []

    async def get_tradingbot(self, namespace: str, name: str) -> dict[str, Any]:
        return self.body

    async def observe(self, body: dict[str, Any]) -> Snapshot:
        return self.snapshot

    async def write_status(self, body: dict[str, Any], status: TradingBotStatus) -> dict[str, Any]:
        self.calls.append(("status", status.active_color, status.epoch))
        return body

    async def apply(self, body: dict[str, Any], action: Action, listed: object = None) -> None:
        self.calls.append(("event", action.reason) if isinstance(action, EmitEvent) else describe(action))


async def test_the_reconciler_writes_the_status_before_any_action() -> None:
    """A promote request on a Ready green: status (green, epoch 2) first, then the Services; the Events
    go out alongside them (best effort, they must not hold back the switch)."""
    bot = promoted_bot()
    bot.annotations[ANNOTATION_PROMOTE] = "1"
    observed = bot.world.observe(bot.generation, bot.annotations)
    body = {
        "metadata": {
            "name": "bot",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": bot.generation,
            "resourceVersion": "7",
            "annotations": dict(bot.annotations),
        },
        "spec": {**spec_dict(), "image": "registry.example/ploy-bot:2.0.0"},
        "status": bot.status.to_wire(),
    }
    kube = RecordingKube(body, Snapshot(observed=observed, failed_at=MappingProxyType({})))
    reconciler = Reconciler(
        kube,  # type: ignore[arg-type]
        OperatorMetrics(CollectorRegistry()),
        clock=lambda: bot.now + timedelta(seconds=1),
    )
    result = await reconciler.reconcile("ns", "bot")
    assert result.status_written
    assert kube.calls == [
        ("status", GREEN, 2),
        ("service", "active", "green"),
        ("service", "preview", "blue"),
        ("event", "Switched"),
    ]
    assert bot.now > T0
    await reconciler.close()
