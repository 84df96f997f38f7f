"""The operator's client-side request count: verb and resource of each API request (pure)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tradingbot_operator.kube_transport import verb_and_resource
from tradingbot_operator.metrics import OperatorMetrics

CASES = [
    ("GET", "/apis/ploy.dev/v1alpha1/namespaces/ns/tradingbots/bot", ("get", "tradingbots")),
    ("GET", "/apis/ploy.dev/v1alpha1/namespaces/ns/tradingbots", ("list", "tradingbots")),
    (
        "PATCH",
        "/apis/ploy.dev/v1alpha1/namespaces/ns/tradingbots/bot/status",
        ("patch", "tradingbots/status"),
    ),
    ("GET", "/api/v1/namespaces/ns/pods?labelSelector=a%3Db", ("list", "pods")),
    ("POST", "/api/v1/namespaces/ns/events", ("create", "events")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/bot-blue", ("patch", "deployments")),
    ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/bot-migrate-1", ("delete", "jobs")),
    ("PUT", "/apis/kopf.dev/v1/clusterkopfpeerings/p", ("update", "clusterkopfpeerings")),
    ("GET", "/api/v1/namespaces", ("list", "namespaces")),
    ("GET", "/api/v1/namespaces/ns", ("get", "namespaces")),
    ("GET", "/healthz", ("get", "other")),
]


@pytest.mark.parametrize(("method", "path", "expected"), CASES)
def test_verb_and_resource(method: str, path: str, expected: tuple[str, str]) -> None:
    assert verb_and_resource(method, path) == expected


def test_counted_by_verb_and_resource() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    metrics.api_request("get", "deployments")
    metrics.api_request("get", "deployments")
    labels = {"verb": "get", "resource": "deployments"}
    assert registry.get_sample_value("ploy_operator_api_requests_total", labels) == 2.0
