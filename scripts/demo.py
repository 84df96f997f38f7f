"""The demo behind ``make demo`` (see scripts/demo.sh). Run from the repository root.

Everything it starts is recorded in ``$PLOY_CACHE/demo/state.json`` and stopped by ``demo.py down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live
from rich.panel import Panel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo_gitops import gitops_leg  # noqa: E402  (scripts/ is on sys.path when run as a script)

from tests.support.cluster import ClusterHandle, crds_dir  # noqa: E402
from tests.support.mainjob import (  # noqa: E402
    demo_tradingbot,
    install_operator_chart,
    prepare_bot_namespace,
    start_operator,
    token_kubeconfig,
    wait_http,
)
from tests.support.postgres import PostgresServer, free_port  # noqa: E402
from tradingbot_operator.ctl import render  # noqa: E402
from tradingbot_operator.localcluster import LocalCluster, default_bin_dir  # noqa: E402

console = Console()
CACHE = Path(os.environ.get("PLOY_CACHE", Path.home() / ".cache" / "ploy"))
DEMO = CACHE / "demo"
STATE = DEMO / "state.json"
OPERATOR_NS = "ploy-system"
BOT_NS = "demo"
BOT = "polymarket-arb"


def step(n: int, total: int, text: str) -> None:
    console.rule(f"[bold]step {n}/{total}[/bold] {text}")


def start_detached(name: str, argv: list[str], env: dict[str, str]) -> int:
    with (DEMO / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return proc.pid


def tradingbot(image: str, fault: str | None = None) -> dict[str, Any]:
    return demo_tradingbot(BOT, BOT_NS, image, fault)


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
    total = 10
    DEMO.mkdir(parents=True, exist_ok=True)
    if STATE.exists():
        console.print("a previous demo is still running; stopping it first")
        down()
    state: dict[str, Any] = {"pids": {}}

    step(1, total, "local control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok)")
    LocalCluster.stop_detached(DEMO / "cluster")
    # A fresh etcd every time: a TradingBot left from an earlier demo would start at its old epoch.
    shutil.rmtree(DEMO / "cluster", ignore_errors=True)
    local = LocalCluster(workdir=DEMO / "cluster", bin_dir=default_bin_dir(), detach=True, log=console.log)
    local.start()
    cluster = ClusterHandle(kubeconfig=local.kubeconfig, server=local.server, bin_dir=local.bin_dir)
    state["kubeconfig"] = str(local.kubeconfig)
    STATE.write_text(json.dumps(state))
    for crd in sorted(crds_dir().glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(crd))

    step(2, total, "helm install ploy-operator (CRD, RBAC, ServiceAccount) into ploy-system")
    sa_name = install_operator_chart(cluster, "ploy-operator", OPERATOR_NS)
    console.print(cluster.helm("list", "-A").stdout)

    step(
        3, total, "operator as a local process, authenticated with a TokenRequest token of its ServiceAccount"
    )
    op_kubeconfig = token_kubeconfig(cluster, OPERATOR_NS, sa_name, DEMO / "operator.kubeconfig")
    metrics_port, liveness_port = free_port(), free_port()
    operator = start_operator(
        op_kubeconfig, DEMO / "operator.log", None, metrics_port, liveness_port, detach=True
    )
    state["pids"]["operator"] = operator.pid
    STATE.write_text(json.dumps(state))
    if not wait_http(f"http://127.0.0.1:{liveness_port}/healthz", 60):
        raise SystemExit(f"demo: the operator did not come up; see {DEMO / 'operator.log'}")
    console.print(f"operator pid {operator.pid} as system:serviceaccount:{OPERATOR_NS}:{sa_name}")

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
    prepare_bot_namespace(cluster, BOT_NS)
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

    def remember(pids: dict[str, int]) -> None:
        state["pids"].update(pids)
        STATE.write_text(json.dumps(state))

    legs = iter((8, 9))
    gitops = gitops_leg(console, cluster, DEMO, REPO, remember, lambda text: step(next(legs), total, text))

    step(10, total, "left running — how to look and how to clean up")
    kc = local.kubeconfig
    console.print(
        Panel.fit(
            f"export KUBECONFIG={kc}\n"
            f"kubectl get tb -A -w\n"
            f".venv/bin/ploy status -n {BOT_NS} --watch\n"
            f"kubectl -n {BOT_NS} get deploy,svc,pods -l ploy.dev/tradingbot={BOT}\n"
            f"kubectl -n {BOT_NS} get events --field-selector involvedObject.kind=TradingBot\n\n"
            f"bot:      http://127.0.0.1:{bot_port}/health   http://127.0.0.1:{bot_port}/metrics\n"
            f"operator: http://127.0.0.1:{metrics_port}/metrics   logs: {DEMO / 'operator.log'}\n"
            f"ArgoCD UI: {gitops['ui']}  (authentication OFF: demo only, loopback)\n"
            f"  argocd app list --server {gitops['server']} --plaintext\n"
            f"  git repository: {gitops['repo']} (commit + git push: ArgoCD polls every 30 s)\n\n"
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
