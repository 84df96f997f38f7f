"""The local control plane is real: controllers, scheduler and kwok roll out pods, kwok's failure
stages behave as documented, CRDs are served and validated, helm renders into a server-side dry run,
and the third-party CRDs (ArgoCD, prometheus-operator) are installed from the Go module cache."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient, AppsV1Api, CoreV1Api, VersionApi

from tests.support.cluster import ClusterHandle, crds_dir

pytestmark = pytest.mark.cluster
DATA = Path(__file__).parent / "data"


def _deployment(name: str, replicas: int = 2, fault: str | None = None, fail_after: str | None = None) -> str:
    labels = {"app": name}
    if fault:
        labels["ploy.dev/fault"] = fault
    annotations = {"ploy.dev/fail-after": fail_after} if fail_after else {}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
                },
            },
        }
    )


def _get(cluster: ClusterHandle, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("-n", namespace, "get", *what, "-o", "json").stdout)


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _pods(cluster: ClusterHandle, namespace: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _get(cluster, namespace, "pods", "-l", f"app={app}")["items"]
    return items


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.mark.kind
async def test_version_is_pinned(k8s_api: ApiClient, cluster: ClusterHandle) -> None:
    info = await VersionApi(k8s_api).get_code()
    if cluster.kind == "kind":
        return  # kind brings its own Kubernetes version and real nodes
    assert info.git_version.startswith("v1.34."), info.git_version
    nodes = await CoreV1Api(k8s_api).list_node()
    assert [n.metadata.name for n in nodes.items if n.metadata] == ["kwok-node-0"]


@pytest.mark.kind
async def test_deployment_becomes_available(
    k8s_api: ApiClient, cluster: ClusterHandle, namespace: str
) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=_deployment("web", replicas=3))
    cluster.kubectl(
        "-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s"
    )  # raises if it never completes
    dep = await AppsV1Api(k8s_api).read_namespaced_deployment("web", namespace)
    assert dep.status is not None
    assert dep.status.available_replicas == 3
    pods = _pods(cluster, namespace, "web")
    assert len(pods) == 3
    assert all(_ready(p) for p in pods)
    if cluster.kind == "local":
        assert {p["spec"]["nodeName"] for p in pods} == {"kwok-node-0"}


def test_crash_loop_restart_count_rises(cluster: ClusterHandle, namespace: str) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=_deployment("crashy", 1, fault="crash-loop"))

    def restarts() -> int:
        pods = _pods(cluster, namespace, "crashy")
        statuses = pods[0].get("status", {}).get("containerStatuses", []) if pods else []
        return int(statuses[0].get("restartCount", 0)) if statuses else -1

    _wait_for(lambda: restarts() >= 1, 30, "a first restart")
    first = restarts()
    _wait_for(lambda: restarts() >= first + 2, 30, "restartCount to keep rising")
    pod = _pods(cluster, namespace, "crashy")[0]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert not _ready(pod)
    dep = _get(cluster, namespace, "deployment", "crashy")
    assert dep["status"].get("availableReplicas", 0) == 0
    result = cluster.kubectl(
        "-n", namespace, "rollout", "status", "deployment/crashy", "--timeout=3s", check=False
    )
    assert result.returncode != 0


def test_never_ready_pod_stays_not_ready(cluster: ClusterHandle, namespace: str) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=_deployment("shy", 1, fault="never-ready"))
    _wait_for(
        lambda: any(p.get("status", {}).get("phase") == "Running" for p in _pods(cluster, namespace, "shy")),
        30,
        "the never-ready pod to run",
    )
    time.sleep(3)
    pods = _pods(cluster, namespace, "shy")
    assert pods and not any(_ready(p) for p in pods)


def test_ready_then_fail_loses_readiness(cluster: ClusterHandle, namespace: str) -> None:
    cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        input=_deployment("flaky", 1, fault="ready-then-fail", fail_after="3s"),
    )
    _wait_for(lambda: any(_ready(p) for p in _pods(cluster, namespace, "flaky")), 30, "Ready")
    became_ready = time.monotonic()
    _wait_for(lambda: not any(_ready(p) for p in _pods(cluster, namespace, "flaky")), 30, "NotReady")
    assert time.monotonic() - became_ready >= 1.5  # the configured delay held it Ready for a while


@pytest.mark.kind
def test_crd_is_served_and_validated(cluster: ClusterHandle, namespace: str) -> None:
    cluster.kubectl("apply", "-f", str(DATA / "widgets-crd.yaml"))
    cluster.wait_crd_established("widgets.harness.ploy.dev")
    good = {
        "apiVersion": "harness.ploy.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "ok"},
        "spec": {"size": 3},
    }
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(good))
    bad = {
        "apiVersion": "harness.ploy.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "bad"},
        "spec": {"size": 99},
    }
    result = cluster.kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert (
        "spec.size: Invalid value: 99: spec.size in body should be less than or equal to 10" in result.stderr
    )
    explain = cluster.kubectl("explain", "widget.spec.size").stdout
    assert "How many, 1 to 10." in explain


def test_helm_template_applies_server_side(cluster: ClusterHandle, namespace: str) -> None:
    rendered = cluster.helm("template", "demo", str(DATA / "chart"), "--namespace", namespace).stdout
    result = cluster.kubectl("-n", namespace, "apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "deployment.apps/demo-web created (server dry run)" in result.stdout
    assert cluster.kubectl("-n", namespace, "get", "deployment", "demo-web", check=False).returncode != 0


@pytest.mark.parametrize(
    ("crd_file", "resource"),
    [
        ("argocd-application-crd.yaml", "applications.argoproj.io"),
        ("argocd-appproject-crd.yaml", "appprojects.argoproj.io"),
        ("argocd-applicationset-crd.yaml", "applicationsets.argoproj.io"),
        ("monitoring-servicemonitors.yaml", "servicemonitors.monitoring.coreos.com"),
        ("monitoring-prometheusrules.yaml", "prometheusrules.monitoring.coreos.com"),
    ],
)
def test_third_party_crds_are_served(cluster: ClusterHandle, crd_file: str, resource: str) -> None:
    path = crds_dir() / crd_file
    assert path.is_file(), f"{path} missing: scripts/fetch-crds.sh copies it from the Go module cache"
    cluster.kubectl("apply", "--server-side", "-f", str(path))
    cluster.wait_crd_established(resource)
    plural = resource.split(".", 1)[0]
    listed = cluster.kubectl("get", plural, "--all-namespaces", "-o", "json")
    assert json.loads(listed.stdout)["kind"] == "List"
