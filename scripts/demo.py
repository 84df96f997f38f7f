"""The demo behind ``make demo`` (see scripts/demo.sh). Run from the repository root.

Everything it starts is recorded in ``$PLOY_CACHE/demo/state.json`` and stopped by ``demo.py down``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live
from rich.panel import Panel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.cluster import ClusterHandle, crds_dir, default_bin_dir  # noqa: E402
from tests.support.postgres import PostgresServer, free_port  # noqa: E402
from tradingbot_operator.ctl import render  # noqa: E402
from tradingbot_operator.localcluster import LocalCluster  # noqa: E402

console = Console()
CACHE = Path(os.environ.get("PLOY_CACHE", Path.home() / ".cache" / "ploy"))
DEMO = CACHE / "demo"
STATE = DEMO / "state.json"
OPERATOR_NS = "ploy-system"
BOT_NS = "demo"
BOT = "polymarket-arb"
# The market of the recording the bot replays (shared/data/polymarket/ws_market_burst.json).
CONDITION_ID = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
TOKENS = [
    "76670567130917723816490572615540605537878462672464291990940067659127658071111",
    "54179564009642723353355316176091991063553046330768303687769988635499280029688",
]


def step(n: int, total: int, text: str) -> None:
    console.rule(f"[bold]step {n}/{total}[/bold] {text}")


def tradingbot(image: str, fault: str | None = None) -> dict[str, Any]:
    """The demo's TradingBot; ``fault`` sets the kwok failure-injection label on its pods."""
    return {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": BOT, "namespace": BOT_NS},
        "spec": {
            "image": image,
            "replicas": 1,
            "trading": {
                "mode": "paper",
                "markets": [{"conditionId": CONDITION_ID, "tokens": TOKENS}],
                "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "50"},
                "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100", "killSwitch": False},
            },
            "database": {"secretRef": {"name": "bot-db", "key": "url"}},
            "rollout": {
                "autoPromote": True,
                "bakeSeconds": 5,
                "maxRestarts": 0,
                "progressDeadlineSeconds": 90,
                "postPromotionSeconds": 10,
                "scaleDownDelaySeconds": 30,
            },
            "podTemplate": {"labels": {"ploy.dev/fault": fault} if fault else {}},
        },
    }


def start_detached(name: str, argv: list[str], env: dict[str, str]) -> int:
    log = (DEMO / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    return proc.pid


def wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            if resp.status < 500:
                return True
        time.sleep(0.5)
    return False


def watch(cluster: ClusterHandle, done: Any, what: str, timeout: float) -> dict[str, Any]:
    """Show the TradingBot live until ``done(status)`` holds; returns the final status."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    with Live(console=console, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            obj = json.loads(cluster.kubectl("-n", BOT_NS, "get", "tb", BOT, "-o", "json").stdout)
            status = obj.get("status") or {}
            live.update(Panel(render([obj]), title=what))
            if done(status):
                return status
            time.sleep(0.5)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for: {what}\nlast status: {status}")


def up() -> None:
    total = 8
    DEMO.mkdir(parents=True, exist_ok=True)
    if STATE.exists():
        console.print("a previous demo is still running; stopping it first")
        down()
    state: dict[str, Any] = {"pids": {}}

    step(1, total, "local control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok)")
    LocalCluster.stop_detached(DEMO / "cluster")
    local = LocalCluster(workdir=DEMO / "cluster", bin_dir=default_bin_dir(), detach=True, log=console.log)
    local.start()
    cluster = ClusterHandle(kubeconfig=local.kubeconfig, server=local.server, bin_dir=local.bin_dir)
    state["kubeconfig"] = str(local.kubeconfig)
    STATE.write_text(json.dumps(state))
    for crd in sorted(crds_dir().glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(crd))

    step(2, total, "helm install ploy-operator (CRD, RBAC, ServiceAccount) into ploy-system")
    cluster.helm(
        "upgrade",
        "--install",
        "ploy-operator",
        str(REPO / "charts/ploy-operator"),
        "--namespace",
        OPERATOR_NS,
        "--create-namespace",
        "--set",
        "replicaCount=0",  # the operator runs as a local process below, as the chart's ServiceAccount
        "--wait",
        "--timeout",
        "120s",
    )
    console.print(cluster.helm("list", "-A").stdout)

    step(
        3,
        total,
        "operator as a local process, authenticated with a TokenRequest token of the chart's ServiceAccount",
    )
    sa = json.loads(cluster.kubectl("-n", OPERATOR_NS, "get", "serviceaccount", "-o", "json").stdout)
    sa_name = next(i["metadata"]["name"] for i in sa["items"] if i["metadata"]["name"] != "default")
    token = cluster.kubectl("-n", OPERATOR_NS, "create", "token", sa_name, "--duration=24h").stdout.strip()
    ca = base64.b64encode((local.workdir / "pki" / "ca.crt").read_bytes()).decode()
    op_kubeconfig = DEMO / "operator.kubeconfig"
    op_kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "operator",
                "clusters": [
                    {"name": "local", "cluster": {"server": local.server, "certificate-authority-data": ca}}
                ],
                "users": [{"name": sa_name, "user": {"token": token}}],
                "contexts": [{"name": "operator", "context": {"cluster": "local", "user": sa_name}}],
            }
        )
    )
    op_kubeconfig.chmod(0o600)
    metrics_port, liveness_port = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(op_kubeconfig)}
    state["pids"]["operator"] = start_detached(
        "operator",
        [
            str(REPO / ".venv/bin/ploy-operator"),
            "run",
            "--all-namespaces",
            "--metrics-port",
            str(metrics_port),
            "--liveness",
            f"http://127.0.0.1:{liveness_port}/healthz",
        ],
        env,
    )
    STATE.write_text(json.dumps(state))
    if not wait_http(f"http://127.0.0.1:{liveness_port}/healthz", 60):
        raise SystemExit(f"demo: the operator did not come up; see {DEMO / 'operator.log'}")
    console.print(
        f"operator pid {state['pids']['operator']} as system:serviceaccount:{OPERATOR_NS}:{sa_name}"
    )

    step(4, total, "PostgreSQL + a real bot process (standalone, replay feed) for /health and /metrics")
    # Not under $HOME: PostgreSQL runs as the postgres user, who cannot enter root's home.
    pg = PostgresServer(root=Path(tempfile.gettempdir()) / "ploy-demo-postgres", port=free_port())
    if not (pg.datadir / "PG_VERSION").exists():
        pg.init()
    pg.start()
    state["postgres"] = {"root": str(pg.root), "port": pg.port}
    bot_port = free_port()
    state["pids"]["bot"] = start_detached(
        "bot",
        [str(REPO / ".venv/bin/ploy-bot"), "run"],
        {**os.environ, "PLOY_DATABASE_URL": pg.dsn, "PLOY_HTTP_PORT": str(bot_port)},
    )
    STATE.write_text(json.dumps(state))
    bot_ok = wait_http(f"http://127.0.0.1:{bot_port}/health/live", 60)
    console.print(
        f"bot pid {state['pids']['bot']} on :{bot_port} ({'up' if bot_ok else 'NOT UP, see bot.log'})"
    )

    step(5, total, f"kubectl apply TradingBot {BOT_NS}/{BOT} 1.0.0 — first rollout on blue")
    cluster.kubectl("create", "namespace", BOT_NS, check=False)
    cluster.kubectl(
        "label", "namespace", BOT_NS, "pod-security.kubernetes.io/enforce=restricted", "--overwrite"
    )
    cluster.kubectl(
        "-n",
        BOT_NS,
        "create",
        "secret",
        "generic",
        "bot-db",
        f"--from-literal=url=postgresql://bot@db.{BOT_NS}.svc:5432/bot",
        check=False,
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tradingbot("registry.example/ploy-bot:1.0.0")))
    watch(cluster, lambda s: s.get("phase") == "Healthy" and s.get("epoch", 0) >= 1, "first rollout", 120)

    step(6, total, "kubectl apply 1.1.0 — green warms up as standby, passes the gate, is promoted (epoch +1)")
    epoch = int(
        json.loads(cluster.kubectl("-n", BOT_NS, "get", "tb", BOT, "-o", "json").stdout)["status"]["epoch"]
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tradingbot("registry.example/ploy-bot:1.1.0")))
    watch(
        cluster,
        lambda s: s.get("phase") == "Healthy" and int(s.get("epoch", 0)) > epoch,
        "promotion of 1.1.0",
        150,
    )

    step(
        7,
        total,
        "kubectl apply 1.2.0 whose pods crash-loop — automatic rollback, the active color keeps trading",
    )
    before = json.loads(cluster.kubectl("-n", BOT_NS, "get", "tb", BOT, "-o", "json").stdout)["status"]
    cluster.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump(tradingbot("registry.example/ploy-bot:1.2.0", "crash-loop"))
    )
    final = watch(
        cluster,
        lambda s: (s.get("lastRollout") or {}).get("result") == "RolledBack",
        "crash-looping 1.2.0",
        150,
    )
    console.print(
        f"active color stayed [bold]{final.get('activeColor')}[/bold] (was {before.get('activeColor')}), "
        f"epoch {final.get('epoch')}, reason: {(final.get('lastRollout') or {}).get('reason')}"
    )

    step(8, total, "left running — how to look and how to clean up")
    kc = local.kubeconfig
    console.print(
        Panel.fit(
            f"export KUBECONFIG={kc}\n"
            f"kubectl get tb -A -w\n"
            f".venv/bin/ploy status -n {BOT_NS} --watch\n"
            f"kubectl -n {BOT_NS} get deploy,svc,pods -l ploy.dev/tradingbot={BOT}\n"
            f"kubectl -n {BOT_NS} get events --field-selector involvedObject.kind=TradingBot\n\n"
            f"bot:      http://127.0.0.1:{bot_port}/health   http://127.0.0.1:{bot_port}/metrics\n"
            f"operator: http://127.0.0.1:{metrics_port}/metrics   logs: {DEMO / 'operator.log'}\n\n"
            f"clean up: bash scripts/demo.sh down",
            title="the demo is running",
        )
    )


def down() -> None:
    if STATE.exists():
        state = json.loads(STATE.read_text())
        for pid in state.get("pids", {}).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        if pg := state.get("postgres"):
            with contextlib.suppress(Exception):
                PostgresServer(root=Path(pg["root"]), port=pg["port"]).stop()
        STATE.unlink()
    stopped = LocalCluster.stop_detached(DEMO / "cluster")
    console.print("demo stopped" + (" (control plane stopped)" if stopped else ""))


if __name__ == "__main__":
    down() if sys.argv[1:] == ["down"] else up()
