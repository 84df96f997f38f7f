"""Pure parts of the Kubernetes I/O: child manifests, the observed snapshot, the status merge patch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradingbot_operator import children
from tradingbot_operator.actions import PodInputs
from tradingbot_operator.children import Owner, job_facts, pod_facts
from tradingbot_operator.kube_transport import merge_patch
from tradingbot_operator.model import Color, PodTemplateSpec, SecretKeyRef
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.observed import JobState
from tradingbot_operator.snapshot import build_snapshot

OWNER = Owner(name="bot", namespace="trading", uid="uid-1")
POD = PodInputs(
    image="registry.example/ploy-bot:1.0.0",
    config_hash="abc123",
    database=SecretKeyRef(name="bot-db", key="url"),
    pod_template=PodTemplateSpec.model_validate(
        {"labels": {"ploy.dev/fault": "never-ready"}, "annotations": {"ploy.dev/fail-after": "6s"}}
    ),
)


def _owned(obj: dict[str, Any], uid: str = "uid-1") -> dict[str, Any]:
    obj.setdefault("metadata", {})["ownerReferences"] = [{"uid": uid, "controller": True}]
    return obj


def test_deployment_follows_the_contract() -> None:
    dep = children.deployment(OWNER, Color.GREEN, "rev1", 1, POD)
    meta, spec = dep["metadata"], dep["spec"]
    assert meta["name"] == "bot-green"
    assert meta["labels"] == {
        "app.kubernetes.io/name": "tradingbot",
        "app.kubernetes.io/instance": "bot",
        "app.kubernetes.io/managed-by": "ploy-operator",
        "ploy.dev/tradingbot": "bot",
        "ploy.dev/color": "green",
        "ploy.dev/revision": "rev1",
    }
    ref = meta["ownerReferences"][0]
    assert ref == {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "name": "bot",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    # The selector must not contain the revision: it is immutable while the color's revision changes.
    assert spec["selector"]["matchLabels"] == {"ploy.dev/tradingbot": "bot", "ploy.dev/color": "green"}
    template = spec["template"]
    assert template["metadata"]["labels"]["ploy.dev/fault"] == "never-ready"
    assert template["metadata"]["labels"]["ploy.dev/revision"] == "rev1"
    assert template["metadata"]["annotations"] == {"ploy.dev/fail-after": "6s"}
    pod = template["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container = pod["containers"][0]
    assert container["command"] == ["ploy-bot"] and container["args"] == ["run"]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    env = {e["name"]: e for e in container["env"]}
    assert env["PLOY_COLOR"]["value"] == "green"
    assert env["PLOY_TRADINGBOT_NAME"]["value"] == "bot"
    assert env["PLOY_TRADINGBOT_NAMESPACE"]["value"] == "trading"
    assert env["PLOY_CONFIG"]["value"] == "/etc/ploy/config.yaml"
    assert env["PLOY_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "bot-db", "key": "url"}}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "bot-config-abc123"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/ploy"


def test_deployment_update_is_detected_by_spec_hash_replicas_and_labels() -> None:
    desired = children.deployment(OWNER, Color.BLUE, "rev1", 1, POD)
    live = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "7"}}
    assert not children.deployment_needs_update(live, desired)
    assert children.deployment_needs_update(live, children.deployment(OWNER, Color.BLUE, "rev2", 1, POD))
    assert children.deployment_needs_update(live, children.deployment(OWNER, Color.BLUE, "rev1", 0, POD))
    patch = children.deployment_update_patch(
        {**live, "metadata": {**live["metadata"], "annotations": {"deployment.kubernetes.io/revision": "3"}}},
        children.deployment(OWNER, Color.BLUE, "rev2", 1, POD),
    )
    ops = {op["path"]: op for op in patch}
    assert ops["/spec"]["op"] == "replace"
    assert ops["/spec"]["value"]["template"]["metadata"]["labels"]["ploy.dev/revision"] == "rev2"
    assert ops["/metadata/annotations"]["value"]["deployment.kubernetes.io/revision"] == "3"
    assert ops["/metadata/labels"]["value"]["ploy.dev/revision"] == "rev2"


@pytest.mark.parametrize(
    ("role", "color", "name", "selected"),
    [
        (ServiceRole.ACTIVE, Color.BLUE, "bot", "blue"),
        (ServiceRole.PREVIEW, Color.GREEN, "bot-preview", "green"),
        (ServiceRole.ACTIVE, None, "bot", "none"),
    ],
)
def test_services_select_one_color_or_nothing(
    role: ServiceRole, color: Color | None, name: str, selected: str
) -> None:
    svc = children.service(OWNER, role, color)
    assert svc["metadata"]["name"] == name
    assert svc["spec"]["selector"]["ploy.dev/color"] == selected
    assert children.service_color(svc) == color
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def test_config_map_is_immutable_and_named_by_hash() -> None:
    cm = children.config_map(OWNER, "abc123", "trading: {}\n")
    assert cm["metadata"]["name"] == "bot-config-abc123"
    assert cm["immutable"] is True and cm["data"] == {"config.yaml": "trading: {}\n"}
    assert children.config_hash_of("bot", "bot-config-abc123") == "abc123"
    assert children.config_hash_of("bot", "other-config-abc123") is None


def test_migration_job_runs_the_new_image_without_color_or_retries() -> None:
    job = children.migration_job(OWNER, "rev2", ("migrate", "--to", "head"), POD)
    assert job["metadata"]["name"] == "bot-migrate-rev2"
    assert job["spec"]["backoffLimit"] == 0
    template = job["spec"]["template"]
    assert "ploy.dev/color" not in template["metadata"]["labels"], "no Service may select a Job pod"
    assert template["metadata"]["labels"]["ploy.dev/fault"] == "never-ready"
    container = template["spec"]["containers"][0]
    assert container["image"] == POD.image and container["args"] == ["migrate", "--to", "head"]
    assert template["spec"]["restartPolicy"] == "Never"
    assert "PLOY_COLOR" not in {e["name"] for e in container["env"]}


def test_event_is_about_the_tradingbot() -> None:
    event = children.event(
        OWNER, "Warning", "RolledBack", "x" * 2000, datetime(2026, 1, 2, tzinfo=UTC), "op-0"
    )
    assert event["involvedObject"]["kind"] == "TradingBot" and event["involvedObject"]["uid"] == "uid-1"
    assert event["metadata"]["generateName"] == "bot." and len(event["message"]) == 1024
    assert event["firstTimestamp"] == "2026-01-02T00:00:00Z"


def _pod(
    name: str, color: str, revision: str, ready: bool, restarts: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"ploy.dev/color": color, "ploy.dev/revision": revision},
            **extra,
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": "2026-01-02T03:04:05Z",
                }
            ],
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


def test_pod_facts() -> None:
    facts = pod_facts(_pod("p", "blue", "r1", ready=True, restarts=2))
    assert facts.ready and facts.restarts == 2 and facts.revision == "r1"
    assert facts.ready_since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    unready = pod_facts(_pod("p", "blue", "r1", ready=False, deletionTimestamp="2026-01-02T03:04:06Z"))
    assert not unready.ready and unready.ready_since is None and unready.terminating


@pytest.mark.parametrize(
    ("conditions", "state"),
    [
        ([], JobState.RUNNING),
        ([{"type": "Complete", "status": "True"}], JobState.SUCCEEDED),
        ([{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}], JobState.FAILED),
    ],
)
def test_job_facts(conditions: list[dict[str, str]], state: JobState) -> None:
    facts = job_facts(
        {"metadata": {"labels": {"ploy.dev/revision": "r2"}}, "status": {"conditions": conditions}}
    )
    assert facts is not None and facts.state is state and facts.revision == "r2"


def test_snapshot_counts_only_owned_children() -> None:
    body = {"metadata": {"name": "bot", "namespace": "trading", "uid": "uid-1", "generation": 3}}
    blue = children.deployment(OWNER, Color.BLUE, "r1", 1, POD)
    blue["status"] = {"readyReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
    blue["metadata"]["generation"] = 1
    foreign_green = _owned({"metadata": {"name": "bot-green"}, "spec": {"replicas": 1}}, uid="someone-else")
    snapshot = build_snapshot(
        body,
        deployments=[blue, foreign_green],
        pods=[_pod("b1", "blue", "r1", ready=True), _pod("g1", "green", "r2", ready=False)],
        services=[children.service(OWNER, ServiceRole.ACTIVE, Color.BLUE)],
        config_maps=[children.config_map(OWNER, "abc123", ""), {"metadata": {"name": "bot-config-zzz"}}],
        jobs=[],
    )
    observed = snapshot.observed
    assert observed.generation == 3
    assert set(observed.deployments) == {Color.BLUE}, "a Deployment the TradingBot does not own is ignored"
    assert observed.deployments[Color.BLUE].ready_replicas == 1
    assert [p.name for p in observed.deployments[Color.BLUE].pods] == ["b1"]
    assert observed.services[ServiceRole.ACTIVE].color == Color.BLUE
    assert ServiceRole.PREVIEW not in observed.services
    assert observed.config_maps == frozenset({"abc123"})
    assert snapshot.failed_at[Color.GREEN] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert Color.BLUE not in snapshot.failed_at


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"r": {"x": 1, "y": 2}}, {"r": {"x": 1}}, {"r": {"y": None}}),
        ({"c": [1, 2]}, {"c": [2]}, {"c": [2]}),
        ({"r": {"x": 1}}, {}, {"r": None}),
        ({"k": None}, {"k": None}, {}),
    ],
)
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(old, new) == patch
    assert _apply_merge_patch(old, patch) == {k: v for k, v in new.items() if v is not None}


def _apply_merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 application, to check that the computed patch really turns old into new."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _apply_merge_patch(result[key], value)
        else:
            result[key] = value
    return {k: v for k, v in result.items() if v is not None}
