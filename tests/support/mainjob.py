"""The main job's building blocks, shared by ``make demo`` (scripts/demo.py) and the e2e test: install
the operator chart with helm, mint a TokenRequest kubeconfig for the chart's ServiceAccount, run the
operator as a local process under it, and the demo TradingBot manifest."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import ClusterHandle
from tests.support.tradingbot import SECRET_NAME, bot_rbac_manifests, bot_service_account, tradingbot_manifest

REPO = Path(__file__).resolve().parents[2]
OPERATOR_CHART = REPO / "charts" / "ploy-operator"
# The market of the recording the bot replays (shared/data/polymarket/ws_market_burst.json).
CONDITION_ID = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
TOKENS = [
    "76670567130917723816490572615540605537878462672464291990940067659127658071111",
    "54179564009642723353355316176091991063553046330768303687769988635499280029688",
]


def install_operator_chart(
    cluster: ClusterHandle, release: str, namespace: str, watch_namespaces: list[str] | None = None
) -> str:
    """``helm upgrade --install`` the operator chart with no in-cluster replicas (the operator runs as
    a local process under the chart's ServiceAccount instead); returns that ServiceAccount's name."""
    args = [
        "upgrade", "--install", release, str(OPERATOR_CHART),
        "--namespace", namespace, "--create-namespace",
        "--set", "replicaCount=0",
        "--wait", "--timeout", "120s",
    ]  # fmt: skip
    for i, ns in enumerate(watch_namespaces or []):
        args += ["--set", f"watchNamespaces[{i}]={ns}"]
    cluster.helm(*args)
    accounts = json.loads(cluster.kubectl("-n", namespace, "get", "serviceaccounts", "-o", "json").stdout)
    names = [a["metadata"]["name"] for a in accounts["items"] if a["metadata"]["name"] != "default"]
    assert len(names) == 1, f"expected the chart's one ServiceAccount in {namespace}, found {names}"
    return str(names[0])


def token_kubeconfig(cluster: ClusterHandle, namespace: str, account: str, out: Path) -> Path:
    """Write a kubeconfig that authenticates with a TokenRequest token of ``namespace/account`` (same
    server and CA as the admin kubeconfig)."""
    token = cluster.kubectl("-n", namespace, "create", "token", account, "--duration=24h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = str(admin["clusters"][0]["cluster"]["certificate-authority-data"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "operator",
        "clusters": [
            {"name": "local", "cluster": {"server": cluster.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": account}}],
    }
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def start_operator(
    kubeconfig: Path,
    log: Path,
    namespaces: list[str] | None,
    metrics_port: int,
    liveness_port: int,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``ploy-operator run`` as a process with ``KUBECONFIG=kubeconfig`` (all namespaces when
    ``namespaces`` is None); its output goes to ``log``."""
    scope = (
        ["--all-namespaces"] if namespaces is None else [a for ns in namespaces for a in ("--namespace", ns)]
    )
    argv = [
        str(REPO / ".venv" / "bin" / "ploy-operator"), "run", *scope,
        "--metrics-port", str(metrics_port),
        "--liveness", f"http://127.0.0.1:{liveness_port}/healthz",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            start_new_session=detach,
        )


def wait_http(url: str, timeout: float) -> bool:
    """Poll ``url`` until it answers below 500; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            if resp.status < 500:
                return True
        time.sleep(0.5)
    return False


def demo_tradingbot(
    name: str,
    namespace: str,
    image: str,
    fault: str | None = None,
    rollout: dict[str, Any] | None = None,
    secret: str = SECRET_NAME,
) -> dict[str, Any]:
    """The main job's TradingBot on the recorded market; ``fault`` sets kwok's failure-injection label.
    Its pods run as :func:`bot_service_account` (created by :func:`prepare_bot_namespace`)."""
    return tradingbot_manifest(
        name,
        image,
        namespace=namespace,
        condition_id=CONDITION_ID,
        tokens=TOKENS,
        labels={"ploy.dev/fault": fault} if fault else None,
        service_account=bot_service_account(name),
        secret=secret,
        rollout=rollout
        or {
            "autoPromote": True,
            "bakeSeconds": 5,
            "maxRestarts": 0,
            "progressDeadlineSeconds": 90,
            "postPromotionSeconds": 10,
            "scaleDownDelaySeconds": 30,
        },
    )


def prepare_bot_namespace(cluster: ClusterHandle, namespace: str, bot: str) -> None:
    """Namespace labelled for Pod Security ``restricted``, the database Secret the bot references and
    the bot pods' ServiceAccount with read access to TradingBot ``bot`` only."""
    cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", "--overwrite"
    )
    cluster.kubectl(
        "-n", namespace, "create", "secret", "generic", "bot-db",
        f"--from-literal=url=postgresql://bot@db.{namespace}.svc:5432/bot",
        check=False,
    )  # fmt: skip
    rbac = {"apiVersion": "v1", "kind": "List", "items": bot_rbac_manifests(bot, namespace)}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rbac))
