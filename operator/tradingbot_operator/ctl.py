"""The TradingBot commands of ``ploy`` (also installed as ``kubectl-tradingbot``, so ``kubectl tradingbot …``
works): look at TradingBot rollouts and act on them. ``ploy cluster up | down`` (the local control plane)
is added by :mod:`ploy_localcluster.cli`, which the console scripts run.

Commands: ``status [NAME] [-o table|wide|json|yaml] [--watch]`` (the view: :mod:`.status_view`),
``promote NAME``, ``abort NAME``, ``retry NAME``. The manual actions set the
``ploy.dev/promote|abort|retry`` annotations (value: the current UTC time), the same contract the
ArgoCD resource actions use; the operator does the rest. Kubernetes calls use ``kubernetes.aio`` with
the usual kubeconfig resolution (``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from kubernetes.aio import config as aio_config
from kubernetes.aio.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException
from rich.console import Console
from rich.live import Live

from tradingbot_operator.model import GROUP, PLURAL, VERSION
from tradingbot_operator.names import ANNOTATION_ABORT, ANNOTATION_PROMOTE, ANNOTATION_RETRY
from tradingbot_operator.status_view import Output, dump, render

app = typer.Typer(help="Ploy: blue-green TradingBot rollouts.", no_args_is_help=True)
console = Console()

KubeconfigOpt = Annotated[
    str | None, typer.Option("--kubeconfig", envvar="KUBECONFIG", help="kubeconfig path")
]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the TradingBot")]


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


@app.command()
def status(
    name: Annotated[
        str | None, typer.Argument(help="TradingBot name (all in the namespace if omitted)")
    ] = None,
    namespace: NamespaceOpt = "default",
    output: Annotated[
        Output,
        typer.Option(
            "--output", "-o", help="table (default), wide (every column), json or yaml (the objects)"
        ),
    ] = Output.TABLE,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="keep refreshing (Ctrl-C to stop)")] = False,
    interval: Annotated[float, typer.Option(help="refresh interval in seconds with --watch")] = 1.0,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show TradingBots: phase, active color, epoch, revisions, rollout progress."""
    wide = output is Output.WIDE
    if watch and output in (Output.JSON, Output.YAML):
        console.print("[red]error:[/red] --watch shows the table; use -o table or -o wide with it")
        raise typer.Exit(2)
    try:
        if output in (Output.JSON, Output.YAML):
            sys.stdout.write(
                dump(asyncio.run(_list(kubeconfig, namespace, name)), output, single=name is not None)
            )
            return
        if not watch:
            console.print(render(asyncio.run(_list(kubeconfig, namespace, name)), wide=wide))
            return
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                live.update(render(asyncio.run(_list(kubeconfig, namespace, name)), wide=wide))
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
