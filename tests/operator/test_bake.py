"""The bake's start (pure): the operator's own first observation of all pods Ready, never a node clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.operator.plan_world import T0
from tradingbot_operator.bake import ReadyObservations, bake_start
from tradingbot_operator.model import Color
from tradingbot_operator.observed import DeploymentFacts, Observed, PodFacts


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("recorded", "seen", "expected"),
    [
        (None, None, 50),  # no observation: starts now
        (None, 40, 40),
        (30, None, 30),  # no observation: the recorded start stands
        (30, 30, 30),
        (30, 45, 45),  # a restart or a flap moves it forward
        (30, 20, 30),  # nothing moves it back
    ],
)
def test_bake_start(recorded: int | None, seen: int | None, expected: int) -> None:
    def at(v: int | None) -> datetime | None:
        return None if v is None else T0 + _s(v)

    assert bake_start(at(recorded), at(seen), T0 + _s(50)) == T0 + _s(expected)


def _observed(*, ready: bool, node_time: float, pod: str = "p1", replicas: int = 1) -> Observed:
    pods = (
        PodFacts(name=pod, revision="r1", ready=ready, ready_since=T0 + _s(node_time) if ready else None),
    )
    deployment = DeploymentFacts(
        revision="r1", replicas=replicas, ready_replicas=int(ready), updated_replicas=1, pods=pods
    )
    return Observed(generation=1, deployments={Color.GREEN: deployment})


def test_first_observation_by_the_operator_clock_whatever_the_node_says() -> None:
    seen = ReadyObservations()
    # The node says Ready since T0-120 (its clock lags); the operator first sees it at T0+10.4.
    first = seen.observe("u", _observed(ready=True, node_time=-120), 1, T0 + _s(10.4))
    assert first == {Color.GREEN: T0 + _s(11)}  # rounded up: never a shorter bake
    later = seen.observe("u", _observed(ready=True, node_time=-120), 1, T0 + _s(40))
    assert later == {Color.GREEN: T0 + _s(11)}
    # A flap between passes (a new Ready transition) or a replacement pod starts over.
    assert seen.observe("u", _observed(ready=True, node_time=-100), 1, T0 + _s(41)) == {
        Color.GREEN: T0 + _s(41)
    }
    replaced = seen.observe("u", _observed(ready=True, node_time=-100, pod="p2"), 1, T0 + _s(42))
    assert replaced == {Color.GREEN: T0 + _s(42)}
    # Not Ready: forgotten; another UID is another object.
    assert seen.observe("u", _observed(ready=False, node_time=0), 1, T0 + _s(43)) == {}
    assert seen.observe("v", _observed(ready=True, node_time=0), 1, T0 + _s(44)) == {Color.GREEN: T0 + _s(44)}
    seen.forget("v")
    assert seen.observe("v", _observed(ready=True, node_time=0), 1, T0 + _s(45)) == {Color.GREEN: T0 + _s(45)}


def test_no_pod_is_never_all_ready() -> None:
    observed = Observed(
        generation=1, deployments={Color.GREEN: DeploymentFacts(revision="r1", replicas=0, rolled_out=True)}
    )
    assert ReadyObservations().observe("u", observed, 0, T0) == {}
