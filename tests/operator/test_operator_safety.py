"""Operator safety on the real API server (issue 9): epochs never go back, replicas 0 never promotes,
the bake is timed by the operator, refused children show on the TradingBot, Service selectors restored.

The operator runs in-process (kwok plays the kubelet); the epoch guard is also driven through a bare
:class:`~tradingbot_operator.reconciler.Reconciler` on the same API server. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes.aio.client import ApiClient
from kubernetes.aio.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from tests.operator.operator_harness import (
    JSON,
    BotView,
    eventually,
    install_crd,
    new_view,
    rollout_spec,
    tradingbot,
)
from tests.support.cluster import ClusterHandle
from tradingbot_operator.children.meta import JSON_PATCH, MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.reconciler import REASON_EPOCH_REGRESSED, Reconciler

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

IMAGE_1 = "registry.example/ploy-bot:1.0.0"
IMAGE_2 = "registry.example/ploy-bot:1.1.0"


async def _first_rollout(view: BotView, **rollout: object) -> JSON:
    await view.create(tradingbot(view.name, image=IMAGE_1, rollout=rollout_spec(**rollout)))
    return await view.wait_status(
        lambda s: s.get("phase") == "Healthy" and s.get("activeColor") == "blue" and s.get("epoch") == 1,
        "first rollout Healthy",
    )


async def _patch_status(view: BotView, status: JSON) -> None:
    await view.kube.request(
        "PATCH",
        tradingbot_path(view.namespace, view.name) + "/status",
        body={"status": status},
        content_type=MERGE_PATCH,
    )


# --- item 5: epochs never go back ---------------------------------------------------------------------


async def test_status_epoch_cannot_be_patched_down_or_removed(
    cluster: ClusterHandle, bot_ns: str, k8s_api: ApiClient
) -> None:
    install_crd(cluster)
    view = new_view(k8s_api, bot_ns, "epochs")
    await view.create(tradingbot("epochs"))
    await _patch_status(view, {"epoch": 3})
    await _patch_status(view, {"epoch": 4})  # up is fine
    for lower in ({"epoch": 2}, {"epoch": None}):
        with pytest.raises(ApiException) as refused:
            await _patch_status(view, lower)
        assert refused.value.status == 422
        assert "status.epoch must never decrease" in str(refused.value.body)
    assert (await view.status())["epoch"] == 4


async def test_operator_refuses_a_status_below_the_epoch_it_wrote(
    cluster: ClusterHandle, bot_ns: str, k8s_api: ApiClient
) -> None:
    """The CRD makes a lower epoch impossible through the API, so the operator's own guard (the second
    line) is exercised the way a process that already wrote epoch 5 would see the object."""
    install_crd(cluster)
    reconciler = Reconciler(Kube(k8s_api), OperatorMetrics(CollectorRegistry()))
    view = new_view(k8s_api, bot_ns, "guarded")
    await view.create(tradingbot("guarded"))
    first = await reconciler.reconcile(bot_ns, "guarded")
    assert first.status_written and first.actions > 0
    body = await view.get()
    uid = body["metadata"]["uid"]
    assert reconciler.epochs.highest(uid) == 0
    reconciler.epochs.wrote(uid, 5)
    await view.patch({"spec": {"image": IMAGE_2}})  # something to act on
    before = await view.get()
    result = await reconciler.reconcile(bot_ns, "guarded")
    assert not result.status_written and result.actions == 0
    after = await view.get()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after.get("status") == before.get("status")
    assert await view.deployment("green") is None, "no action on a regressed epoch"
    warnings = [e for e in await view.events() if e["reason"] == REASON_EPOCH_REGRESSED]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert "status.epoch is 0, below epoch 5" in warnings[0]["message"]
    await reconciler.reconcile(bot_ns, "guarded")  # again: still refused, no second Event
    assert len([e for e in await view.events() if e["reason"] == REASON_EPOCH_REGRESSED]) == 1
    await reconciler.close()


# --- item 7: replicas 0 is Stopped and never promotes -------------------------------------------------


async def test_replicas_zero_mid_rollout_stops_and_never_promotes(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "stopper")
    await _first_rollout(view)
    # A revision that never becomes Ready: before the fix, replicas 0 made it "Ready" and promoted it.
    await view.patch(
        {"spec": {"image": IMAGE_2, "podTemplate": {"labels": {"ploy.dev/fault": "never-ready"}}}}
    )
    await view.wait_status(lambda s: (s.get("rollout") or {}).get("color") == "green", "green rollout")
    await view.patch({"spec": {"replicas": 0}})
    status = await view.wait_status(lambda s: s.get("phase") == "Stopped", "Stopped")
    assert status["activeColor"] == "blue" and status["epoch"] == 1 and status.get("stoppedAt")
    await view.wait_replicas("blue", 0)
    await view.wait_replicas("green", 0)
    # Well past bakeSeconds (2 s): still nothing promoted.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        status = await view.status()
        assert status["activeColor"] == "blue" and status["epoch"] == 1, status
        await asyncio.sleep(0.5)
    assert status["phase"] == "Stopped"
    available = {c["type"]: c for c in status["conditions"]}["Available"]
    assert (available["status"], available["reason"]) == ("False", "Stopped")
    reasons = [e["reason"] for e in await view.events()]
    assert "Stopped" in reasons and reasons.count("Switched") == 1, reasons  # the first rollout's only
    await view.patch({"spec": {"replicas": 1}})
    status = await view.wait_status(lambda s: s.get("phase") == "Progressing", "rollout resumes")
    assert status["activeColor"] == "blue" and status["epoch"] == 1
    await view.wait_replicas("green", 1)


# --- item 8: the bake is timed by the operator --------------------------------------------------------


async def test_a_lagging_node_clock_does_not_skip_the_bake(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "skewed")
    rollout = rollout_spec(bakeSeconds=6, progressDeadlineSeconds=60)
    manifest = tradingbot("skewed", image=IMAGE_1, rollout=rollout, labels={"ploy.dev/fault": "never-ready"})
    await view.create(manifest)

    async def pod() -> JSON | None:
        answer = await view.kube.request(
            "GET", f"/api/v1/namespaces/{bot_ns}/pods", query={"labelSelector": "ploy.dev/tradingbot=skewed"}
        )
        items = [p for p in answer.get("items") or [] if p.get("status", {}).get("podIP")]
        return items[0] if items else None

    async def running() -> bool:
        return await pod() is not None

    await eventually(running, "the blue pod runs (NotReady)")
    found = await pod()
    assert found is not None
    # The kubelet of a node whose clock lags by 120 s reports the pod Ready "120 s ago".
    lagging = (datetime.now(UTC) - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {**c, "status": "True", "lastTransitionTime": lagging, "reason": None, "message": None}
        if c["type"] in ("Ready", "ContainersReady")
        else c
        for c in found["status"]["conditions"]
    ]
    marked = datetime.now(UTC).replace(microsecond=0)
    await view.kube.request(
        "PATCH",
        f"/api/v1/namespaces/{bot_ns}/pods/{found['metadata']['name']}/status",
        body=[{"op": "replace", "path": "/status/conditions", "value": conditions}],
        content_type=JSON_PATCH,
    )
    status = await view.wait_status(
        lambda s: bool((s.get("rollout") or {}).get("readySince")) or s.get("epoch") == 1, "bake starts"
    )
    assert status.get("epoch") == 0, f"promoted at once: the node's timestamp skipped the bake: {status}"
    ready_since = datetime.fromisoformat(status["rollout"]["readySince"].replace("Z", "+00:00"))
    assert ready_since >= marked, f"readySince {ready_since} comes from the node clock, not the operator"
    done = await view.wait_status(lambda s: s.get("epoch") == 1, "promoted after the bake", within=60)
    finished = datetime.fromisoformat(done["lastRollout"]["finishedAt"].replace("Z", "+00:00"))
    assert finished - ready_since >= timedelta(seconds=6)


# --- item 11: a child the API refuses shows on the TradingBot -----------------------------------------


async def test_a_refused_deployment_sets_a_condition_and_a_warning(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "refused")
    manifest = tradingbot("refused", image=IMAGE_1)
    # Affinity is passed through unchanged; the Deployment API refuses the unknown operator.
    term = {"matchExpressions": [{"key": "disk", "operator": "Sometimes", "values": ["ssd"]}]}
    manifest["spec"]["podTemplate"]["affinity"] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    }
    await view.create(manifest)

    def rejected(status: JSON) -> bool:
        degraded = {c["type"]: c for c in status.get("conditions") or []}.get("Degraded") or {}
        return degraded.get("reason") == "ChildRejected"

    status = await view.wait_status(rejected, "Degraded=True/ChildRejected")
    degraded = {c["type"]: c for c in status["conditions"]}["Degraded"]
    assert degraded["status"] == "True"
    assert "Sometimes" in degraded["message"] and "refused-blue" in degraded["message"], degraded
    assert "ChildRejected" in status["message"]
    warnings = [e for e in await view.events() if e["reason"] == "ChildRejected"]
    assert warnings and warnings[0]["type"] == "Warning" and "Sometimes" in warnings[0]["message"]
    assert all("postgresql://" not in e["message"] for e in warnings)
    # Fixed spec: the Deployment is written and the condition clears.
    await view.patch({"spec": {"podTemplate": {"affinity": None}}})
    status = await view.wait_status(lambda s: not rejected(s) and s.get("epoch") == 1, "recovered")
    assert {c["type"]: c for c in status["conditions"]}["Degraded"]["status"] == "False"


# --- item 12: a hand-edited Service selector is restored ----------------------------------------------


@pytest.mark.parametrize("edit", ["color", "extra-key"])
async def test_a_hand_edited_service_selector_is_restored(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient, edit: str
) -> None:
    name = f"svc-{edit}"
    view = new_view(k8s_api, bot_ns, name)
    await _first_rollout(view)
    await view.wait_service("blue")
    path = f"/api/v1/namespaces/{bot_ns}/services/{name}"
    original = (await view.kube.request("GET", path))["spec"]["selector"]
    selector = {**original, "ploy.dev/color": "green"} if edit == "color" else {**original, "x": "y"}
    await view.kube.request(
        "PATCH",
        path,
        body=[{"op": "replace", "path": "/spec/selector", "value": selector}],
        content_type=JSON_PATCH,
    )

    async def restored() -> bool:
        live: JSON = await view.kube.request("GET", path)
        return bool(live["spec"]["selector"] == original)

    await eventually(restored, f"the {edit} edit of the selector is undone", within=10)
    assert (await view.status())["epoch"] == 1
