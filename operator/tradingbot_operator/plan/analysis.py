"""The metric analysis gate (pure): which queries are due, what their readings mean, the verdict.

The reconciler asks :func:`due_queries` which of ``spec.rollout.analysis`` to measure in this pass
(rendered with :func:`render`), queries Prometheus (module ``prometheus``, the only I/O) and hands the
answers to the plan as ``observed.readings``. The plan (:func:`analyse`, called by the gate and by the
post-promotion window) records them in ``status.analysis`` and returns a :class:`Verdict`:

* the analysed color is the rollout's, from its bake (``readySince``) to the end of its post-promotion
  window; a stopped bot (``replicas: 0``) is not measured;
* a reading is Successful when its value satisfies ``successCondition``, Failed when not, Inconclusive
  without a value; ``onInconclusive: Fail`` counts an inconclusive reading as a failure;
* ``failures`` counts consecutive failures (a success resets it); more than ``failureLimit`` fails the
  analysis: the rollout fails (``AnalysisFailed``) before promotion, or rolls back after it;
* the analysis has passed when every query's last measurement of this rollout is Successful; the bake
  and the post-promotion window end only then (so ``Wait`` holds both until a conclusive answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tradingbot_operator.model import (
    AnalysisQuery,
    AnalysisStatus,
    Color,
    Measurement,
    MeasurementResult,
    OnInconclusive,
    RolloutProgress,
    RolloutStage,
    TradingBotSpec,
    TradingBotStatus,
)
from tradingbot_operator.observed import Reading
from tradingbot_operator.plan.context import Pass

REASON_ANALYSIS_FAILED = "AnalysisFailed"
# Stages whose new color is analysed: from the start of the bake to the end of the window.
ANALYSED_STAGES = (RolloutStage.BAKING, RolloutStage.BAKED, RolloutStage.VERIFYING)


def render(query: str, *, namespace: str, name: str, color: Color, revision: str) -> str:
    """``query`` with ``{{namespace}}``, ``{{name}}``, ``{{color}}`` and ``{{revision}}`` replaced.

    The values are a Kubernetes namespace and name, a color and a hex revision: none can contain a
    quote or a brace, so they are safe inside PromQL string literals.
    """
    values = {"namespace": namespace, "name": name, "color": color.value, "revision": revision}
    for key, value in values.items():
        query = query.replace("{{" + key + "}}", value)
    return query


def analysed(spec: TradingBotSpec, status: TradingBotStatus) -> RolloutProgress | None:
    """The rollout whose new color is analysed now, or None (no analysis, no such stage, stopped)."""
    rollout = status.rollout
    if not spec.rollout.analysis or spec.replicas == 0 or rollout is None:
        return None
    return rollout if rollout.stage in ANALYSED_STAGES else None


def current(status: TradingBotStatus, rollout: RolloutProgress) -> AnalysisStatus | None:
    """``status.analysis`` when it belongs to ``rollout`` (same revision, color and start), else None."""
    analysis = status.analysis
    if analysis is None:
        return None
    same = (analysis.revision, analysis.color, analysis.started_at) == (
        rollout.revision,
        rollout.color,
        rollout.started_at,
    )
    return analysis if same else None


def _next_at(query: AnalysisQuery, analysis: AnalysisStatus | None) -> datetime | None:
    """When ``query`` is next due (None: at once, it was never measured in this rollout)."""
    last = analysis.of(query.name) if analysis is not None else None
    return None if last is None else last.measured_at + timedelta(seconds=query.interval_seconds)


def due_queries(spec: TradingBotSpec, status: TradingBotStatus, now: datetime) -> tuple[AnalysisQuery, ...]:
    """The queries to measure in a pass at ``now`` over ``status`` (the status read, before the plan)."""
    rollout = analysed(spec, status)
    if rollout is None:
        return ()
    analysis = current(status, rollout)
    due = []
    for query in spec.rollout.analysis:
        at = _next_at(query, analysis)
        if at is None or now >= at:
            due.append(query)
    return tuple(due)


def due_promql(
    spec: TradingBotSpec, status: TradingBotStatus, now: datetime, *, namespace: str, name: str
) -> dict[str, str]:
    """``{query name: rendered PromQL}`` of the queries due at ``now`` (see :func:`due_queries`)."""
    rollout = analysed(spec, status)
    if rollout is None:
        return {}
    return {
        q.name: render(
            q.query, namespace=namespace, name=name, color=rollout.color, revision=rollout.revision
        )
        for q in due_queries(spec, status, now)
    }


def next_due(spec: TradingBotSpec, status: TradingBotStatus) -> datetime | None:
    """The earliest time a query of the analysed rollout is due again (for ``requeue_after``)."""
    rollout = analysed(spec, status)
    if rollout is None:
        return None
    analysis = current(status, rollout)
    times = [_next_at(q, analysis) for q in spec.rollout.analysis]
    if any(t is None for t in times):
        return rollout.ready_since or rollout.started_at
    return min(t for t in times if t is not None)


def measure(query: AnalysisQuery, reading: Reading, last: Measurement | None, now: datetime) -> Measurement:
    """The new measurement of ``query`` from ``reading``, counting on from ``last`` (same rollout)."""
    failures = last.failures if last is not None else 0
    count = (last.count if last is not None else 0) + 1
    condition = query.success_condition
    value = reading.value
    if value is None or math.isnan(value):
        why = reading.error or "no value"
        if query.on_inconclusive is OnInconclusive.FAIL:
            failures += 1
        return Measurement(
            name=query.name,
            result=MeasurementResult.INCONCLUSIVE,
            message=f"inconclusive: {why}"[:1024],
            measured_at=now,
            failures=failures,
            count=count,
        )
    shown = f"{value:g}"
    if condition.holds(value):
        result, failures = MeasurementResult.SUCCESSFUL, 0
        message = f"measured {shown} ({condition} holds)"
    else:
        result, failures = MeasurementResult.FAILED, failures + 1
        message = f"measured {shown}, not {condition}"
    return Measurement(
        name=query.name,
        result=result,
        value=shown,
        message=message,
        measured_at=now,
        failures=failures,
        count=count,
    )


@dataclass(frozen=True)
class Verdict:
    """What the analysis says now: ``failure`` (a message with the measured value) when it failed;
    ``passed`` when every query's last measurement is Successful (always True without analysis)."""

    passed: bool
    failure: str | None = None


PASSED = Verdict(passed=True)


def analyse(p: Pass, rollout: RolloutProgress) -> Verdict:
    """Record this pass's readings for ``rollout`` in ``status.analysis`` and judge them.

    Readings arrive only for the stages the reconciler measured (:func:`due_queries` over the status it
    read), and only a reading of a query due by ``p.status`` counts, so the same pass again changes
    nothing. Without analysis queries the verdict is :data:`PASSED`.
    """
    queries = p.spec.rollout.analysis
    if not queries:
        return PASSED
    analysis = current(p.status, rollout)
    if rollout.stage in ANALYSED_STAGES and p.observed.readings:
        if analysis is None:
            analysis = AnalysisStatus(
                revision=rollout.revision, color=rollout.color, started_at=rollout.started_at
            )
        measurements = []
        for query in queries:
            last = analysis.of(query.name)
            reading = p.observed.readings.get(query.name)
            # Only a due query's reading counts: the plan stays idempotent over one set of readings.
            at = _next_at(query, analysis)
            if reading is not None and (at is None or p.now >= at):
                measurements.append(measure(query, reading, last, p.now))
            elif last is not None:
                measurements.append(last)
        analysis = analysis.model_copy(update={"measurements": tuple(measurements)})
        p.update(analysis=analysis)
    if analysis is None:
        return Verdict(passed=False)
    for query in queries:
        last = analysis.of(query.name)
        if last is not None and last.failures > query.failure_limit:
            return Verdict(
                passed=False,
                failure=f"analysis {query.name} failed on {rollout.color}: {last.message} "
                f"({last.failures} consecutive, failureLimit {query.failure_limit})",
            )
    passed = all(
        (m := analysis.of(q.name)) is not None and m.result is MeasurementResult.SUCCESSFUL for q in queries
    )
    return Verdict(passed=passed)
