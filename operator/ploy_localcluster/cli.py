"""The ``ploy`` console script (also ``kubectl-tradingbot``): the TradingBot commands of
:mod:`tradingbot_operator.ctl` plus ``ploy cluster up | down``, the local control plane.

The cluster commands live here, in the dev package, so that the operator's runtime package never imports
the control plane (an import-linter contract in pyproject.toml); this module joins the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ploy_localcluster.launcher import ClusterError, LocalCluster, cache_dir, default_bin_dir
from tradingbot_operator.ctl import app, console

cluster_app = typer.Typer(help="The local control plane (kube-apiserver, etcd, controllers, kwok).")

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
    if LocalCluster.stop_detached(workdir):
        console.print("control plane stopped")
    else:
        console.print("no control plane running")


def main() -> None:
    """Entry point of the ``ploy`` and ``kubectl-tradingbot`` console scripts."""
    app.add_typer(cluster_app, name="cluster")
    app()
