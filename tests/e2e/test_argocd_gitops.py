"""GitOps end to end with real ArgoCD: the project's app of apps synced from a git repository by real
ArgoCD v3.6 controllers (ploy_localcluster.argocd) on a local control plane of its own,
the operator running as a local process and kwok playing the kubelet.

The repository is a bare ``file://`` repo made from the checkout, with ``argocd/root-app.yaml``'s
repoURL rewritten in a commit there (the one place the URL is written). The tests run in file order
on one module-wide setup: sync of the app of apps, the TradingBot health from the Lua check in the
Application tree, a git commit rolling staging to a new image, a bad version rolled back and reverted
in git, self-heal, and the promote/retry resource actions through argocd-server.
Durations it measures (commit -> Synced) are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ploy_localcluster import LocalCluster, default_bin_dir
from ploy_localcluster.argocd import LocalArgoCD, argocd_bin_dir
from tests.delivery.tools import required
from tests.support.cluster import crds_dir
from tests.support.gitops import JSON, Apps, GitRepo, repo_from_checkout, set_yaml_line, synced_at, wait_until

pytestmark = [pytest.mark.argocd, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
APPS = ("ploy-root", "ploy-operator", "tradingbot-staging", "tradingbot-production")
STAGING_VALUES = Path("argocd/values/staging.yaml")
TAG_LINE = r"^  tag: .*$"


@dataclass
class GitOps:
    """The running setup: the repository, ArgoCD, and reads of Applications and TradingBots."""

    repo: GitRepo
    argocd: LocalArgoCD
    apps: Apps
    seen: dict[str, list[str]]

    def bot(self, namespace: str) -> JSON:
        """The TradingBot ``arb`` in ``namespace``."""
        bot: JSON = json.loads(self.apps.kubectl("-n", namespace, "get", "tradingbot", "arb", "-o", "json"))
        return bot

    def health(self, app: str) -> str:
        """The TradingBot's health status in ``app``'s tree, also recorded in ``seen[app]``."""
        status = str(self.apps.resource_health(app, "TradingBot", "arb").get("status", ""))
        if status and (not self.seen[app] or self.seen[app][-1] != status):
            self.seen[app].append(status)
        return status


def _need(path: Path, what: str) -> None:
    if not path.exists():
        message = f"{what} not found at {path}"
        if required("argocd"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitOps]:
    """Cluster, ArgoCD (with argocd-server, auth off), the operator, and the app of apps applied."""
    tools = default_bin_dir()
    _need(tools / "kube-apiserver", "the control plane (scripts/build-control-plane.sh)")
    _need(argocd_bin_dir() / "argocd", "ArgoCD (scripts/build-argocd.sh)")
    _need(
        Path(shutil.which("redis-server") or "/nonexistent/redis-server"),
        "redis-server (scripts/bootstrap.sh)",
    )
    scratch = tmp_path_factory.mktemp("gitops")
    repo = repo_from_checkout(ROOT, scratch / "git")
    cluster = LocalCluster(workdir=scratch / "cluster", bin_dir=tools)
    argocd: LocalArgoCD | None = None
    operator: subprocess.Popen[bytes] | None = None
    cluster.start()
    try:
        argocd = LocalArgoCD(workdir=scratch / "argocd", kubeconfig=cluster.kubeconfig, tools_dir=tools)
        argocd.install([repo.work / "argocd/argocd-cm-patch.yaml"])
        apps = Apps(tools / "kubectl", cluster.kubeconfig)
        monitoring = sorted(crds_dir().glob("monitoring-*.yaml"))
        apps.kubectl("apply", "--server-side", *[a for p in monitoring for a in ("-f", str(p))])
        for ns in ("bots-staging", "bots-production"):
            apps.kubectl("create", "namespace", ns)
            apps.kubectl(
                "-n",
                ns,
                "create",
                "secret",
                "generic",
                "arb-db",
                "--from-literal=url=postgresql://bot@db.invalid/bot",
            )
        argocd.start()
        apps.kubectl("apply", "-k", str(repo.work / "argocd"))

        # The operator starts once ArgoCD has synced its CRD and API discovery serves it: kopf resolves
        # its resources from discovery at startup, which lags behind the CRD's Established condition.
        def discovered() -> bool:
            groups = apps.kubectl("get", "--raw", "/apis")
            return '"ploy.dev"' in groups and '"tradingbots"' in apps.kubectl(
                "get", "--raw", "/apis/ploy.dev/v1alpha1"
            )

        wait_until(discovered, "API discovery to serve ploy.dev/v1alpha1 tradingbots", 180)
        ploy_operator = str(Path(sys.executable).parent / "ploy-operator")
        namespaces = ["-n", "bots-staging", "-n", "bots-production"]
        with (scratch / "operator.log").open("ab") as log:
            operator = subprocess.Popen(
                [ploy_operator, "run", *namespaces, "--metrics-port", "0"],
                env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        yield GitOps(repo=repo, argocd=argocd, apps=apps, seen={app: [] for app in APPS})
        print(f"\n[argocd] RSS MiB: { {k: round(v) for k, v in argocd.rss_mib().items()} }")
    finally:
        if operator is not None:
            operator.kill()
            operator.wait(timeout=10)
        if argocd is not None:
            argocd.stop()
        cluster.stop()


def _synced(gitops: GitOps, app: str) -> Callable[[], bool]:
    return lambda: synced_at(gitops.apps.get(app))


def test_root_app_syncs_the_operator_and_the_applicationsets_apps(gitops: GitOps) -> None:
    t0 = time.monotonic()
    for app in APPS:
        wait_until(_synced(gitops, app), f"{app} Synced", within=240)
    print(f"\n[argocd] operator started -> all 4 Applications Synced: {time.monotonic() - t0:.1f}s")
    wait_until(
        lambda: gitops.health("tradingbot-staging") == "Healthy", "staging TradingBot Healthy", within=240
    )
    assert "Progressing" in gitops.seen["tradingbot-staging"], gitops.seen
    root = gitops.apps.get("ploy-root")
    conditions = [c["type"] for c in root["status"].get("conditions", [])]
    assert "OrphanedResourceWarning" not in conditions, root["status"]["conditions"]
    staging = gitops.apps.resource_health("tradingbot-staging", "TradingBot", "arb")
    assert "epoch 1" in staging["message"] or "revision" in staging["message"], staging


def test_git_commit_rolls_staging_to_the_new_image(gitops: GitOps) -> None:
    before = gitops.bot("bots-staging")["status"]
    t0 = time.monotonic()
    sha = gitops.repo.commit(
        "staging: ploy 0.2.0", lambda w: set_yaml_line(w / STAGING_VALUES, TAG_LINE, "  tag: 0.2.0")
    )
    gitops.apps.refresh("tradingbot-staging")
    wait_until(
        lambda: synced_at(gitops.apps.get("tradingbot-staging"), sha),
        "staging Synced at the commit",
        120,
        0.2,
    )
    print(f"\n[argocd] commit -> Synced (refresh annotation): {time.monotonic() - t0:.1f}s")
    assert str(gitops.bot("bots-staging")["spec"]["image"]).endswith(":0.2.0")
    wait_until(
        lambda: (
            gitops.bot("bots-staging")["status"]["activeRevision"] != before["activeRevision"]
            and gitops.health("tradingbot-staging") == "Healthy"
        ),
        "staging rolled out and Healthy at the new revision",
        within=180,
    )
    print(f"[argocd] commit -> rolled out and Healthy: {time.monotonic() - t0:.1f}s")


def test_bad_version_is_degraded_then_git_revert_heals_it(gitops: GitOps) -> None:
    def bad(work: Path) -> None:
        set_yaml_line(work / STAGING_VALUES, TAG_LINE, "  tag: 0.3.0-bad")
        with (work / STAGING_VALUES).open("a") as values:
            values.write("podTemplate:\n  labels:\n    ploy.dev/fault: crash-loop\n")

    sha = gitops.repo.commit("staging: ploy 0.3.0 (crashes)", bad)
    gitops.apps.refresh("tradingbot-staging")
    wait_until(
        lambda: synced_at(gitops.apps.get("tradingbot-staging"), sha), "staging Synced at the bad commit", 120
    )
    wait_until(
        lambda: gitops.health("tradingbot-staging") == "Degraded", "staging Degraded after the rollback", 180
    )
    assert gitops.bot("bots-staging")["status"]["lastRollout"]["result"] == "RolledBack"
    t0 = time.monotonic()
    fixed = gitops.repo.revert(sha)
    # No refresh annotation: ArgoCD's own poll (ARGOCD_RECONCILIATION_TIMEOUT=30s, no jitter) finds it.
    wait_until(
        lambda: synced_at(gitops.apps.get("tradingbot-staging"), fixed), "staging Synced at the revert", 150
    )
    print(f"\n[argocd] revert commit -> Synced (30 s poll, no refresh): {time.monotonic() - t0:.1f}s")
    wait_until(
        lambda: gitops.health("tradingbot-staging") == "Healthy", "staging Healthy after the revert", 180
    )
    assert str(gitops.bot("bots-staging")["spec"]["image"]).endswith(":0.2.0")


def test_self_heal_undoes_a_manual_change(gitops: GitOps) -> None:
    deployment = (
        "-n",
        "ploy-system",
        "get",
        "deployment",
        "ploy-operator",
        "-o",
        "jsonpath={.spec.replicas}",
    )
    replicas = gitops.apps.kubectl(*deployment)
    gitops.apps.kubectl("-n", "ploy-system", "scale", "deployment", "ploy-operator", "--replicas=5")
    wait_until(lambda: gitops.apps.kubectl(*deployment) == replicas, "ArgoCD to undo the manual scale", 120)
    wait_until(lambda: synced_at(gitops.apps.get("ploy-operator")), "ploy-operator Synced again", 120)


def _action(gitops: GitOps, app: str, namespace: str, action: str) -> None:
    """``argocd app actions run <app> <action>`` on TradingBot ``arb`` through argocd-server."""
    gitops.argocd.cli(
        "app", "actions", "run", app, action,
        "--kind", "TradingBot", "--resource-name", "arb", "--namespace", namespace,
    )  # fmt: skip


def test_production_abort_retry_and_promote_actions(gitops: GitOps) -> None:
    app, ns = "tradingbot-production", "bots-production"
    wait_until(lambda: gitops.health(app) == "Suspended", "production Suspended (awaiting promotion)", 400)
    message = gitops.apps.resource_health(app, "TradingBot", "arb")["message"]
    assert "promot" in message.lower(), message
    listed = gitops.argocd.cli(
        "app", "actions", "list", app, "--kind", "TradingBot", "--resource-name", "arb"
    )
    assert "promote" in listed.stdout and "abort" in listed.stdout, listed.stdout

    _action(gitops, app, ns, "abort")
    wait_until(lambda: gitops.health(app) == "Degraded", "production Degraded after abort", 120)
    assert gitops.bot(ns)["status"]["lastRollout"]["result"] == "Aborted"

    _action(gitops, app, ns, "retry")
    wait_until(lambda: gitops.bot(ns)["status"].get("rollout"), "the operator to retry the rollout", 120)
    _action(gitops, app, ns, "promote")  # acted on as soon as the new color is Ready (no bake wait)
    wait_until(lambda: gitops.health(app) == "Healthy", "production Healthy after promote", 300)
    status = gitops.bot(ns)["status"]
    assert status["lastRollout"]["result"] == "Promoted"
    assert {"retry", "promote", "abort"} <= set(status["handledActions"]), status["handledActions"]
    seen = gitops.seen[app]
    assert seen.index("Suspended") < seen.index("Degraded") < len(seen) - 1 and seen[-1] == "Healthy", seen
    wait_until(lambda: synced_at(gitops.apps.get(app)), "production still Synced (annotations ignored)", 60)
