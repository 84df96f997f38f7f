"""The main job on a real node: both charts installed with helm, the operator and the bot running as
real pods of the image built from the Dockerfile, rollouts gated by the bot's real readiness probe.

First rollout Healthy under epoch 1 (the pod learns its role through its own ServiceAccount); a new
version is promoted (epoch 2); then the promoted bot really loses its database (its packets to
PostgreSQL are rejected), its ``/health/ready`` answers 503, kubelet marks it NotReady and the
operator rolls back onto the still-warm previous color (epoch 3); uninstalling the bot's release
garbage-collects every child."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.cluster import crds_dir
from tests.support.mainjob import OPERATOR_CHART, REPO
from tests.support.postgres import PostgresServer
from tests.support.realnode import NODE_IP, NODE_NAME, NodeCluster, wait_for

pytestmark = pytest.mark.node
BOT = "arb"
BOT_CHART = REPO / "charts" / "tradingbot"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # first address of LocalCluster's --service-cluster-ip-range
ROLLOUT = {
    "autoPromote": "true",
    "bakeSeconds": "3",
    "maxRestarts": "0",
    "progressDeadlineSeconds": "180",
    "postPromotionSeconds": "120",
    "scaleDownDelaySeconds": "300",
}


@dataclass
class Release:
    """Both charts installed on the node cluster for one bot namespace."""

    cluster: NodeCluster
    op_ns: str
    bot_ns: str
    repository: str
    tag: str
    bot_values: dict[str, str] = field(default_factory=dict)
    """Extra values of the bot chart, each a JSON value (``"0.25"``, ``'"2s"'``)."""

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.handle.kubectl(*args, check=check)

    def install_bot(self, tag: str) -> None:
        """``helm upgrade --install`` the tradingbot chart with image ``repository:tag``."""
        sets = {
            "name": BOT,
            "image.repository": self.repository,
            "image.tag": tag,
            "database.secretRef.name": "bot-db",
            **{f"rollout.{k}": v for k, v in ROLLOUT.items()},
        }
        args = ["upgrade", "--install", "bot", str(BOT_CHART), "-n", self.bot_ns]
        args += ["--wait", "--timeout", "120s"]
        # helm applies --set after --set-json whatever their order: a key of bot_values is left out here.
        for key, value in sets.items():
            if key not in self.bot_values:
                args += ["--set-string" if key == "image.tag" else "--set", f"{key}={value}"]
        for key, value in self.bot_values.items():  # JSON: --set would keep 0.25 a string
            args += ["--set-json", f"{key}={value}"]
        self.cluster.handle.helm(*args)

    def status(self) -> dict[str, Any]:
        out = self.kubectl("-n", self.bot_ns, "get", "tb", BOT, "-o", "json").stdout
        status: dict[str, Any] = json.loads(out).get("status") or {}
        return status

    def color_pods(self, color: str) -> list[dict[str, Any]]:
        return self.cluster.pods(self.bot_ns, f"ploy.dev/tradingbot={BOT},ploy.dev/color={color}")

    def ready_pod(self, color: str) -> dict[str, Any] | None:
        for pod in self.color_pods(color):
            conditions = pod.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return pod
        return None

    def logs(self, pod: dict[str, Any]) -> str:
        return self.kubectl("-n", self.bot_ns, "logs", pod["metadata"]["name"], check=False).stdout

    def diagnostics(self) -> str:
        """TradingBot, pods, events and the operator's and bots' logs, for a failure message."""
        parts = [
            self.kubectl("-n", self.bot_ns, "get", "tb", BOT, "-o", "yaml", check=False).stdout,
            self.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout,
            self.kubectl("-n", self.bot_ns, "get", "events", "--sort-by=.lastTimestamp", check=False).stdout,
        ]
        for ns, selector in (
            (self.op_ns, "app.kubernetes.io/name=ploy-operator"),
            (self.bot_ns, f"ploy.dev/tradingbot={BOT}"),
        ):
            parts.append(
                self.kubectl("-n", ns, "logs", "-l", selector, "--tail=60", "--prefix", check=False).stdout
            )
        return "\n".join(parts)

    def selector_color(self) -> str:
        svc = json.loads(self.kubectl("-n", self.bot_ns, "get", "service", BOT, "-o", "json").stdout)
        return str(svc["spec"]["selector"]["ploy.dev/color"])


@pytest.fixture
def release(node_cluster: NodeCluster, pod_postgres: PostgresServer) -> Iterator[Release]:
    with installed_release(node_cluster, pod_postgres) as installed:
        yield installed


@contextlib.contextmanager
def installed_release(
    node_cluster: NodeCluster,
    pod_postgres: PostgresServer,
    operator_values: dict[str, str] | None = None,
    bot_values: dict[str, str] | None = None,
) -> Iterator[Release]:
    """The operator chart installed and running as a pod for a fresh bot namespace (its database
    Secret created); the bot chart is installed by :meth:`Release.install_bot` with ``bot_values``
    added to its values. ``operator_values`` are extra ``--set`` values of the operator chart."""
    suffix = uuid.uuid4().hex[:6]
    op_ns, bot_ns = f"node-op-{suffix}", f"node-bot-{suffix}"
    handle = node_cluster.handle
    repository, tag = node_cluster.bot_image.rsplit(":", 1)
    for crd in sorted(crds_dir().glob("monitoring-*.yaml")):
        handle.kubectl("apply", "--server-side", "-f", str(crd))
    handle.kubectl("create", "namespace", bot_ns)
    handle.kubectl("label", "namespace", bot_ns, "pod-security.kubernetes.io/enforce=restricted")
    dsn = f"postgresql://postgres@{NODE_IP}:{pod_postgres.port}/postgres"
    handle.kubectl("-n", bot_ns, "create", "secret", "generic", "bot-db", f"--from-literal=url={dsn}")
    extra = [arg for key, value in (operator_values or {}).items() for arg in ("--set", f"{key}={value}")]
    handle.helm(
        "upgrade", "--install", "ploy", str(OPERATOR_CHART), "-n", op_ns, "--create-namespace",
        "--set", "replicaCount=0", "--set", "podDisruptionBudget.enabled=false",
        "--set", f"image.repository={repository}", "--set-string", f"image.tag={tag}",
        "--set", "image.pullPolicy=Never", "--set", f"watchNamespaces[0]={bot_ns}", *extra,
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    # kopf connects in a pod to https://kubernetes.default.svc by name, and this cluster has no DNS
    # server: the name is given to the pod as a host alias of the kubernetes Service's ClusterIP.
    deployment = "deployment/ploy-ploy-operator"
    alias = [{"op": "add", "path": "/spec/template/spec/hostAliases",
              "value": [{"ip": KUBERNETES_SERVICE_IP, "hostnames": ["kubernetes.default.svc"]}]}]  # fmt: skip
    handle.kubectl("-n", op_ns, "patch", deployment, "--type=json", f"-p={json.dumps(alias)}")
    handle.kubectl("-n", op_ns, "scale", deployment, "--replicas=1")
    handle.kubectl("-n", op_ns, "rollout", "status", deployment, "--timeout=180s", timeout=200)
    try:
        yield Release(node_cluster, op_ns, bot_ns, repository, tag, dict(bot_values or {}))
    finally:
        handle.helm("uninstall", "bot", "-n", bot_ns, check=False)
        handle.helm("uninstall", "ploy", "-n", op_ns, check=False)
        for ns in (bot_ns, op_ns):
            handle.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@contextlib.contextmanager
def database_unreachable_from(pod_ip: str, port: int) -> Iterator[None]:
    """Reject (TCP reset) every packet from ``pod_ip`` to PostgreSQL on the bridge address, open
    connections included, for the duration of the block."""
    rule = ["INPUT", "-s", pod_ip, "-d", NODE_IP, "-p", "tcp", "--dport", str(port),
            "-j", "REJECT", "--reject-with", "tcp-reset"]  # fmt: skip
    subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)


def test_real_blue_green_with_rollback(release: Release, pod_postgres: PostgresServer) -> None:
    try:
        _main_job(release, pod_postgres)
    except AssertionError:
        print(release.diagnostics())
        raise


def _main_job(release: Release, pod_postgres: PostgresServer) -> None:
    # The operator itself runs as a pod of the same image, under the chart's ServiceAccount.
    operator = release.cluster.pods(release.op_ns, "app.kubernetes.io/name=ploy-operator")
    assert [p["spec"]["nodeName"] for p in operator] == [NODE_NAME]

    release.install_bot(release.tag)
    first = wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("epoch") == 1 and s,
        "first rollout Healthy under epoch 1", 180,
    )  # fmt: skip
    blue = first["activeColor"]
    pod = wait_for(lambda: release.ready_pod(blue), f"a Ready {blue} pod", 30)
    assert pod["spec"]["nodeName"] == NODE_NAME
    # The pod's own ServiceAccount may watch its TradingBot: it learns it is active and trades.
    wait_for(lambda: "trading enabled under epoch 1" in release.logs(pod), "blue trading under epoch 1", 60)
    assert "(403)" not in release.logs(pod) and "Forbidden" not in release.logs(pod)

    next_tag = f"{release.tag}-next"
    release.cluster.tag(f"{release.repository}:{release.tag}", f"{release.repository}:{next_tag}")
    release.install_bot(next_tag)
    promoted = wait_for(
        lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") != blue and s,
        "promotion of the new version (epoch 2)", 180,
    )  # fmt: skip
    green = promoted["activeColor"]
    wait_for(lambda: release.selector_color() == green, f"active Service -> {green}", 15)
    green_pod = wait_for(lambda: release.ready_pod(green), f"a Ready {green} pod", 30)
    wait_for(lambda: "trading enabled under epoch 2" in release.logs(green_pod), "green trading", 60)

    # A real failure inside the post-promotion window: green loses its database, its readiness probe
    # fails (/health/ready 503), kubelet marks it NotReady, the operator rolls back onto warm blue.
    with database_unreachable_from(green_pod["status"]["podIP"], pod_postgres.port):
        rolled_back = wait_for(
            lambda: ((s := release.status()).get("lastRollout") or {}).get("result") == "RolledBack" and s,
            "automatic rollback after green lost its database", 120,
        )  # fmt: skip
    assert rolled_back["activeColor"] == blue
    assert rolled_back["epoch"] == 3
    assert rolled_back["lastRollout"]["reason"] == "ReadinessLost"
    # kubelet's own record of why: the real probe got 503 from the bot's /health/ready.
    events = json.loads(
        release.kubectl(
            "-n", release.bot_ns, "get", "events", "-o", "json",
            f"--field-selector=involvedObject.name={green_pod['metadata']['name']},reason=Unhealthy",
        ).stdout
    )["items"]  # fmt: skip
    assert any("Readiness probe failed" in e["message"] and "503" in e["message"] for e in events), events
    wait_for(lambda: release.selector_color() == blue, f"active Service back on {blue}", 15)
    blue_pod = wait_for(lambda: release.ready_pod(blue), f"the warm {blue} pod Ready", 30)
    wait_for(lambda: "trading enabled under epoch 3" in release.logs(blue_pod), "blue trading again", 60)

    # Uninstalling the bot's release deletes the TradingBot; its children are garbage-collected.
    release.cluster.handle.helm("uninstall", "bot", "-n", release.bot_ns, "--wait", "--timeout", "120s")

    def children_left() -> bool:
        out = release.kubectl(
            "-n", release.bot_ns, "get", "deployments,services,configmaps,pods",
            "-l", f"ploy.dev/tradingbot={BOT}", "-o", "json",
        ).stdout  # fmt: skip
        return not json.loads(out)["items"]

    wait_for(children_left, "children garbage-collected", 120)
