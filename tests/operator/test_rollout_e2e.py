"""Blue-green rollouts end to end: the operator runs in-process against the real API server.

kwok plays the kubelet: pods become Ready within about a second unless a ``ploy.dev/fault`` label
(set through ``spec.podTemplate.labels``) injects never-ready, crash-loop or ready-then-fail.
Timings are short (bake 2 s, deadline 20 s, post-promotion window 8 s) so the suite stays fast.
"""

from __future__ import annotations

import asyncio

import pytest
from kubernetes.aio.client import ApiClient
from prometheus_client import CollectorRegistry

from tests.operator.operator_harness import (
    JSON,
    BotView,
    new_view,
    phase_is,
    rollout_spec,
    tradingbot,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

IMAGE_1 = "registry.example/ploy-bot:1.0.0"
IMAGE_2 = "registry.example/ploy-bot:1.1.0"


async def first_rollout(view: BotView, **spec: object) -> JSON:
    """Create the TradingBot and wait until blue is active (epoch 1, Healthy)."""
    manifest = tradingbot(view.name, image=IMAGE_1)
    manifest["spec"].update(spec)
    await view.create(manifest)
    status = await view.wait_status(
        lambda s: s.get("phase") == "Healthy" and s.get("activeColor") == "blue", "first rollout Healthy"
    )
    assert status["epoch"] == 1
    return status


async def test_first_rollout_then_promotion_keeps_endpoints(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "alpha")
    status = await first_rollout(view)
    assert status["lastRollout"]["result"] == "Promoted"
    await view.wait_service("blue")
    deployment = await view.deployment("blue")
    assert deployment is not None
    owner = deployment["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "TradingBot" and owner["controller"] and owner["blockOwnerDeletion"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {e["name"] for e in container["env"]} >= {"PLOY_COLOR", "PLOY_DATABASE_URL", "PLOY_CONFIG"}

    async def endpoints_ready() -> bool:
        return await view.ready_endpoints() > 0

    for _ in range(120):
        if await endpoints_ready():
            break
        await asyncio.sleep(0.25)
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(await view.ready_endpoints())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        await view.set_image(IMAGE_2)
        status = await view.wait_status(
            lambda s: s.get("activeColor") == "green" and s.get("epoch") == 2, "green promoted"
        )
        assert status["phase"] in ("Verifying", "Healthy")
        await view.wait_service("green")
        await asyncio.sleep(1.0)  # keep sampling across the endpoint controller's catch-up
    finally:
        done.set()
        await sampler
    assert samples and min(samples) > 0, f"active Service had no ready endpoint: {samples}"

    status = await view.wait_status(phase_is("Healthy"), "post-promotion window passed")
    assert status["lastRollout"]["result"] == "Promoted"
    assert status["stableRevision"] == status["activeRevision"]
    blue = await view.deployment("blue")
    assert blue is not None and blue["spec"]["replicas"] == 1, "blue stays warm until scaleDownDelaySeconds"
    await view.wait_status(lambda s: "standby" not in s, "blue scaled down", within=30)
    await view.wait_replicas("blue", 0)
    await view.assert_one_active()


async def test_never_ready_green_rolled_back_at_deadline(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "never")
    await first_rollout(view)
    await view.patch(
        {
            "spec": {
                "image": IMAGE_2,
                "rollout": rollout_spec(progressDeadlineSeconds=8),
                "podTemplate": {"labels": {"ploy.dev/fault": "never-ready"}},
            }
        }
    )
    status = await view.wait_status(phase_is("Degraded"), "rollback at the deadline", within=40)
    assert status["activeColor"] == "blue" and status["epoch"] == 1
    assert status["lastRollout"]["result"] == "RolledBack"
    assert status["lastRollout"]["reason"] == "ProgressDeadlineExceeded"
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ProgressDeadlineExceeded"
    await view.wait_service("blue")
    await view.wait_replicas("green", 0)
    assert await view.replicas("blue") == 1
    reasons = {e["reason"] for e in await view.events()}
    assert "ProgressDeadlineExceeded" in reasons


async def test_crash_loop_rolled_back_before_deadline(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "crashy")
    await first_rollout(view)
    await view.patch(
        {
            "spec": {
                "image": IMAGE_2,
                "rollout": rollout_spec(progressDeadlineSeconds=60, maxRestarts=1),
                "podTemplate": {"labels": {"ploy.dev/fault": "crash-loop"}},
            }
        }
    )
    status = await view.wait_status(phase_is("Degraded"), "crash-loop rollback", within=30)
    last = status["lastRollout"]
    assert last["reason"] == "TooManyRestarts" and last["result"] == "RolledBack"
    from tradingbot_operator.children import parse_time

    started, finished = parse_time(last["startedAt"]), parse_time(last["finishedAt"])
    assert started is not None and finished is not None
    assert (finished - started).total_seconds() < 30, "rolled back long before the 60 s deadline"
    assert status["activeColor"] == "blue" and status["epoch"] == 1
    await view.wait_service("blue")


async def test_ready_then_fail_after_promotion_rolls_back_to_warm_blue(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "flaky")
    await first_rollout(view)
    await view.patch(
        {
            "spec": {
                "image": IMAGE_2,
                "rollout": rollout_spec(postPromotionSeconds=20, scaleDownDelaySeconds=20),
                "podTemplate": {
                    "labels": {"ploy.dev/fault": "ready-then-fail"},
                    "annotations": {"ploy.dev/fail-after": "6s"},
                },
            }
        }
    )
    await view.wait_status(lambda s: s.get("activeColor") == "green", "green promoted")
    status = await view.wait_status(
        lambda s: s.get("activeColor") == "blue" and s.get("epoch") == 3, "rollback to blue", within=30
    )
    assert status["lastRollout"]["result"] == "RolledBack"
    assert status["lastRollout"]["reason"] == "ReadinessLost"
    await view.wait_service("blue")
    assert view.epochs == sorted(view.epochs)
    await view.wait_replicas("green", 0)
    assert "RolledBack" in {e["reason"] for e in await view.events()}
    rollbacks = operator.get_sample_value("ploy_operator_time_to_rollback_seconds_count")
    assert rollbacks is not None and rollbacks >= 1
    rolled_back = {"namespace": bot_ns, "name": "flaky", "result": "RolledBack"}
    assert (operator.get_sample_value("ploy_operator_rollouts_total", rolled_back) or 0) >= 1
    epoch = operator.get_sample_value("ploy_operator_active_epoch", {"namespace": bot_ns, "name": "flaky"})
    assert epoch == 3


async def test_manual_promote_abort_and_retry(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "manual")
    await first_rollout(view)
    await view.patch({"spec": {"image": IMAGE_2, "rollout": rollout_spec(autoPromote=False)}})
    await view.wait_status(phase_is("AwaitingPromotion"), "gate passed, waiting for promote")
    assert (await view.status())["activeColor"] == "blue"
    await view.annotate("ploy.dev/promote", "1")
    status = await view.wait_status(lambda s: s.get("activeColor") == "green", "manual promotion")
    assert status["epoch"] == 2 and status["handledActions"]["promote"] == "1"
    await view.wait_status(phase_is("Healthy"), "window passed")

    # Abort a rollout before promotion, then retry the same revision.
    await view.set_image("registry.example/ploy-bot:1.2.0")
    await view.wait_status(phase_is("AwaitingPromotion", "Baking"), "third revision gated")
    await view.annotate("ploy.dev/abort", "stop")
    status = await view.wait_status(phase_is("Degraded"), "aborted")
    assert status["lastRollout"]["result"] == "Aborted" and status["activeColor"] == "green"
    await view.annotate("ploy.dev/retry", "again")
    await view.wait_status(phase_is("AwaitingPromotion"), "retried revision gated again")
    await view.annotate("ploy.dev/promote", "2")
    status = await view.wait_status(lambda s: s.get("activeColor") == "blue", "retried revision promoted")
    assert status["epoch"] == 3
    await view.assert_one_active()


async def test_superseding_revision_mid_rollout(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "super")
    await first_rollout(view)
    await view.patch({"spec": {"image": IMAGE_2, "rollout": rollout_spec(bakeSeconds=10)}})
    first = await view.wait_status(lambda s: "rollout" in s, "second revision rolling out")
    await view.set_image("registry.example/ploy-bot:1.3.0")
    status = await view.wait_status(
        lambda s: s.get("activeColor") == "green" and s.get("activeRevision") != first["rollout"]["revision"],
        "third revision promoted",
        within=40,
    )
    assert status["epoch"] == 2, "the superseded revision was never promoted"
    assert "Superseded" in {e["reason"] for e in await view.events()}


async def test_failing_migration_stops_rollout_before_green_starts(
    operator: CollectorRegistry, bot_ns: str, k8s_api: ApiClient
) -> None:
    view = new_view(k8s_api, bot_ns, "migr")
    await first_rollout(view)
    await view.patch(
        {
            "spec": {
                "image": IMAGE_2,
                "rollout": rollout_spec(migration={"enabled": True, "args": ["migrate"]}),
                "podTemplate": {"labels": {"ploy.dev/fault": "fail"}},
            }
        }
    )
    status = await view.wait_status(phase_is("Degraded"), "migration failure", within=40)
    assert status["lastRollout"]["reason"] == "MigrationFailed"
    assert status["activeColor"] == "blue" and status["epoch"] == 1
    green = await view.deployment("green")
    assert green is None or green["spec"]["replicas"] == 0, "green must not start after a failed migration"
    assert "MigrationFailed" in {e["reason"] for e in await view.events()}
