"""``ploy`` (also installed as ``kubectl-tradingbot``, so ``kubectl tradingbot …`` works): look at
TradingBot rollouts and act on them, and run the local control plane.

Commands: ``status [NAME] [--watch]``, ``promote NAME``, ``abort NAME``, ``retry NAME``,
``cluster up | down``. The manual actions set the ``ploy.dev/promote|abort|retry`` annotations
(value: the current UTC time), the same contract the ArgoCD resource actions use; the operator does the
rest. Kubernetes calls use ``kubernetes.aio`` with the usual kubeconfig resolution (``--kubeconfig``,
``KUBECONFIG``, ``~/.kube/config``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tradingbot_operator.localcluster.launcher import cache_dir, default_bin_dir
from tradingbot_operator.model import GROUP, PLURAL, VERSION
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY

app = typer.Typer(help="Ploy: blue-green TradingBot rollouts.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local control plane (kube-apiserver, etcd, controllers, kwok).")
app.add_typer(cluster_app, name="cluster")
console = Console()

KubeconfigOpt = Annotated[
    str | None, typer.Option("--kubeconfig", envvar="KUBECONFIG", help="kubeconfig path")
]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the TradingBot")]
PHASE_STYLE = {"Healthy": "green", "Progressing": "yellow", "Degraded": "red", "Paused": "blue"}


async def _client(kubeconfig: str | None) -> ApiClient:
    configuration = Configuration()
    await aio_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return ApiClient(configuration)


async def _list(kubeconfig: str | None, namespace: str, name: str | None) -> list[dict[str, Any]]:
    async with await _client(kubeconfig) as api:
        objects = CustomObjectsApi(api)
        if name:
            one = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            return [dict(one)] if isinstance(one, dict) else []
        listed = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        return list(listed.get("items", [])) if isinstance(listed, dict) else []


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions", []) or []:
        if cond.get("type") == kind:
            found: Mapping[str, Any] = cond
            return found
    return None


def render(bots: list[dict[str, Any]]) -> Group:
    """A rich view of TradingBots: one row each, then the progress of any rollout under way."""
    table = Table(title="TradingBots", expand=False)
    for column in (
        "NAME",
        "PHASE",
        "ACTIVE",
        "EPOCH",
        "ACTIVE REV",
        "PREVIEW REV",
        "LAST ROLLOUT",
        "MESSAGE",
    ):
        table.add_column(column)
    details: list[Text] = []
    for bot in bots:
        meta, status = bot.get("metadata", {}), bot.get("status", {}) or {}
        phase = str(status.get("phase", "Pending"))
        last = status.get("lastRollout") or {}
        last_text = f"{last.get('result', '')} {last.get('revision', '')}".strip()
        table.add_row(
            meta.get("name", "?"),
            Text(phase, style=PHASE_STYLE.get(phase, "")),
            str(status.get("activeColor", "-")),
            str(status.get("epoch", 0)),
            str(status.get("activeRevision", "-")),
            str(status.get("previewRevision", "-")),
            last_text or "-",
            str(status.get("message", ""))[:80],
        )
        rollout = status.get("rollout")
        if rollout:
            steps = [
                ("started", rollout.get("startedAt")),
                ("migrated", rollout.get("migratedAt")),
                ("ready", rollout.get("readySince")),
                ("baked", rollout.get("bakedAt")),
                ("promoted", rollout.get("promotedAt")),
            ]
            line = Text(f"{meta.get('name')}: revision {rollout.get('revision')} on {rollout.get('color')}  ")
            for label, when in steps:
                line.append(f"{'✔' if when else '·'} {label}  ", style="green" if when else "dim")
            details.append(line)
        degraded = _condition(status, "Degraded")
        if degraded and degraded.get("status") == "True":
            details.append(
                Text(
                    f"{meta.get('name')}: Degraded — {degraded.get('reason')}: {degraded.get('message')}",
                    style="red",
                )
            )
        details.extend(analysis_lines(str(meta.get("name")), status))
    return Group(table, *details)


RESULT_STYLE = {"Successful": "green", "Failed": "red", "Inconclusive": "yellow"}


def analysis_lines(name: str, status: Mapping[str, Any]) -> list[Text]:
    """One line per metric analysis query of ``status.analysis``: result, value, why, when."""
    analysis = status.get("analysis") or {}
    lines = []
    for m in analysis.get("measurements") or []:
        line = Text(
            f"{name}: analysis of {analysis.get('color')} ({analysis.get('revision')}) {m.get('name')} "
        )
        line.append(str(m.get("result")), style=RESULT_STYLE.get(str(m.get("result")), ""))
        line.append(f" {m.get('message', '')} at {m.get('measuredAt')} (#{m.get('count', 0)})")
        lines.append(line)
    return lines


@app.command()
def status(
    name: Annotated[
        str | None, typer.Argument(help="TradingBot name (all in the namespace if omitted)")
    ] = None,
    namespace: NamespaceOpt = "default",
    watch: Annotated[bool, typer.Option("--watch", "-w", help="keep refreshing (Ctrl-C to stop)")] = False,
    interval: Annotated[float, typer.Option(help="refresh interval in seconds with --watch")] = 1.0,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show TradingBots: phase, active color, epoch, revisions, rollout progress."""
    try:
        if not watch:
            console.print(render(asyncio.run(_list(kubeconfig, namespace, name))))
            return
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                live.update(render(asyncio.run(_list(kubeconfig, namespace, name))))
                time.sleep(interval)
    except ApiException as exc:
        console.print(f"[red]error:[/red] {exc.status} {exc.reason}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        return


async def _annotate(kubeconfig: str | None, namespace: str, name: str, annotation: str) -> str:
    value = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with await _client(kubeconfig) as api:
        await CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"annotations": {annotation: value}}}
        )
    return value


def _act(kubeconfig: str | None, namespace: str, name: str, annotation: str, verb: str) -> None:
    try:
        value = asyncio.run(_annotate(kubeconfig, namespace, name, annotation))
    except ApiException as exc:
        console.print(f"[red]error:[/red] cannot {verb} {namespace}/{name}: {exc.status} {exc.reason}")
        raise typer.Exit(1) from exc
    console.print(f"{verb} requested for {namespace}/{name} ({annotation}={value})")


@app.command()
def promote(name: str, namespace: NamespaceOpt = "default", kubeconfig: KubeconfigOpt = None) -> None:
    """Promote the standby color now (for ``autoPromote: false`` or to skip the rest of the bake)."""
    _act(kubeconfig, namespace, name, ANNOTATION_PROMOTE, "promote")


@app.command()
def abort(name: str, namespace: NamespaceOpt = "default", kubeconfig: KubeconfigOpt = None) -> None:
    """Abort the rollout in progress: the new color is scaled to 0, the active color keeps trading."""
    _act(kubeconfig, namespace, name, ANNOTATION_ABORT, "abort")


@app.command()
def retry(name: str, namespace: NamespaceOpt = "default", kubeconfig: KubeconfigOpt = None) -> None:
    """Retry a revision that failed (it is otherwise not retried until the spec changes)."""
    _act(kubeconfig, namespace, name, ANNOTATION_RETRY, "retry")


WorkdirOpt = Annotated[
    Path | None, typer.Option(help="where the cluster keeps its files (default: $PLOY_CACHE/local-cluster)")
]


RealNodeOpt = Annotated[
    bool,
    typer.Option(
        "--real-node",
        help="also run a real node (containerd, kubelet, kube-proxy; root) with the images of "
        "scripts/build-images.sh",
    ),
]


@cluster_app.command("up")
def cluster_up(workdir: WorkdirOpt = None, real_node: RealNodeOpt = False) -> None:
    """Start a local control plane in the background; prints the kubeconfig to use."""
    workdir = workdir or cache_dir() / "local-cluster"
    from tradingbot_operator.localcluster import ClusterError, LocalCluster

    if (workdir / "state.json").exists():
        console.print(f"already running; export KUBECONFIG={workdir / 'admin.kubeconfig'}")
        return
    local = LocalCluster(
        workdir=workdir, bin_dir=default_bin_dir(), detach=True, log=console.log, real_node=real_node
    )
    try:
        local.start()
    except ClusterError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"control plane up at {local.server}\nexport KUBECONFIG={local.kubeconfig}")


@cluster_app.command("down")
def cluster_down(workdir: WorkdirOpt = None) -> None:
    """Stop the local control plane started by ``cluster up``."""
    workdir = workdir or cache_dir() / "local-cluster"
    from tradingbot_operator.localcluster import LocalCluster

    if LocalCluster.stop_detached(workdir):
        console.print("control plane stopped")
    else:
        console.print("no control plane running")


def main() -> None:
    """Entry point of the ``ploy`` and ``kubectl-tradingbot`` console scripts."""
    app()
