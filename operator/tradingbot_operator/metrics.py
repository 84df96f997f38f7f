"""Prometheus metrics of the operator, registered on a registry the caller passes in.

Names follow Prometheus conventions (base units, ``_total`` for counters, ``_seconds``):

* ``ploy_operator_rollouts_total{namespace,name,result}``: finished rollouts by ``lastRollout.result``
  (Promoted, RolledBack, Aborted, Superseded);
* ``ploy_operator_rollout_duration_seconds``: ``lastRollout.finishedAt - startedAt`` of finished rollouts;
* ``ploy_operator_time_to_rollback_seconds``: for a rollback after promotion, the time from the failing
  color's first sign of trouble (its pods' NotReady transition or last container termination, as
  reported by the API server) to the active Service selecting the previous color again;
* ``ploy_operator_reconcile_errors_total``: reconcile passes that raised;
* ``ploy_operator_analysis_measurements_total{namespace,name,query,result}``: metric analysis
  measurements (``spec.rollout.analysis``) by result (Successful, Failed, Inconclusive);
* ``ploy_operator_active_epoch{namespace,name}``: ``status.epoch`` of each TradingBot;
* ``ploy_operator_api_requests_total{verb,resource}``: requests this operator sent to the API server
  (client side, Kubernetes verbs: get, list, create, patch, delete; kopf's watch streams not counted);
* ``ploy_operator_workqueue_wait_seconds{lane}``: from a pass being asked for to it getting one of the
  bounded slots (``lane``: ``change`` or ``resync``);
* ``ploy_operator_reconcile_duration_seconds{lane}``: how long one pass took (observe, plan, writes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tradingbot_operator.model import Color, Measurement, RolloutResult
from tradingbot_operator.plan import RolledBack, RolloutEnded, Transition

# Rollouts take seconds (tests) to tens of minutes (production bake + post-promotion windows).
ROLLOUT_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
# Queue waits and passes take milliseconds when idle, seconds under a burst.
PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))
# A rollback to a warm color should take well under a second; the tail is what matters.
ROLLBACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, float("inf"))


class OperatorMetrics:
    """The operator's metric families, all registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.rollouts = Counter(
            "ploy_operator_rollouts",
            "Finished rollouts by TradingBot and result (Promoted, RolledBack, Aborted, Superseded).",
            ["namespace", "name", "result"],
            registry=registry,
        )
        self.rollout_duration = Histogram(
            "ploy_operator_rollout_duration_seconds",
            "Seconds from the start of a rollout to its end (promotion window passed, rollback, abort).",
            buckets=ROLLOUT_BUCKETS,
            registry=registry,
        )
        self.time_to_rollback = Histogram(
            "ploy_operator_time_to_rollback_seconds",
            "Seconds from the new active color's first failure to the active Service selecting the previous "
            "color again.",
            buckets=ROLLBACK_BUCKETS,
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "ploy_operator_reconcile_errors",
            "Reconcile passes that failed with an error (they are retried with backoff).",
            registry=registry,
        )
        self.analysis_measurements = Counter(
            "ploy_operator_analysis_measurements",
            "Analysis measurements by TradingBot, query and result (Successful, Failed, Inconclusive).",
            ["namespace", "name", "query", "result"],
            registry=registry,
        )
        self.active_epoch = Gauge(
            "ploy_operator_active_epoch",
            "status.epoch (fencing token) of each TradingBot.",
            ["namespace", "name"],
            registry=registry,
        )

        self.api_requests = Counter(
            "ploy_operator_api_requests",
            "Requests the operator sent to the Kubernetes API server, by verb and resource (kopf's watch "
            "streams not counted).",
            ["verb", "resource"],
            registry=registry,
        )

        self.queue_wait = Histogram(
            "ploy_operator_workqueue_wait_seconds",
            "Seconds from a pass being asked for to it getting a slot, by lane (change, resync).",
            ["lane"],
            buckets=PASS_BUCKETS,
            registry=registry,
        )
        self.pass_duration = Histogram(
            "ploy_operator_reconcile_duration_seconds",
            "Seconds one reconcile pass took (observe, plan, status and child writes), by lane.",
            ["lane"],
            buckets=PASS_BUCKETS,
            registry=registry,
        )

    def pass_timing(self, lane: str, waited: float, worked: float) -> None:
        """Record one pass's wait for a slot and its duration (seconds; the work queue's ``on_run``)."""
        self.queue_wait.labels(lane).observe(waited)
        self.pass_duration.labels(lane).observe(worked)

    def api_request(self, verb: str, resource: str) -> None:
        """Count one API request (``Kube``'s ``on_request`` hook)."""
        self.api_requests.labels(verb, resource).inc()

    def record_pass(
        self,
        namespace: str,
        name: str,
        epoch: int,
        transitions: Iterable[Transition],
        *,
        failed_at: Mapping[Color, datetime],
        switched: bool,
        now: datetime,
    ) -> None:
        """Record what one applied pass committed.

        ``epoch``: the new ``status.epoch``; ``transitions``: the plan's; ``failed_at``: per color, when
        its pods last showed trouble (UTC, from the pass's snapshot); ``switched``: the pass wrote the
        active Service's selector; ``now``: the operator's clock after the actions (UTC). A rollback
        after promotion counts towards the time to rollback only once the active Service was written.
        """
        self.active_epoch.labels(namespace, name).set(epoch)
        # Every result's series exists at 0 before its first rollout ends: a counter first scraped at 1
        # shows no increase() in Prometheus, so the first rollback of a bot would never alert.
        for result in RolloutResult:
            self.rollouts.labels(namespace, name, result.value)
        for transition in transitions:
            if not isinstance(transition, RolloutEnded):
                continue
            last = transition.last
            self.rollouts.labels(namespace, name, last.result.value).inc()
            self.rollout_duration.observe(max(0.0, (last.finished_at - last.started_at).total_seconds()))
            if isinstance(transition, RolledBack) and switched:
                failed = failed_at.get(transition.failed)
                if failed is not None:
                    self.time_to_rollback.observe(max(0.0, (now - failed).total_seconds()))

    def record_measurements(self, namespace: str, name: str, measurements: Iterable[Measurement]) -> None:
        """Count the analysis measurements one pass took (``status.analysis`` entries it wrote)."""
        for m in measurements:
            self.analysis_measurements.labels(namespace, name, m.name, m.result.value).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the per-TradingBot series of a deleted TradingBot."""
        with contextlib.suppress(KeyError):
            self.active_epoch.remove(namespace, name)
        for result in RolloutResult:
            with contextlib.suppress(KeyError):
                self.rollouts.remove(namespace, name, result.value)
