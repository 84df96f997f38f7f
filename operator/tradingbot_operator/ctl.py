"""The TradingBot commands of ``ploy`` (also installed as ``kubectl-tradingbot``, so ``kubectl tradingbot …``
works): look at TradingBot rollouts and act on them. ``ploy cluster up | down`` (the local control plane)
is added by :mod:`ploy_localcluster.cli`, which the console scripts run.

Commands: ``status [NAME] [--watch]``, ``promote NAME``, ``abort NAME``, ``retry NAME``. The manual
actions set the ``ploy.dev/promote|abort|retry`` annotations (value: the current UTC time), the same
contract the ArgoCD resource actions use; the operator does the rest. Kubernetes calls use
``kubernetes.aio`` with the usual kubeconfig resolution (``--kubeconfig``, ``KUBECONFIG``,
``~/.kube/config``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tradingbot_operator.model import GROUP, PLURAL, VERSION
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY

app = typer.Typer(help="Ploy: blue-green TradingBot rollouts.", no_args_is_help=True)
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
    return Group(table, *details)


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


def main() -> None:
    """Run the TradingBot commands alone (the ``ploy`` console script is :func:`ploy_localcluster.cli.main`,
    which adds ``ploy cluster``)."""
    app()
