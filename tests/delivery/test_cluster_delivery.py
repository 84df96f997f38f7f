"""The delivery artifacts against a real API server: every chart scenario, the ArgoCD manifests and the
plain manifests pass the server's validation (CRD schemas, CEL rules, Pod Security admission), and both
charts install into a namespace that enforces Pod Security "restricted" with every pod admitted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.lua import PHASE_HEALTH, run_script
from tests.delivery.tools import (
    ARGOCD,
    BOT_CHART,
    OPERATOR_CHART,
    ROOT,
    ci_values,
    documents,
    helm_template,
)
from tests.support.cluster import ClusterHandle, crds_dir

pytestmark = pytest.mark.cluster

FIELD_MANAGER = "ploy-delivery-tests"
HEALTH_LUA = ARGOCD / "lua" / "health.lua"
THIRD_PARTY_CRDS = (
    "argocd-application-crd.yaml",
    "argocd-applicationset-crd.yaml",
    "argocd-appproject-crd.yaml",
    "monitoring-servicemonitors.yaml",
    "monitoring-podmonitors.yaml",
    "monitoring-prometheusrules.yaml",
)
OWN_CRDS = (
    OPERATOR_CHART / "crds" / "tradingbots.ploy.dev.yaml",
    OPERATOR_CHART / "charts" / "kopf-peering-crds" / "crds" / "kopf-peerings.yaml",
)


def _apply_crds(cluster: ClusterHandle, path: Path) -> list[str]:
    manager = f"--field-manager={FIELD_MANAGER}"
    args = ("apply", "--server-side", "--force-conflicts", manager, "-f", str(path))
    result = cluster.kubectl(*args, check=False)
    assert result.returncode == 0, f"{path}: {result.stderr}"
    return [d["metadata"]["name"] for d in documents(path.read_text())]


@pytest.fixture(scope="module")
def crds(cluster: ClusterHandle) -> list[str]:
    """The ArgoCD, prometheus-operator, TradingBot and kopf peering CRDs, established."""
    source = crds_dir()
    names: list[str] = []
    for name in THIRD_PARTY_CRDS:
        path = source / name
        if not path.is_file():
            pytest.fail(f"{path} missing: scripts/fetch-crds.sh copies it from the Go module cache")
        names += _apply_crds(cluster, path)
    for path in OWN_CRDS:
        names += _apply_crds(cluster, path)
    for name in names:
        cluster.wait_crd_established(name)
    return names


def _namespace(cluster: ClusterHandle, name: str, *, restricted: bool = True) -> None:
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if restricted:
        manifest["metadata"]["labels"] = {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture
def restricted_namespace(cluster: ClusterHandle) -> Iterator[str]:
    """A fresh namespace that enforces Pod Security "restricted"; deleted afterwards."""
    name = f"d-{uuid.uuid4().hex[:10]}"
    _namespace(cluster, name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _dry_run(cluster: ClusterHandle, stream: str) -> str:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        input=stream,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pod_security_restricted_is_enforced(cluster: ClusterHandle, restricted_namespace: str) -> None:
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": restricted_namespace},
        "spec": {"containers": [{"name": "c", "image": "registry.example/c:1"}]},
    }
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=json.dumps(privileged), check=False
    )
    assert result.returncode != 0 and "violates PodSecurity" in result.stderr, result.stderr


SCENARIOS = [(chart, values) for chart in (OPERATOR_CHART, BOT_CHART) for values in ci_values(chart)]


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=[f"{c.name}:{v.name}" for c, v in SCENARIOS])
def test_every_scenario_passes_server_side_dry_run(
    cluster: ClusterHandle, crds: list[str], restricted_namespace: str, chart: Path, values: Path
) -> None:
    scenario = yaml.safe_load(values.read_text()) or {}
    for watched in scenario.get("watchNamespaces", []):
        _namespace(cluster, watched)
    stream = helm_template(chart, values=values, namespace=restricted_namespace)
    out = _dry_run(cluster, stream)
    rendered = documents(stream)
    for doc in rendered:
        assert f"{doc['kind'].lower()}" in out.lower(), f"{doc['kind']} missing from: {out}"
    # The stream includes the helm test hook pods: Pod Security admission judged them as well.
    # NOTES.txt renders only at install time: render it against this server too.
    # Templated CRDs (crds.install) replace Helm's crds/ directory and adopt the CRDs already there.
    adopt = ["--skip-crds", "--take-ownership"] if scenario.get("crds", {}).get("install") else []
    install = cluster.helm(
        "install", "demo", str(chart), "-n", restricted_namespace, "-f", str(values), "--dry-run=server",
        *adopt, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    notes = install.stdout.partition("NOTES:")[2]
    assert notes.strip() and "<no value>" not in notes, install.stdout[-2000:]


def test_tradingbot_cel_rules_reject_a_bad_scenario(
    cluster: ClusterHandle, crds: list[str], restricted_namespace: str
) -> None:
    # The values schema lets this through (each value is valid alone); the CRD's CEL rule does not.
    stream = helm_template(
        BOT_CHART,
        "--set",
        "rollout.bakeSeconds=400",
        "--set",
        "rollout.progressDeadlineSeconds=300",
        namespace=restricted_namespace,
    )
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=stream, check=False)
    assert result.returncode != 0
    assert "bakeSeconds must be less than rollout.progressDeadlineSeconds" in result.stderr


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _json(cluster: ClusterHandle, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def test_helm_install_both_charts_under_restricted_pod_security(
    cluster: ClusterHandle, crds: list[str], restricted_namespace: str
) -> None:
    ns = restricted_namespace
    release = f"op-{ns}"
    cluster.helm("install", release, str(OPERATOR_CHART), "-n", ns, "--wait", "--timeout", "120s")
    try:
        cluster.helm("install", "arb", str(BOT_CHART), "-n", ns, "--set", "database.secretRef.name=arb-db")
        deployment = f"deployment/{release}-ploy-operator"
        cluster.kubectl("-n", ns, "rollout", "status", deployment, "--timeout=60s")
        replica_sets = _json(cluster, "-n", ns, "get", "replicasets")["items"]
        assert replica_sets
        for rs in replica_sets:
            failures = [
                c for c in rs.get("status", {}).get("conditions", []) if c["type"] == "ReplicaFailure"
            ]
            assert not failures, failures
        events = _json(cluster, "-n", ns, "get", "events", "--field-selector", "reason=FailedCreate")
        assert events["items"] == []
        pods = _json(cluster, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=ploy-operator")["items"]
        assert len(pods) == 2
        assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)
        bot = _json(cluster, "-n", ns, "get", "tradingbot", "arb")
        assert bot["spec"]["database"]["secretRef"]["name"] == "arb-db"
        for kind in ("servicemonitor", "prometheusrule", "networkpolicy", "configmap/arb-dashboard"):
            cluster.kubectl("-n", ns, "get", kind if "/" in kind else f"{kind}/arb")
        peering = _json(cluster, "get", "clusterkopfpeering", f"{release}-ploy-operator")
        assert peering["metadata"]["labels"]["app.kubernetes.io/instance"] == release
        # The operator's ServiceAccount may do what the operator does, and nothing with Secrets.
        sa = f"system:serviceaccount:{ns}:{release}-ploy-operator"

        def can(verb: str, resource: str, *extra: str) -> str:
            args = ("auth", "can-i", verb, resource, *extra, "--as", sa, "-n", "default")
            return cluster.kubectl(*args, check=False).stdout.strip()

        assert can("patch", "tradingbots.ploy.dev", "--subresource=status") == "yes"
        assert can("create", "deployments.apps") == "yes"
        assert can("watch", "pods") == "yes"
        denied = (
            ("get", "secrets"),
            ("patch", "tradingbots.ploy.dev"),
            ("update", "pods"),
            ("delete", "deployments.apps"),
        )
        for verb, resource in denied:
            assert can(verb, resource) == "no", (verb, resource)
    finally:
        cluster.helm("uninstall", "arb", "-n", ns, "--wait", check=False)
        cluster.helm("uninstall", release, "-n", ns, "--wait", check=False)


def test_argocd_manifests_are_accepted_server_side(cluster: ClusterHandle, crds: list[str]) -> None:
    _namespace(cluster, "argocd", restricted=False)
    streams = [
        cluster.kubectl("kustomize", str(ARGOCD)).stdout,
        (ARGOCD / "argocd-cm-patch.yaml").read_text(),
        helm_template(ARGOCD / "apps", "--set-string", "repoURL=https://git.example/ploy.git"),
    ]
    for stream in streams:
        out = _dry_run(cluster, stream)
        for doc in documents(stream):
            assert doc["metadata"]["name"] in out, (stream, out)


def test_plain_manifests_install(cluster: ClusterHandle, crds: list[str]) -> None:
    manifests = ROOT / "manifests"
    for crds_file in (manifests / "crds" / "tradingbots.ploy.dev.yaml", manifests / "kopf-peering-crds.yaml"):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds_file))
    install = manifests / "install.yaml"
    cluster.kubectl("apply", "--server-side", "-f", str(install))
    try:
        _namespace(cluster, "bots")
        cluster.kubectl("apply", "--server-side", "-f", str(manifests / "examples" / "tradingbot.yaml"))
        cluster.kubectl("-n", "ploy-system", "rollout", "status", "deployment/ploy-operator", "--timeout=60s")
        assert _json(cluster, "-n", "bots", "get", "tradingbot", "arb")["spec"]["replicas"] == 1
    finally:
        cluster.kubectl(
            "delete", "-f", str(manifests / "examples" / "tradingbot.yaml"), "--wait=false", check=False
        )
        cluster.kubectl("delete", "-f", str(install), "--wait=false", check=False)


def _service_account_kubeconfig(cluster: ClusterHandle, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig for the cluster that authenticates as ServiceAccount ``namespace/account``."""
    token = cluster.kubectl("-n", namespace, "create", "token", account, "--duration=1h").stdout.strip()
    config = json.loads(
        cluster.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout
    )
    config["users"] = [{"name": account, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = account
    path.write_text(json.dumps(config))
    return path


OPERATOR_MAIN = "import sys; from tradingbot_operator.cli import main; sys.argv[0] = 'ploy-operator'; main()"


class LiveHealth:
    """Polls a live TradingBot and runs the ArgoCD health check on every version it sees."""

    def __init__(self, cluster: ClusterHandle, namespace: str, name: str) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.seen: list[tuple[str | None, str]] = []

    def get(self) -> dict[str, Any]:
        """The TradingBot now; its health per argocd/lua/health.lua must match its phase."""
        obj: dict[str, Any] = _json(self.cluster, "-n", self.namespace, "get", "tradingbot", self.name)
        health = run_script(HEALTH_LUA.read_text(), obj)["status"]
        status = obj.get("status") or {}
        phase = status.get("phase")
        if status.get("observedGeneration") == obj["metadata"]["generation"] and phase in PHASE_HEALTH:
            assert health == PHASE_HEALTH[phase], (phase, health, status)
        if not self.seen or self.seen[-1] != (phase, health):
            self.seen.append((phase, health))
            self._record(obj, f"{len(self.seen):02d}-{phase or 'none'}")
        return obj

    @staticmethod
    def _record(obj: dict[str, Any], name: str) -> None:
        """With ``PLOY_RECORD_STATUS_DIR`` set, keep each newly seen object (managedFields dropped)."""
        directory = os.environ.get("PLOY_RECORD_STATUS_DIR")
        if directory:
            kept = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
            Path(directory, f"{name}.json").write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")

    def wait(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        """Poll until ``predicate(obj)``; returns that object."""
        found: list[dict[str, Any]] = []

        def check() -> bool:
            obj = self.get()
            if predicate(obj):
                found.append(obj)
                return True
            return False

        _wait_for(check, timeout, f"{what}; seen (phase, health): {self.seen}")
        return found[0]


def _phase(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    phase: str | None = status.get("phase")
    return phase


def test_real_operator_runs_under_the_chart_rbac(
    cluster: ClusterHandle, crds: list[str], tmp_path: Path
) -> None:
    """The chart's ServiceAccount and RBAC (namespaced mode) are enough for the real operator to roll out
    the TradingBot the tradingbot chart renders, in a namespace enforcing Pod Security "restricted"; the
    ArgoCD health check reads every live status right, and the ArgoCD promote action promotes."""
    suffix = uuid.uuid4().hex[:8]
    operator_ns, bots_ns = f"d-op-{suffix}", f"d-bots-{suffix}"
    _namespace(cluster, operator_ns)
    _namespace(cluster, bots_ns)
    release = f"op-{suffix}"
    timings = ["--set", "rollout.bakeSeconds=1", "--set", "rollout.postPromotionSeconds=2"]
    timings += ["--set", "rollout.scaleDownDelaySeconds=3", "--set", "rollout.progressDeadlineSeconds=60"]
    try:
        cluster.helm(
            "install", release, str(OPERATOR_CHART), "-n", operator_ns,
            "--set", f"watchNamespaces={{{bots_ns}}}", "--set", "replicaCount=0",
        )  # fmt: skip
        cluster.kubectl(
            "-n", bots_ns, "create", "secret", "generic", "arb-db",
            "--from-literal=url=postgresql://bot:secret@db.invalid:5432/bot",
        )  # fmt: skip
        cluster.helm(
            "install",
            "arb",
            str(BOT_CHART),
            "-n",
            bots_ns,
            "--set",
            "database.secretRef.name=arb-db",
            *timings,
        )
        account = f"{release}-ploy-operator"
        kubeconfig = _service_account_kubeconfig(cluster, operator_ns, account, tmp_path / "sa.kubeconfig")
        log = tmp_path / "operator.log"
        command = [sys.executable, "-c", OPERATOR_MAIN, "run", "--namespace", bots_ns, "--metrics-port", "0"]
        command += ["--peering", account, "--verbose"]
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        live = LiveHealth(cluster, bots_ns, "arb")
        with log.open("wb") as out:
            operator = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            first = live.wait(lambda o: _phase(o) == "Healthy", 180, f"arb Healthy (operator log {log})")
            # A new image with manual promotion: the health check suspends, the promote action is offered.
            cluster.helm(
                "upgrade", "arb", str(BOT_CHART), "-n", bots_ns, "--reuse-values",
                "--set", "rollout.autoPromote=false", "--set", "image.tag=0.1.1",
            )  # fmt: skip
            waiting = live.wait(lambda o: _phase(o) == "AwaitingPromotion", 120, "arb AwaitingPromotion")
            actions = run_script((ARGOCD / "lua" / "actions" / "discovery.lua").read_text(), waiting)
            assert actions["promote"]["disabled"] is False
            promoted = run_script((ARGOCD / "lua" / "actions" / "promote.lua").read_text(), waiting)
            value = promoted["metadata"]["annotations"]["ploy.dev/promote"]
            cluster.kubectl(
                "-n", bots_ns, "annotate", "tradingbot", "arb", f"ploy.dev/promote={value}", "--overwrite"
            )
            old_revision = first["status"]["activeRevision"]
            done = live.wait(
                lambda o: _phase(o) == "Healthy" and o["status"]["activeRevision"] != old_revision,
                120,
                "arb Healthy on the new revision after the promote action",
            )
            # A revision whose pods never become Ready: rolled back at its deadline, health Degraded,
            # retry offered. Then spec.paused: health Suspended.
            cluster.helm(
                "upgrade", "arb", str(BOT_CHART), "-n", bots_ns, "--reuse-values",
                "--set", "rollout.autoPromote=true", "--set", "rollout.progressDeadlineSeconds=6",
                "--set", "image.tag=0.1.2", "--set", "podTemplate.labels.ploy\\.dev/fault=never-ready",
            )  # fmt: skip
            failed = live.wait(lambda o: _phase(o) == "Degraded", 120, "arb Degraded after the deadline")
            actions = run_script((ARGOCD / "lua" / "actions" / "discovery.lua").read_text(), failed)
            assert {name: not a["disabled"] for name, a in actions.items()} == {
                "promote": False,
                "abort": False,
                "retry": True,
            }
            cluster.helm(
                "upgrade", "arb", str(BOT_CHART), "-n", bots_ns, "--reuse-values", "--set", "paused=true"
            )
            live.wait(lambda o: _phase(o) == "Paused", 60, "arb Paused")
        finally:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait(timeout=10)
        text = log.read_text(errors="replace")
        # An API 403 shows as "(403)" and "Forbidden" (the client's exception, kopf's APIForbiddenError);
        # a bare "403" also occurs inside timestamps and durations ("requeue 6.371403").
        refused = [line for line in text.splitlines() if "Forbidden" in line or "(403)" in line]
        assert not refused, refused[:10]
        assert done["status"]["epoch"] > first["status"]["epoch"] >= 1
        assert done["status"]["activeColor"] != first["status"]["activeColor"]
        for pair in (("AwaitingPromotion", "Suspended"), ("Healthy", "Healthy"), ("Degraded", "Degraded")):
            assert pair in live.seen, live.seen
        assert ("Paused", "Suspended") in live.seen, live.seen
        assert failed["status"]["lastRollout"]["result"] == "RolledBack", failed["status"]
        active = f"deployment/arb-{done['status']['activeColor']}"
        deployment = _json(cluster, "-n", bots_ns, "get", active)
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "arb-bot"
    finally:
        cluster.helm("uninstall", "arb", "-n", bots_ns, check=False)
        cluster.helm("uninstall", release, "-n", operator_ns, check=False)
        for ns in (bots_ns, operator_ns):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
