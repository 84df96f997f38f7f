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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo_gitops import gitops_leg  # noqa: E402  (scripts/ is on sys.path when run as a script)

from ploy_localcluster import LocalCluster, default_bin_dir  # noqa: E402
from ploy_localcluster.launcher import FAKE_NODE_NAME  # noqa: E402
from ploy_localcluster.node import NODE_IP, NODE_NAME, POD_CIDR  # noqa: E402
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
from tests.support.realnode import build_images  # noqa: E402
from tests.support.tradingbot import SECRET_NAME  # noqa: E402
from tradingbot_operator.status_view import render  # noqa: E402

console = Console()
CACHE = Path(os.environ.get("PLOY_CACHE", Path.home() / ".cache" / "ploy"))
DEMO = CACHE / "demo"
STATE = DEMO / "state.json"
OPERATOR_NS = "ploy-system"
BOT_NS = "demo"
BOT = "polymarket-arb"
IMAGE = "localhost/ploy-bot"
# Derived from the recorded market with its NO token offered 0.06 USD cheaper; see
# bot/tradingbot/data/README.md ("Derived for the demo").
DEMO_RECORDING = "demo_market_derived.json"
ROLLOUT = {
    "autoPromote": True,
    "bakeSeconds": 10,
    "maxRestarts": 0,
    "progressDeadlineSeconds": 60,
    "postPromotionSeconds": 15,
    "scaleDownDelaySeconds": 30,
}


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


def tradingbot(image: str, secret: str = SECRET_NAME) -> dict[str, Any]:
    """The demo's TradingBot. Its market is DEMO_RECORDING, derived from the recorded one so that the
    strategy finds trades (the recorded market never offers a complete set below 1 USD); paper orders
    of 5 shares, with room for a few minutes of them under the exposure limit."""
    bot = demo_tradingbot(BOT, BOT_NS, image, rollout=ROLLOUT, secret=secret)
    bot["spec"]["feed"] = {"type": "replay", "recording": DEMO_RECORDING}
    bot["spec"]["trading"]["strategy"]["maxOrderSize"] = "5"
    bot["spec"]["trading"]["risk"]["maxExposureUsd"] = "100000"
    return bot


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


def bot_pod(cluster: ClusterHandle, color: str) -> dict[str, Any] | None:
    """The Ready pod of ``color`` (None when there is none)."""
    out = cluster.kubectl(
        "-n", BOT_NS, "get", "pods", "-l", f"ploy.dev/tradingbot={BOT},ploy.dev/color={color}", "-o", "json"
    ).stdout  # fmt: skip
    for pod in json.loads(out)["items"]:
        if any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])):
            return dict(pod)
    return None


def get(url: str) -> str:
    """GET ``url`` (a pod on the node's bridge) with a 5 s timeout; the body, or the error."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - pod IP on the local bridge
            return str(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read().decode()}"
    except OSError as exc:
        return f"unreachable: {exc}"


def ledger_rows(pg: PostgresServer) -> list[tuple[str, ...]]:
    """Orders per epoch and per pod, in the order the tokens were handed out: (epoch, pod, tokens,
    orders, filled) from the ledger (``fence_holders`` joined with ``orders``; ``psql`` on loopback)."""
    out = subprocess.run(
        [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-At", "-c",
         "SELECT h.epoch, split_part(h.holder, '/', 1), string_agg(DISTINCT h.token::text, ','), "
         "count(o.client_order_id), count(o.client_order_id) FILTER (WHERE o.status = 'FILLED') "
         "FROM fence_holders h LEFT JOIN orders o ON o.token = h.token "
         "GROUP BY h.epoch, split_part(h.holder, '/', 1) ORDER BY min(h.token)"],
        capture_output=True, text=True, check=False, timeout=30,
    ).stdout  # fmt: skip
    return [tuple(line.split("|")) for line in out.splitlines() if line.count("|") == 4]


def show_ledger(pg: PostgresServer, title: str) -> None:
    """Print orders per epoch and per pod from the ledger: one trader at a time."""
    table = Table(title=title)
    for column in ("epoch", "pod (token holder)", "tokens", "orders", "filled"):
        table.add_column(column, justify="right" if column in ("orders", "filled") else "left")
    for row in ledger_rows(pg):
        table.add_row(*row)
    console.print(table)


def orders_so_far(pg: PostgresServer) -> int:
    """Orders in the ledger now."""
    return sum(int(row[3]) for row in ledger_rows(pg))


def up() -> None:
    total = 11
    DEMO.mkdir(parents=True, exist_ok=True)
    if STATE.exists():
        console.print("a previous demo is still running; stopping it first")
        down()
    state: dict[str, Any] = {"pids": {}}

    step(
        1, total, "local control plane + a real node (containerd, kubelet, kube-proxy) with the project image"
    )
    LocalCluster.stop_detached(DEMO / "cluster")
    # A fresh etcd every time: a TradingBot left from an earlier demo would start at its old epoch.
    shutil.rmtree(DEMO / "cluster", ignore_errors=True)
    index = build_images()
    images = json.loads(index.read_text())
    local = LocalCluster(
        workdir=DEMO / "cluster", bin_dir=default_bin_dir(), detach=True, log=console.log,
        real_node=True, images=index, timeout=300,
    )  # fmt: skip
    local.start()
    cluster = ClusterHandle(kubeconfig=local.kubeconfig, server=local.server, bin_dir=local.bin_dir)
    state["kubeconfig"] = str(local.kubeconfig)
    STATE.write_text(json.dumps(state))
    cluster.kubectl("cordon", FAKE_NODE_NAME)  # every pod runs for real on the real node
    for crd in sorted(crds_dir().glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(crd))
    # The demo's "versions" are names of the image built from the Dockerfile.
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        local.node.ctr("images", "tag", "--force", images["bot"]["name"], f"{IMAGE}:{version}")
    console.print(f"{images['bot']['name']} tagged {IMAGE}:1.0.0, 1.1.0, 1.2.0 on node {NODE_NAME}")

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

    step(4, total, f"PostgreSQL on the node's bridge ({NODE_IP}) for the pods; their DSN in a Secret")
    # Not under $HOME: PostgreSQL runs as the postgres user, who cannot enter root's home. Fresh data:
    # the fence of an earlier demo would be ahead of this cluster's epochs.
    pg_root = Path(tempfile.gettempdir()) / "ploy-demo-postgres"
    with contextlib.suppress(Exception):
        PostgresServer(root=pg_root, port=0).stop("immediate")
    shutil.rmtree(pg_root, ignore_errors=True)
    pg = PostgresServer(root=pg_root, port=free_port(), listen_also=NODE_IP, allow_network=POD_CIDR)
    pg.init()
    pg.start()
    state["postgres"] = {"root": str(pg.root), "port": pg.port}
    STATE.write_text(json.dumps(state))
    prepare_bot_namespace(cluster, BOT_NS, BOT)
    dsn = f"postgresql://postgres@{NODE_IP}:{pg.port}/postgres"
    cluster.kubectl("-n", BOT_NS, "delete", "secret", "bot-db", check=False)
    cluster.kubectl("-n", BOT_NS, "create", "secret", "generic", "bot-db", f"--from-literal=url={dsn}")
    # 1.2.0's release moves to a database host the pods cannot reach (nothing listens there).
    moved = f"postgresql://postgres@{NODE_IP}:{free_port()}/postgres"
    cluster.kubectl("-n", BOT_NS, "create", "secret", "generic", "bot-db-v2", f"--from-literal=url={moved}")
    console.print(f"bot-db: {dsn}")

    step(5, total, f"kubectl apply TradingBot {BOT_NS}/{BOT} {IMAGE}:1.0.0 — first rollout on blue, real pod")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tradingbot(f"{IMAGE}:1.0.0")))
    first = watch(
        cluster, lambda s: s.get("phase") == "Healthy" and s.get("epoch", 0) >= 1, "first rollout", 180
    )
    show_pod(cluster, first)
    console.print(
        f"market data: {DEMO_RECORDING}, [bold]derived[/bold] from a recorded Polymarket market with its NO "
        "token offered 0.06 USD cheaper, so that complete sets sometimes cost less than 1 USD "
        "(the recording itself never offers one; bot/tradingbot/data/README.md)"
    )
    deadline = time.monotonic() + 60
    while orders_so_far(pg) == 0 and time.monotonic() < deadline:
        time.sleep(1)
    show_ledger(pg, f"{first.get('activeColor')} trading under epoch {first.get('epoch')}")

    step(
        6,
        total,
        "kubectl apply 1.1.0 — green warms up as standby (no orders), passes its real probe, is promoted",
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tradingbot(f"{IMAGE}:1.1.0")))
    epoch = int(first["epoch"])
    promoted = watch(
        cluster,
        lambda s: s.get("phase") == "Healthy" and int(s.get("epoch", 0)) > epoch,
        "promotion of 1.1.0",
        180,
    )
    show_pod(cluster, promoted)
    time.sleep(5)
    show_ledger(
        pg, f"after the promotion: {promoted.get('activeColor')} trades under epoch {promoted.get('epoch')}"
    )

    step(
        7, total, "kubectl apply 1.2.0 — its pods cannot reach their database: /health/ready 503, never Ready"
    )
    cluster.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump(tradingbot(f"{IMAGE}:1.2.0", secret="bot-db-v2"))
    )
    final = watch(
        cluster,
        lambda s: (s.get("lastRollout") or {}).get("result") == "RolledBack",
        "1.2.0 (unreachable database)",
        240,
    )
    console.print(
        f"active color stayed [bold]{final.get('activeColor')}[/bold] (was {promoted.get('activeColor')}), "
        f"epoch {final.get('epoch')}, reason: {(final.get('lastRollout') or {}).get('reason')}"
    )

    step(8, total, "the ledger: orders per epoch and per pod — one trader at a time")
    time.sleep(5)
    show_ledger(pg, "orders per epoch and per pod (fence_holders + orders)")

    def remember(pids: dict[str, int]) -> None:
        state["pids"].update(pids)
        STATE.write_text(json.dumps(state))

    # The GitOps leg's apps name images this machine never built (the operator's and staging's
    # registry images): their pods run on the kwok node, the real node takes no new pods.
    cluster.kubectl("cordon", NODE_NAME)
    cluster.kubectl("uncordon", FAKE_NODE_NAME)
    console.print(
        f"GitOps leg: new pods go to the kwok node {FAKE_NODE_NAME} (their images are not built here)"
    )
    legs = iter((9, 10))
    gitops = gitops_leg(console, cluster, DEMO, REPO, remember, lambda text: step(next(legs), total, text))

    step(11, total, "left running — how to look and how to clean up")
    active = bot_pod(cluster, str(final.get("activeColor")))
    ip = active["status"]["podIP"] if active else "?"
    kc = local.kubeconfig
    console.print(
        Panel.fit(
            f"export KUBECONFIG={kc}\n"
            f"kubectl get tb -A -w\n"
            f".venv/bin/ploy status -n {BOT_NS} --watch\n"
            f"kubectl -n {BOT_NS} get deploy,svc,pods -o wide -l ploy.dev/tradingbot={BOT}\n"
            f"kubectl -n {BOT_NS} logs -l ploy.dev/tradingbot={BOT} --prefix\n\n"
            f"active bot pod: http://{ip}:8080/health   http://{ip}:8080/metrics\n"
            f"operator: http://127.0.0.1:{metrics_port}/metrics   logs: {DEMO / 'operator.log'}\n\n"
            f"ArgoCD UI: {gitops['ui']}  (authentication OFF: demo only, loopback)\n"
            f"  argocd app list --server {gitops['server']} --plaintext\n"
            f"  git repository: {gitops['repo']} (commit + git push: ArgoCD polls every 30 s)\n\n"
            f"clean up: bash scripts/demo.sh down",
            title="the demo is running",
        )
    )


def show_pod(cluster: ClusterHandle, status: dict[str, Any]) -> None:
    """Print the active pod (node, IP) with its /health and the head of its /metrics, fetched from
    this host over the node's bridge."""
    pod = bot_pod(cluster, str(status.get("activeColor")))
    if pod is None:
        console.print("no Ready active pod")
        return
    ip, name = pod["status"]["podIP"], pod["metadata"]["name"]
    console.print(
        f"active pod [bold]{name}[/bold] on {pod['spec']['nodeName']} at {ip}, epoch {status.get('epoch')}"
    )
    console.print(f"GET http://{ip}:8080/health -> {get(f'http://{ip}:8080/health')[:600]}")
    metrics = [line for line in get(f"http://{ip}:8080/metrics").splitlines() if line.startswith("ploy_")]
    console.print(f"GET http://{ip}:8080/metrics -> {len(metrics)} ploy_* samples, e.g.")
    for line in metrics[:6]:
        console.print(f"  {line}")


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
