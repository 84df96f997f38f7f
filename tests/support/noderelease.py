"""Both charts installed on the real node for one bot namespace (the ``node`` tier's e2e tests): the
operator as a pod of the project image, the bot's TradingBot through the tradingbot chart, and the
ledger the pods write, read back with ``psql`` on PostgreSQL's loopback listener."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.cluster import crds_dir
from tests.support.mainjob import OPERATOR_CHART, REPO
from tests.support.postgres import PostgresServer
from tests.support.realnode import E2ECluster

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

    cluster: E2ECluster
    postgres: PostgresServer
    op_ns: str
    bot_ns: str
    repository: str
    tag: str
    bot_values: dict[str, str] = field(default_factory=dict)
    """Extra values of the bot chart on every install, each a JSON value (``"0.25"``, ``'"2s"'``)."""

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.handle.kubectl(*args, check=check)

    def install_bot(self, tag: str, values: dict[str, str] | None = None) -> None:
        """``helm upgrade --install`` the tradingbot chart with image ``repository:tag``, the rollout
        settings :data:`ROLLOUT`, ``values`` (chart values as strings, overriding) and
        :attr:`bot_values` (JSON, overriding both)."""
        sets = {
            "name": BOT,
            "image.repository": self.repository,
            "image.tag": tag,
            "database.secretRef.name": "bot-db",
            **{f"rollout.{k}": v for k, v in ROLLOUT.items()},
            **(values or {}),
        }
        args = ["upgrade", "--install", "bot", str(BOT_CHART), "-n", self.bot_ns]
        args += ["--wait", "--timeout", "120s"]
        # helm applies --set after --set-json whatever their order: a key of bot_values is left out here.
        for key, value in sets.items():
            if key in self.bot_values:
                continue
            string = key == "image.tag" or key.startswith(("feed.", "trading."))
            args += ["--set-string" if string else "--set", f"{key}={value}"]
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

    def sql(self, query: str, **params: str) -> list[list[str]]:
        """Rows of ``query`` on the ledger (``psql -At`` on the loopback listener), fields as text.
        ``params`` are psql variables, quoted by psql where the query says ``:'name'``."""
        variables = [arg for key, value in params.items() for arg in ("-v", f"{key}={value}")]
        out = subprocess.run(
            [str(self.postgres.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.postgres.port),
             "-U", "postgres", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", *variables, "-f", "-"],
            input=query, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        return [line.split("|") for line in out.splitlines() if line]

    @property
    def bot_id(self) -> str:
        """The ledger's ``orders.bot_id`` of this release's bot: ``<namespace>/<name>``."""
        return f"{self.bot_ns}/{BOT}"


def install_release(
    cluster: E2ECluster,
    postgres: PostgresServer,
    operator_values: dict[str, str] | None = None,
    bot_values: dict[str, str] | None = None,
) -> Iterator[Release]:
    """Install the operator chart (its pod on the node; ``operator_values`` are extra ``--set`` values)
    and prepare a bot namespace with the database Secret; yield the :class:`Release` (its
    :attr:`Release.bot_values` from ``bot_values``); uninstall both and delete the namespaces afterwards.
    One operator release at a time: the chart's cluster-scoped objects are named after the release."""
    suffix = uuid.uuid4().hex[:6]
    op_ns, bot_ns = f"node-op-{suffix}", f"node-bot-{suffix}"
    handle = cluster.handle
    repository, tag = cluster.bot_image.rsplit(":", 1)
    for crd in sorted(crds_dir().glob("monitoring-*.yaml")):
        handle.kubectl("apply", "--server-side", "-f", str(crd))
    handle.kubectl("create", "namespace", bot_ns)
    handle.kubectl("label", "namespace", bot_ns, "pod-security.kubernetes.io/enforce=restricted")
    dsn = f"postgresql://postgres@{cluster.host_ip}:{postgres.port}/postgres"
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
        yield Release(cluster, postgres, op_ns, bot_ns, repository, tag, dict(bot_values or {}))
    finally:
        handle.helm("uninstall", "bot", "-n", bot_ns, check=False)
        handle.helm("uninstall", "ploy", "-n", op_ns, check=False)
        for ns in (bot_ns, op_ns):
            handle.kubectl("delete", "namespace", ns, "--wait=false", check=False)


installed_release = contextlib.contextmanager(install_release)
""":func:`install_release` as a context manager, for a test that needs its own values."""
