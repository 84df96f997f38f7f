"""The operator's metrics read the plan's typed transitions (pure: a registry, no cluster)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from tests.operator.plan_world import T0
from tradingbot_operator.actions import EventType
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.model import Color, LastRollout, RolloutResult
from tradingbot_operator.plan import RolledBack, RolloutEnded, Transition

LAST = LastRollout(
    revision="r2",
    result=RolloutResult.ROLLED_BACK,
    reason="ReadinessLost",
    generation=2,
    started_at=T0,
    finished_at=T0 + timedelta(seconds=90),
)
ROLLBACK = RolledBack(EventType.WARNING, "RolledBack", "green lost readiness", last=LAST, failed=Color.GREEN)


def sample(metrics: OperatorMetrics, metric: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric, labels)


def test_a_rollback_counts_its_rollout_duration_and_time_to_rollback() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    now = T0 + timedelta(seconds=92)
    metrics.record_pass(
        "ns",
        "bot",
        7,
        [Transition(EventType.NORMAL, "Paused", "x"), ROLLBACK],
        failed_at={Color.GREEN: T0 + timedelta(seconds=89)},
        switched=True,
        now=now,
    )
    assert sample(metrics, "ploy_operator_active_epoch", namespace="ns", name="bot") == 7
    assert (
        sample(metrics, "ploy_operator_rollouts_total", namespace="ns", name="bot", result="RolledBack") == 1
    )
    assert sample(metrics, "ploy_operator_rollout_duration_seconds_sum") == 90
    assert sample(metrics, "ploy_operator_time_to_rollback_seconds_sum") == 3


def test_no_time_to_rollback_before_the_active_service_moved_or_for_other_ends() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    failed_at = {Color.GREEN: T0}
    metrics.record_pass("ns", "bot", 7, [ROLLBACK], failed_at=failed_at, switched=False, now=T0)
    superseded = LAST.model_copy(update={"result": RolloutResult.SUPERSEDED})
    ended = RolloutEnded(EventType.NORMAL, "Superseded", "x", last=superseded)
    metrics.record_pass("ns", "bot", 7, [ended], failed_at=failed_at, switched=True, now=T0)
    assert sample(metrics, "ploy_operator_time_to_rollback_seconds_count") == 0
    assert sample(metrics, "ploy_operator_rollout_duration_seconds_count") == 2


def test_every_result_series_starts_at_zero_and_is_forgotten_with_its_bot() -> None:
    """A counter Prometheus first scrapes at 1 shows no increase(): the rollback alert needs the 0."""
    metrics = OperatorMetrics(CollectorRegistry())
    metrics.record_pass("ns", "bot", 1, [], failed_at={}, switched=False, now=T0)
    for result in RolloutResult:
        labels = {"namespace": "ns", "name": "bot", "result": result.value}
        assert sample(metrics, "ploy_operator_rollouts_total", **labels) == 0
    metrics.forget("ns", "bot")
    promoted = {"namespace": "ns", "name": "bot", "result": "Promoted"}
    assert sample(metrics, "ploy_operator_rollouts_total", **promoted) is None
