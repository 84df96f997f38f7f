"""The GitOps leg of ``make demo`` (called by scripts/demo.py after the kubectl leg): real ArgoCD v3.6.1
as local processes syncs the project's app of apps from a local git repository made from the checkout,
then a git commit bumping the staging image is synced and rolled out by the operator. It is what the
``argocd`` test tier does (docs/DEPLOYMENT.md, "Real ArgoCD"); argocd-server runs with authentication
OFF on loopback, for the demo only.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ploy_localcluster.argocd import LocalArgoCD
from tests.support.cluster import ClusterHandle
from tests.support.gitops import Apps, GitRepo, repo_from_checkout, set_yaml_line, synced_at

APPS = ("ploy-root", "ploy-operator", "tradingbot-staging", "tradingbot-production")
BOT_NAMESPACES = ("bots-staging", "bots-production")


def _table(apps: Apps) -> Table:
    table = Table("Application", "sync", "revision", "health", "TradingBot arb (Lua health check)")
    for name in APPS:
        app = apps.get(name)
        status = app.get("status", {})
        bot = apps.resource_health(name, "TradingBot", "arb")
        table.add_row(
            name,
            str(status.get("sync", {}).get("status", "-")),
            str(status.get("sync", {}).get("revision", "-"))[:10],
            str(status.get("health", {}).get("status", "-")),
            f"{bot.get('status', '')} {bot.get('message', '')}".strip() or "-",
        )
    return table


def _watch(console: Console, apps: Apps, done: Callable[[], bool], what: str, timeout: float) -> float:
    """Show the Applications live until ``done()``; returns the seconds it took (exits on timeout)."""
    t0 = time.monotonic()
    with Live(console=console, refresh_per_second=2) as live:
        while time.monotonic() - t0 < timeout:
            live.update(_table(apps))
            try:
                if done():
                    live.update(_table(apps))
                    return time.monotonic() - t0
            except Exception:  # noqa: S110 - a read failing mid-sync is retried
                pass
            time.sleep(1)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for: {what}")


def gitops_leg(
    console: Console,
    cluster: ClusterHandle,
    demo_dir: Path,
    repo_root: Path,
    remember: Callable[[dict[str, int]], None],
    step: Callable[[str], None],
) -> dict[str, Any]:
    """Run the leg; ``remember(pids)`` records the detached ArgoCD processes for ``demo.py down``;
    ``step(text)`` announces each of the two steps. Returns what the closing panel prints."""
    step("GitOps: real ArgoCD syncs the app of apps from a local git repository (argocd-server auth OFF)")
    shutil.rmtree(demo_dir / "git", ignore_errors=True)
    repo: GitRepo = repo_from_checkout(repo_root, demo_dir / "git")
    shutil.rmtree(demo_dir / "argocd", ignore_errors=True)
    argocd = LocalArgoCD(
        workdir=demo_dir / "argocd",
        kubeconfig=cluster.kubeconfig,
        tools_dir=cluster.bin_dir,
        detach=True,
        log=console.log,
    )
    argocd.install([repo.work / "argocd/argocd-cm-patch.yaml"])
    for ns in BOT_NAMESPACES:
        cluster.kubectl("create", "namespace", ns, check=False)
        cluster.kubectl(
            "-n", ns, "create", "secret", "generic", "arb-db",
            "--from-literal=url=postgresql://bot@db.invalid:5432/bot", check=False,
        )  # fmt: skip
    try:
        argocd.start()
    finally:
        remember({f"argocd/{name}": pid for name, pid in argocd.pids().items()})
    apps = Apps(cluster.bin_dir / "kubectl", cluster.kubeconfig)
    console.print(f"git repository {repo.url} (work tree {repo.work}); kubectl apply -k argocd/")
    apps.kubectl("apply", "-k", str(repo.work / "argocd"))
    took = _watch(
        console,
        apps,
        lambda: (
            all(synced_at(apps.get(a)) for a in APPS)
            and apps.resource_health("tradingbot-staging", "TradingBot", "arb").get("status") == "Healthy"
        ),
        "the app of apps Synced and staging Healthy",
        300,
    )
    console.print(f"all four Applications Synced and staging Healthy after {took:.0f}s")

    step("git commit: staging image 0.1.0 -> 0.2.0, ArgoCD syncs it, the operator rolls it out blue-green")
    sha = repo.commit(
        "staging: ploy 0.2.0",
        lambda w: set_yaml_line(w / "argocd/values/staging.yaml", r"^  tag: .*$", "  tag: 0.2.0"),
    )
    console.print(f"committed {sha[:10]}; annotate tradingbot-staging argocd.argoproj.io/refresh=normal")
    apps.refresh("tradingbot-staging")
    synced = _watch(
        console, apps, lambda: synced_at(apps.get("tradingbot-staging"), sha), "Synced at the commit", 120
    )
    healthy = _watch(
        console,
        apps,
        lambda: (
            apps.resource_health("tradingbot-staging", "TradingBot", "arb").get("status") == "Healthy"
            and apps.kubectl(
                "-n", "bots-staging", "get", "tb", "arb", "-o", "jsonpath={.spec.image}"
            ).endswith(":0.2.0")
        ),
        "0.2.0 rolled out and Healthy",
        300,
    )
    console.print(f"commit -> Synced {synced:.1f}s; -> rolled out and Healthy {synced + healthy:.0f}s")
    return {"ui": f"http://{argocd.server_address}", "repo": repo.work, "server": argocd.server_address}
