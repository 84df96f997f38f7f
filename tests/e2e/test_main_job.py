"""The main job end to end, without the display: helm install → kubectl apply → promote → bad version →
automatic rollback → delete with finalizers cleaned up. The operator runs as a local process
authenticated as the chart's ServiceAccount, so the chart's RBAC is what gets exercised."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import ClusterHandle, crds_dir
from tests.support.mainjob import (
    demo_tradingbot,
    install_operator_chart,
    prepare_bot_namespace,
    start_operator,
    token_kubeconfig,
    wait_http,
)
from tests.support.postgres import free_port

pytestmark = pytest.mark.cluster
BOT = "arb"
ROLLOUT = {
    "autoPromote": True,
    "bakeSeconds": 2,
    "maxRestarts": 0,
    "progressDeadlineSeconds": 60,
    "postPromotionSeconds": 5,
    "scaleDownDelaySeconds": 5,
}


class MainJob:
    """One operator release watching one bot namespace."""

    def __init__(self, cluster: ClusterHandle, bot_ns: str) -> None:
        self.cluster = cluster
        self.bot_ns = bot_ns

    def apply(self, image: str, fault: str | None = None) -> None:
        manifest = demo_tradingbot(BOT, self.bot_ns, image, fault, ROLLOUT)
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def status(self) -> dict[str, Any]:
        obj = json.loads(self.cluster.kubectl("-n", self.bot_ns, "get", "tb", BOT, "-o", "json").stdout)
        status: dict[str, Any] = obj.get("status") or {}
        return status

    def wait(self, done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if done(status):
                return status
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last status: {status}")

    def wait_selector(self, color: str) -> None:
        """The active Service follows status.activeColor right after the status write
        (docs/ARCHITECTURE.md, "The gate and the switch")."""
        self.wait(lambda _s: self.active_selector_color() == color, f"active Service -> {color}", 15)

    def active_selector_color(self) -> str:
        svc = json.loads(self.cluster.kubectl("-n", self.bot_ns, "get", "service", BOT, "-o", "json").stdout)
        return str(svc["spec"]["selector"]["ploy.dev/color"])

    def replicas(self, color: str) -> int:
        dep = json.loads(
            self.cluster.kubectl(
                "-n", self.bot_ns, "get", "deployment", f"{BOT}-{color}", "-o", "json"
            ).stdout
        )
        return int(dep["spec"]["replicas"])


@pytest.fixture
def main_job(cluster: ClusterHandle, tmp_path: Path) -> Iterator[MainJob]:
    suffix = uuid.uuid4().hex[:6]
    op_ns, bot_ns = f"e2e-op-{suffix}", f"e2e-bot-{suffix}"
    for crd in sorted(crds_dir().glob("monitoring-*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(crd))
    prepare_bot_namespace(cluster, bot_ns, BOT)
    account = install_operator_chart(cluster, f"ploy-{suffix}", op_ns, watch_namespaces=[bot_ns])
    kubeconfig = token_kubeconfig(cluster, op_ns, account, tmp_path / "operator.kubeconfig")
    liveness = free_port()
    operator = start_operator(kubeconfig, tmp_path / "operator.log", [bot_ns], free_port(), liveness)
    try:
        assert wait_http(f"http://127.0.0.1:{liveness}/healthz", 60), (tmp_path / "operator.log").read_text()
        yield MainJob(cluster, bot_ns)
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        cluster.helm("uninstall", f"ploy-{suffix}", "--namespace", op_ns, check=False)
        for ns in (bot_ns, op_ns):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_main_job(main_job: MainJob, cluster: ClusterHandle) -> None:
    main_job.apply("registry.example/ploy-bot:1.0.0")
    first = main_job.wait(lambda s: s.get("phase") == "Healthy" and s.get("epoch") == 1, "first rollout")
    main_job.wait_selector(first["activeColor"])

    main_job.apply("registry.example/ploy-bot:1.1.0")
    promoted = main_job.wait(lambda s: s.get("phase") == "Healthy" and s.get("epoch") == 2, "promotion")
    assert promoted["activeColor"] != first["activeColor"]
    main_job.wait_selector(promoted["activeColor"])
    assert promoted["lastRollout"]["result"] == "Promoted"

    main_job.apply("registry.example/ploy-bot:1.2.0", fault="crash-loop")
    rolled_back = main_job.wait(
        lambda s: (s.get("lastRollout") or {}).get("result") == "RolledBack", "automatic rollback"
    )
    assert rolled_back["activeColor"] == promoted["activeColor"]  # the good version keeps trading
    assert rolled_back["epoch"] == 2  # never promoted, so the fence never moved
    assert rolled_back["phase"] == "Degraded"
    assert main_job.active_selector_color() == promoted["activeColor"]
    bad_color = "blue" if promoted["activeColor"] == "green" else "green"
    main_job.wait(lambda _s: main_job.replicas(bad_color) == 0, "the failed color scaled to 0", 30)

    cluster.kubectl("-n", main_job.bot_ns, "delete", "tb", BOT, "--timeout=60s")
    assert cluster.kubectl("-n", main_job.bot_ns, "get", "tb", BOT, check=False).returncode != 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = json.loads(
            cluster.kubectl(
                "-n", main_job.bot_ns, "get", "deployments,services,configmaps",
                "-l", f"ploy.dev/tradingbot={BOT}", "-o", "json",
            ).stdout
        )["items"]  # fmt: skip
        if not left:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"children not garbage-collected: {[i['metadata']['name'] for i in left]}")
