"""``ploy-operator run`` as a process: peering hand-over, liveness endpoint, Prometheus metrics.

Two operator processes share a KopfPeering (CRDs from ``tradingbot_operator/peering_crds.yaml``); the
one with the higher priority runs, the other pauses, and the rollout still completes exactly once.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest
from kubernetes.aio.client import ApiClient

from tests.operator.operator_harness import (
    REPO,
    create_db_secret,
    eventually,
    install_crd,
    new_view,
    operator_subprocess,
    rollout_spec,
    tradingbot,
)
from tests.support.cluster import ClusterHandle

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

PEERING_CRDS = REPO / "operator/tradingbot_operator/peering_crds.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _log_has(log: Path, text: str) -> bool:
    return log.is_file() and text in log.read_text(errors="replace")


async def _http_get(url: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return await client.get(url)
    except httpx.HTTPError:
        return None


async def test_peering_liveness_and_metrics(
    cluster: ClusterHandle, namespace: str, k8s_api: ApiClient, tmp_path: Path
) -> None:
    install_crd(cluster)
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.wait_crd_established("kopfpeerings.kopf.dev")
    cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        input="apiVersion: kopf.dev/v1\nkind: KopfPeering\nmetadata: {name: ploy}\n",
    )
    create_db_secret(cluster, namespace)
    metrics_port, liveness_port = _free_port(), _free_port()
    low_log, high_log = tmp_path / "low.log", tmp_path / "high.log"
    view = new_view(k8s_api, namespace, "peered")
    with operator_subprocess(
        cluster,
        namespace,
        low_log,
        "--peering",
        "ploy",
        "--priority",
        "10",
        "--metrics-port",
        str(metrics_port),
        "--liveness",
        f"http://127.0.0.1:{liveness_port}/healthz",
    ) as low:
        low.go()
        await view.create(tradingbot("peered"))
        await view.wait_status(lambda s: s.get("phase") == "Healthy" and s.get("epoch") == 1, "first rollout")

        async def live() -> bool:
            response = await _http_get(f"http://127.0.0.1:{liveness_port}/healthz")
            return response is not None and response.status_code == 200

        await eventually(live, "liveness endpoint answers 200")
        response = await _http_get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert response is not None and response.status_code == 200
        text = response.text
        assert f'ploy_operator_active_epoch{{name="peered",namespace="{namespace}"}} 1.0' in text
        assert (
            f'ploy_operator_rollouts_total{{name="peered",namespace="{namespace}",result="Promoted"}} 1.0'
        ) in text
        assert "ploy_operator_reconcile_errors_total 0.0" in text

        peering = await view.kube.get(f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/ploy")
        assert peering is not None and peering.get("status"), "the operator announces itself in the peering"

        with operator_subprocess(
            cluster, namespace, high_log, "--peering", "ploy", "--priority", "20"
        ) as high:
            high.go()

            async def low_paused() -> bool:
                return _log_has(low_log, "Pausing operations in favour of")

            await eventually(low_paused, "the lower priority operator pauses", within=60)
            await view.set_image("registry.example/ploy-bot:1.1.0")
            status = await view.wait_status(
                lambda s: s.get("activeColor") == "green" and s.get("phase") == "Healthy",
                "rollout by the leader",
            )
            assert status["epoch"] == 2
            await view.assert_one_active()
        assert "pass " in high_log.read_text(errors="replace"), "the higher priority operator did the work"


async def test_a_paused_replica_runs_no_pass_from_its_own_timers(
    cluster: ClusterHandle, namespace: str, k8s_api: ApiClient, tmp_path: Path
) -> None:
    """The low-priority replica holds a bake timer when the high one appears: while paused it must not
    run that pass (before the fix it promoted from it); after the high one leaves, it resumes."""
    install_crd(cluster)
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.wait_crd_established("kopfpeerings.kopf.dev")
    cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        input="apiVersion: kopf.dev/v1\nkind: KopfPeering\nmetadata: {name: ploy}\n",
    )
    create_db_secret(cluster, namespace)
    low_log, high_log = tmp_path / "low.log", tmp_path / "high.log"
    view = new_view(k8s_api, namespace, "timers")
    with operator_subprocess(cluster, namespace, low_log, "--peering", "ploy", "--priority", "10") as low:
        low.go()
        with operator_subprocess(
            cluster, namespace, high_log, "--peering", "ploy", "--priority", "20"
        ) as high:
            await view.create(
                tradingbot("timers", rollout=rollout_spec(bakeSeconds=12, progressDeadlineSeconds=60))
            )
            await view.wait_status(lambda s: bool((s.get("rollout") or {}).get("readySince")), "low bakes")
            high.go()  # the low replica now holds a timer for the bake's end

            async def low_paused() -> bool:
                return _log_has(low_log, "reconciler paused")

            await eventually(low_paused, "the low replica pauses its reconciler", within=60)
            paused_at = len(low_log.read_text(errors="replace"))
            status = await view.wait_status(
                lambda s: s.get("epoch") == 1, "promotion by the leader", within=90
            )
            assert status["activeColor"] == "blue"
            after_pause = low_log.read_text(errors="replace")[paused_at:]
            assert f"pass {namespace}/timers" not in after_pause, after_pause[-2000:]
            assert f"pass {namespace}/timers" in high_log.read_text(errors="replace")
            high.proc.send_signal(signal.SIGTERM)  # a graceful exit leaves the peering at once
            high.proc.wait(timeout=30)

        async def low_resumed() -> bool:
            return _log_has(low_log, "reconciler resumed")

        await eventually(low_resumed, "the low replica resumes", within=60)
        await view.set_image("registry.example/ploy-bot:1.1.0")
        status = await view.wait_status(
            lambda s: s.get("activeColor") == "green" and s.get("epoch") == 2,
            "rollout by the resumed replica",
            within=90,
        )
        await view.assert_one_active()
