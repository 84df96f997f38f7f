"""The metric analysis gate against a REAL Prometheus (T2): real API server, kwok pods, the operator
in-process with ``--prometheus-url``, and Prometheus v3.5.0 (scripts/build-prometheus.sh) scraping a
loopback target whose series the test sets (``ploy_test_sick{namespace, tradingbot, color}``: 0
healthy, 1 sick).

So the gate is proven through the real PromQL engine and HTTP API: the analysis passes → promoted;
fails during the bake → ``AnalysisFailed`` before promotion; fails in the post-promotion window →
rolled back after promotion; Prometheus unreachable → ``onInconclusive`` Wait holds the gate until it
is back, Fail fails the rollout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient
from prometheus_client import CollectorRegistry

from tests.operator.operator_harness import (
    JSON,
    BotView,
    eventually,
    install_crd,
    new_view,
    operator_in_process,
    phase_is,
    rollout_spec,
    tradingbot,
)
from tests.support.cluster import ClusterHandle
from tests.support.series_prometheus import PrometheusProcess, SeriesTarget, prometheus_scraping

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

IMAGE_2 = "registry.example/ploy-bot:1.1.0"
QUERY = 'max(ploy_test_sick{namespace="{{namespace}}",tradingbot="{{name}}",color="{{color}}"})'


def series(namespace: str, name: str, color: str) -> str:
    return f'ploy_test_sick{{namespace="{namespace}",tradingbot="{name}",color="{color}"}}'


def gated(**rollout: Any) -> JSON:
    """Rollout settings with one analysis query: sick must be <= 0.5, measured every second."""
    on_inconclusive = rollout.pop("onInconclusive", "Wait")
    return rollout_spec(
        analysis=[
            {
                "name": "sick",
                "query": QUERY,
                "successCondition": {"op": "<=", "value": "0.5"},
                "intervalSeconds": 1,
                "failureLimit": 0,
                "onInconclusive": on_inconclusive,
            }
        ],
        **rollout,
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, SeriesTarget]]:
    with prometheus_scraping(tmp_path_factory.mktemp("prometheus")) as pair:
        yield pair


@pytest.fixture(scope="module")
async def gate_operator(
    cluster: ClusterHandle, prometheus: tuple[PrometheusProcess, SeriesTarget]
) -> AsyncIterator[CollectorRegistry]:
    if cluster.kind != "local":
        pytest.skip("needs the kwok pods of the local control plane")
    install_crd(cluster)
    async with operator_in_process(cluster, prometheus_url=prometheus[0].url) as registry:
        yield registry


def measurement(status: JSON) -> JSON:
    measurements: list[JSON] = (status.get("analysis") or {}).get("measurements") or [{}]
    return measurements[0]


async def healthy_first_rollout(
    view: BotView, target: SeriesTarget, prom: PrometheusProcess, **rollout: Any
) -> JSON:
    target.set(series(view.namespace, view.name, "blue"), 0)
    prom.wait_value(series(view.namespace, view.name, "blue"), 0.0)
    await view.create(tradingbot(view.name, rollout=gated(**rollout)))
    status = await view.wait_status(
        lambda s: s.get("activeColor") == "blue" and s.get("phase") == "Healthy",
        "blue promoted after analysis",
    )
    assert measurement(status)["result"] == "Successful" and measurement(status)["value"] == "0"
    return status


async def test_analysis_passes_promotes_and_the_window_passes(
    gate_operator: CollectorRegistry,
    prometheus: tuple[PrometheusProcess, SeriesTarget],
    bot_ns: str,
    k8s_api: ApiClient,
) -> None:
    prom, target = prometheus
    view = new_view(k8s_api, bot_ns, "pass")
    await healthy_first_rollout(view, target, prom)
    target.set(series(bot_ns, "pass", "green"), 0)
    await view.set_image(IMAGE_2)
    status = await view.wait_status(lambda s: s.get("activeColor") == "green", "green promoted", within=40)
    assert status["epoch"] == 2
    status = await view.wait_status(phase_is("Healthy"), "window passed", within=40)
    assert status["lastRollout"]["reason"] == "PostPromotionWindowPassed"
    m = measurement(status)
    assert status["analysis"]["color"] == "green" and m["result"] == "Successful"
    assert m["count"] >= 3, m  # the bake and the window were measured
    await view.assert_one_active()


async def test_analysis_fails_during_the_bake_rolls_back_before_promotion(
    gate_operator: CollectorRegistry,
    prometheus: tuple[PrometheusProcess, SeriesTarget],
    bot_ns: str,
    k8s_api: ApiClient,
) -> None:
    prom, target = prometheus
    view = new_view(k8s_api, bot_ns, "bake")
    await healthy_first_rollout(view, target, prom, bakeSeconds=10, progressDeadlineSeconds=40)
    target.set(series(bot_ns, "bake", "green"), 1)
    prom.wait_value(series(bot_ns, "bake", "green"), 1.0)
    await view.set_image(IMAGE_2)
    status = await view.wait_status(phase_is("Degraded"), "AnalysisFailed before promotion", within=40)
    assert status["activeColor"] == "blue" and status["epoch"] == 1, "never promoted"
    last = status["lastRollout"]
    assert (last["result"], last["reason"]) == ("RolledBack", "AnalysisFailed")
    assert "measured 1, not <= 0.5" in last["message"], last
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "AnalysisFailed" and "measured 1" in degraded["message"]
    event = next(e for e in await view.events() if e["reason"] == "AnalysisFailed")
    assert event["type"] == "Warning" and "measured 1, not <= 0.5" in event["message"]
    assert measurement(status)["result"] == "Failed"
    labels = {"namespace": bot_ns, "name": "bake", "query": "sick", "result": "Failed"}

    async def counted() -> bool:
        # Counted when the status write that recorded it returns (CI once read it mid-pass, when it
        # was counted only after the pass's actions).
        return gate_operator.get_sample_value("ploy_operator_analysis_measurements_total", labels) == 1.0

    await eventually(counted, "the failed measurement counted once", within=5)
    await view.wait_replicas("green", 0)
    await view.assert_one_active()


async def test_analysis_fails_in_the_window_rolls_back_after_promotion(
    gate_operator: CollectorRegistry,
    prometheus: tuple[PrometheusProcess, SeriesTarget],
    bot_ns: str,
    k8s_api: ApiClient,
) -> None:
    prom, target = prometheus
    view = new_view(k8s_api, bot_ns, "window")
    await healthy_first_rollout(view, target, prom, postPromotionSeconds=60, scaleDownDelaySeconds=60)
    target.set(series(bot_ns, "window", "green"), 0)
    await view.set_image(IMAGE_2)
    await view.wait_status(lambda s: s.get("phase") == "Verifying" and s.get("epoch") == 2, "green promoted")
    await view.wait_service("green")
    target.set(series(bot_ns, "window", "green"), 1)  # green turns sick after its promotion
    status = await view.wait_status(lambda s: s.get("epoch") == 3, "rolled back by analysis", within=30)
    assert status["activeColor"] == "blue"
    last = status["lastRollout"]
    assert (last["result"], last["reason"]) == ("RolledBack", "AnalysisFailed")
    assert "measured 1, not <= 0.5" in last["message"] and "after promotion" in last["message"]
    event = next(e for e in await view.events() if e["reason"] == "RolledBack")
    assert "measured 1, not <= 0.5" in event["message"]
    await view.wait_service("blue")
    await view.wait_replicas("green", 0)
    await view.assert_one_active()


async def test_prometheus_unreachable_wait_holds_and_fail_fails(
    gate_operator: CollectorRegistry,
    prometheus: tuple[PrometheusProcess, SeriesTarget],
    bot_ns: str,
    k8s_api: ApiClient,
) -> None:
    prom, target = prometheus
    waiting, failing = new_view(k8s_api, bot_ns, "wait"), new_view(k8s_api, bot_ns, "fail")
    for view in (waiting, failing):
        target.set(series(bot_ns, view.name, "blue"), 0)
    prom.stop()
    try:
        await waiting.create(tradingbot("wait", rollout=gated(bakeSeconds=2, progressDeadlineSeconds=120)))
        await failing.create(tradingbot("fail", rollout=gated(onInconclusive="Fail")))
        status = await failing.wait_status(phase_is("Degraded"), "Fail: inconclusive fails", within=40)
        assert status["lastRollout"]["reason"] == "AnalysisFailed"
        assert "inconclusive: Prometheus unreachable" in status["lastRollout"]["message"]
        assert "activeColor" not in status
        status = await waiting.wait_status(
            lambda s: measurement(s).get("result") == "Inconclusive", "Wait: inconclusive measured"
        )
        assert "Prometheus unreachable" in measurement(status)["message"]
        await waiting.wait_status(lambda s: measurement(s).get("count", 0) >= 5, "still measuring")
        status = await waiting.status()
        assert status["phase"] == "Baking" and "activeColor" not in status, "Wait holds the gate"
        inconclusive = gate_operator.get_sample_value(
            "ploy_operator_analysis_measurements_total",
            {"namespace": bot_ns, "name": "wait", "query": "sick", "result": "Inconclusive"},
        )
        assert inconclusive is not None and inconclusive >= 5
    finally:
        prom.start()
    status = await waiting.wait_status(phase_is("Healthy"), "promoted once Prometheus answers", within=40)
    assert status["activeColor"] == "blue" and measurement(status)["result"] == "Successful"
