"""The calculated phase and a color's health, table-driven (pure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.operator.plan_world import T0, spec_dict
from tradingbot_operator.health import ColorHealth, color_health
from tradingbot_operator.model import Color, Phase, RolloutProgress, TradingBotSpec, TradingBotStatus
from tradingbot_operator.observed import DeploymentFacts, Observed, PodFacts
from tradingbot_operator.plan.phase import compute_phase

NONE: dict[str, Any] = {
    "paused": False,
    "stopped": False,
    "rolling_out": False,
    "migrating": False,
    "ready_since": None,
    "baked": False,
    "promoted": False,
    "failed": False,
    "has_active": False,
    "active_ready": False,
}

PHASES = [
    ({}, Phase.PENDING),
    ({"has_active": True, "active_ready": True}, Phase.HEALTHY),
    ({"has_active": True}, Phase.DEGRADED),
    ({"failed": True}, Phase.DEGRADED),
    ({"failed": True, "has_active": True, "active_ready": True}, Phase.DEGRADED),
    ({"rolling_out": True}, Phase.PROGRESSING),
    ({"rolling_out": True, "migrating": True}, Phase.MIGRATING),
    ({"rolling_out": True, "ready_since": T0}, Phase.BAKING),
    ({"rolling_out": True, "ready_since": T0, "baked": True}, Phase.AWAITING_PROMOTION),
    ({"rolling_out": True, "ready_since": T0, "baked": True, "promoted": True}, Phase.VERIFYING),
    ({"rolling_out": True, "has_active": True}, Phase.PROGRESSING),
    ({"paused": True, "rolling_out": True}, Phase.PAUSED),
    ({"paused": True, "failed": True}, Phase.PAUSED),
    ({"stopped": True}, Phase.STOPPED),
    ({"stopped": True, "has_active": True, "active_ready": True}, Phase.STOPPED),
    ({"stopped": True, "paused": True, "rolling_out": True}, Phase.STOPPED),
    ({"stopped": True, "failed": True}, Phase.STOPPED),
]


@pytest.mark.parametrize(
    ("facts", "phase"), PHASES, ids=[p.value + str(i) for i, (_, p) in enumerate(PHASES)]
)
def test_compute_phase(facts: dict[str, Any], phase: Phase) -> None:
    """Each row's facts become a spec, a status and the active color's health."""
    f = {**NONE, **facts}
    raw = spec_dict(migration={"enabled": f["migrating"]})
    spec = TradingBotSpec.model_validate({**raw, "paused": f["paused"], "replicas": 0 if f["stopped"] else 1})
    rollout = RolloutProgress(
        revision="r2",
        color=Color.GREEN,
        generation=1,
        started_at=T0,
        ready_since=f["ready_since"],
        baked_at=T0 if f["baked"] else None,
        promoted_at=T0 if f["promoted"] else None,
    )
    status = TradingBotStatus(
        active_color=Color.BLUE if f["has_active"] else None,
        active_revision="r1" if f["has_active"] else None,
        rollout=rollout if f["rolling_out"] else None,
    )
    ready = f["active_ready"]
    active = ColorHealth(
        exists=True, ready=ready, available=ready, ready_since=None, restarts=0, ready_pods=int(ready)
    )
    assert compute_phase(spec, status, active if f["has_active"] else None, failed=f["failed"]) == phase


def pod(
    name: str, revision: str = "r1", ready: bool = True, restarts: int = 0, at: int = 0, **kw: Any
) -> PodFacts:
    return PodFacts(
        name=name,
        revision=revision,
        ready=ready,
        restarts=restarts,
        ready_since=T0 + timedelta(seconds=at) if ready else None,
        **kw,
    )


def observed(**deployment: Any) -> Observed:
    facts = {"revision": "r1", "replicas": 1, "ready_replicas": 1, "updated_replicas": 1, **deployment}
    return Observed(generation=1, deployments={Color.GREEN: DeploymentFacts(**facts)})


HEALTH = [
    ("missing", Observed(generation=1), 1, {"exists": False, "ready": False, "available": False}),
    (
        "one ready pod",
        observed(pods=(pod("a", at=5),)),
        1,
        {"ready": True, "available": True, "ready_since": 5},
    ),
    ("pod not ready", observed(ready_replicas=0, pods=(pod("a", ready=False),)), 1, {"ready": False}),
    ("other revision", observed(revision="r0", pods=(pod("a", revision="r0"),)), 1, {"ready": False}),
    ("not rolled out", observed(rolled_out=False, pods=(pod("a"),)), 1, {"ready": False, "available": True}),
    ("replica change pending", observed(pods=(pod("a"),)), 0, {"ready": False, "available": True}),
    (
        "terminating old pod ignored",
        observed(pods=(pod("old", revision="r0", restarts=9, terminating=True), pod("a", at=7))),
        1,
        {"ready": True, "restarts": 0, "ready_since": 7},
    ),
    (
        "restarts summed over the revision",
        observed(
            replicas=2,
            ready_replicas=2,
            updated_replicas=2,
            pods=(pod("a", restarts=1), pod("b", restarts=2)),
        ),
        2,
        {"restarts": 3},
    ),
    (
        "latest Ready transition counts",
        observed(replicas=2, ready_replicas=2, updated_replicas=2, pods=(pod("a", at=3), pod("b", at=9))),
        2,
        {"ready": True, "ready_since": 9},
    ),
    (
        "zero replicas: no Ready pod, never ready (cannot pass a gate), yet not a readiness loss",
        observed(replicas=0, ready_replicas=0, updated_replicas=0),
        0,
        {"ready": False, "available": True, "ready_since": None},
    ),
]


@pytest.mark.parametrize(("label", "world", "replicas", "expected"), HEALTH, ids=[h[0] for h in HEALTH])
def test_color_health(label: str, world: Observed, replicas: int, expected: dict[str, Any]) -> None:
    health = color_health(world, Color.GREEN, "r1", replicas)
    for key, value in expected.items():
        wanted = T0 + timedelta(seconds=value) if key == "ready_since" and value is not None else value
        assert getattr(health, key) == wanted, f"{label}: {key}"
