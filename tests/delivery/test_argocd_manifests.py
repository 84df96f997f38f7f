"""The ArgoCD manifests, checked against the repository they deploy: sync waves put the operator before
the bots, every source path and values file exists and renders, the AppProject allows exactly what the
charts render, and the ignoreDifferences jq expressions (run by the real jq) drop only what the operator
and people own."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.tools import (
    ARGOCD,
    BOT_CHART,
    DATA,
    OPERATOR_CHART,
    ROOT,
    by_kind,
    documents,
    helm_template,
    host_tool,
    run,
    tool,
)
from tradingbot_operator.model import TradingBotSpec

FORK = "https://git.example/someone/ploy-fork.git"
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"
CLUSTER_SCOPED = {
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
    "Namespace",
}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ARGOCD / name).read_text())
    return data


def _children(repo_url: str = FORK) -> list[dict[str, Any]]:
    """``argocd/apps`` rendered as ploy-root renders it, with ``repo_url`` as the repository."""
    return documents(
        helm_template(ARGOCD / "apps", "--set-string", f"repoURL={repo_url}", release="ploy-root")
    )


def _child(name: str) -> dict[str, Any]:
    (doc,) = [d for d in _children() if d["metadata"]["name"] == name]
    return doc


def _wave(doc: dict[str, Any]) -> int:
    return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def _environments() -> list[dict[str, str]]:
    appset = _child("tradingbots")
    elements: list[dict[str, str]] = appset["spec"]["generators"][0]["list"]["elements"]
    return elements


def test_root_app_syncs_the_apps_directory() -> None:
    root = _load("root-app.yaml")
    assert (ROOT / root["spec"]["source"]["path"]).is_dir()
    assert root["spec"]["source"]["path"] == "argocd/apps"


def test_the_repository_url_is_written_once() -> None:
    url = _load("root-app.yaml")["spec"]["source"]["repoURL"]
    holders = [p for p in sorted(ARGOCD.rglob("*")) if p.is_file() and url in p.read_text()]
    assert holders == [ARGOCD / "root-app.yaml"]


def test_children_sync_the_repository_and_revision_of_the_root() -> None:
    params = {p["name"]: p["value"] for p in _load("root-app.yaml")["spec"]["source"]["helm"]["parameters"]}
    assert params == {
        "repoURL": "$ARGOCD_APP_SOURCE_REPO_URL",
        "targetRevision": "$ARGOCD_APP_SOURCE_TARGET_REVISION",
    }
    operator, appset = _child("ploy-operator"), _child("tradingbots")
    assert operator["spec"]["source"]["repoURL"] == FORK
    assert appset["spec"]["template"]["spec"]["source"]["repoURL"] == FORK
    assert appset["spec"]["template"]["metadata"]["name"] == "tradingbot-{{ .env }}"
    assert {e["revision"] for e in appset["spec"]["generators"][0]["list"]["elements"]} == {"main"}


def test_kustomization_copies_the_url_into_the_appproject() -> None:
    docs = documents(run(tool("kubectl"), "kustomize", str(ARGOCD)).stdout)
    (project,) = by_kind(docs, "AppProject")
    (root,) = by_kind(docs, "Application")
    assert project["spec"]["sourceRepos"] == [root["spec"]["source"]["repoURL"]]
    assert root == _load("root-app.yaml")


def test_operator_syncs_in_an_earlier_wave_than_the_bots() -> None:
    operator = _child("ploy-operator")
    bots = _child("tradingbots")
    assert _wave(operator) < _wave(bots)


def test_operator_app_templates_the_crd_once() -> None:
    source = _child("ploy-operator")["spec"]["source"]
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    assert source["helm"]["skipCrds"] is True
    assert source["helm"]["valuesObject"]["crds"] == {"install": True, "keep": True}
    assert source["helm"]["valuesObject"]["kopf-peering-crds"] == {"template": True}
    sync = _child("ploy-operator")["spec"]["syncPolicy"]["syncOptions"]
    assert "ServerSideApply=true" in sync


@pytest.mark.parametrize("env", [e["env"] for e in _environments()])
def test_environment_values_render_a_valid_tradingbot(env: str) -> None:
    template = _child("tradingbots")["spec"]["template"]["spec"]
    chart_dir = ROOT / template["source"]["path"]
    (value_file,) = template["source"]["helm"]["valueFiles"]
    values = (chart_dir / value_file.replace("{{ .env }}", env)).resolve()
    assert values.is_file() and values.is_relative_to(ROOT)
    docs = documents(helm_template(chart_dir, values=values, release="arb", namespace=f"bots-{env}"))
    (bot,) = by_kind(docs, "TradingBot")
    spec = TradingBotSpec.model_validate(bot["spec"])
    if env == "production":
        assert spec.rollout.auto_promote is False, "production waits for a person to promote"
        assert spec.rollout.migration.enabled


def test_bots_skip_the_dry_run_until_the_crd_exists() -> None:
    options = _child("tradingbots")["spec"]["template"]["spec"]["syncPolicy"]["syncOptions"]
    assert "SkipDryRunOnMissingResource=true" in options
    (bot,) = by_kind(documents(helm_template(BOT_CHART)), "TradingBot")
    assert bot["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == SKIP_DRY_RUN


def _rendered_for_argocd(tmp_path: Path) -> list[dict[str, Any]]:
    """Both charts as the Applications render them (the operator's valuesObject, each environment)."""
    values = _child("ploy-operator")["spec"]["source"]["helm"]["valuesObject"]
    operator_values = tmp_path / "operator-values.yaml"
    operator_values.write_text(yaml.safe_dump(values))
    # ArgoCD with helm.skipCrds renders no crds/ directory: every CRD must come from a template.
    docs = documents(helm_template(OPERATOR_CHART, "--skip-crds", values=operator_values))
    crds = {d["metadata"]["name"] for d in by_kind(docs, "CustomResourceDefinition")}
    assert crds == {"tradingbots.ploy.dev", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    for env in _environments():
        docs += documents(helm_template(BOT_CHART, values=ARGOCD / "values" / f"{env['env']}.yaml"))
    return docs


def test_appproject_allows_every_kind_the_charts_render(tmp_path: Path) -> None:
    spec = _load("appproject.yaml")["spec"]
    cluster = {(r["group"], r["kind"]) for r in spec["clusterResourceWhitelist"]}
    namespaced = {(r["group"], r["kind"]) for r in spec["namespaceResourceWhitelist"]}
    rendered = _rendered_for_argocd(tmp_path)
    assert by_kind(rendered, "ServiceMonitor") and by_kind(rendered, "CustomResourceDefinition")
    for doc in rendered:
        if doc["metadata"].get("annotations", {}).get("helm.sh/hook") == "test":
            continue  # ArgoCD does not sync helm test hooks
        group = doc["apiVersion"].rpartition("/")[0]
        allowed = cluster if doc["kind"] in CLUSTER_SCOPED else namespaced
        assert (group, doc["kind"]) in allowed, f"{group}/{doc['kind']} is not allowed by the AppProject"
    assert ("", "Secret") in {(r["group"], r["kind"]) for r in spec["namespaceResourceBlacklist"]}


def test_appproject_admits_every_destination() -> None:
    allowed = {d["namespace"] for d in _load("appproject.yaml")["spec"]["destinations"]}
    assert _child("ploy-operator")["spec"]["destination"]["namespace"] in allowed
    assert {e["namespace"] for e in _environments()} <= allowed
    assert _load("root-app.yaml")["spec"]["destination"]["namespace"] in allowed


def _jq() -> str:
    return host_tool("jq", "run scripts/ensure-promtool.sh (Debian package jq)")


def test_ignore_differences_drop_only_operator_and_manual_fields() -> None:
    appset = _child("tradingbots")
    (rule,) = appset["spec"]["template"]["spec"]["ignoreDifferences"]
    assert (rule["group"], rule["kind"]) == ("ploy.dev", "TradingBot")
    live = json.loads((DATA / "status" / "healthy.json").read_text())["object"]
    live["metadata"]["annotations"] = {
        "kopf.zalando.org/last-handled-configuration": "{}",
        "ploy.dev/promote": "2026-11-21T10:01:00Z",
        "argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true",
        "team": "trading",
    }
    live["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    normalized = copy.deepcopy(live)
    for pointer in rule["jsonPointers"]:
        *parents, last = pointer.strip("/").split("/")
        target = normalized
        for part in parents:
            target = target[part]
        target.pop(last, None)
    for expression in rule["jqPathExpressions"]:
        result = run(_jq(), "-c", f"del({expression})", input=json.dumps(normalized))
        normalized = json.loads(result.stdout)
    assert "status" not in normalized and "finalizers" not in normalized["metadata"]
    assert normalized["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true",
        "team": "trading",
    }
    assert normalized["spec"] == live["spec"]


def test_every_argocd_file_is_yaml_with_a_kind() -> None:
    files = sorted(Path(ARGOCD).rglob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        for doc in documents(path.read_text()):
            chart_file = path.parent == ARGOCD / "apps" and path.name in {"Chart.yaml", "values.yaml"}
            assert doc.get("kind") or path.parent.name == "values" or chart_file, path


def test_apps_chart_lints_and_needs_the_repository_url() -> None:
    run(tool("helm"), "lint", "--strict", str(ARGOCD / "apps"), "--set-string", f"repoURL={FORK}")
    unset = subprocess.run(
        [tool("helm"), "template", str(ARGOCD / "apps")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unset.returncode != 0 and "ARGOCD_APP_SOURCE_REPO_URL" in unset.stderr
