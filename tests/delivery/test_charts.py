"""The Helm charts, rendered by the real helm binary: lint, every ci scenario, the values schema, the
TradingBot each scenario renders (validated by the operator's own pydantic model), least-privilege
RBAC, and Pod Security "restricted" settings on every pod the charts create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.tools import (
    BOT_CHART,
    OPERATOR_CHART,
    ROOT,
    by_kind,
    ci_values,
    documents,
    helm_template,
    pod_specs,
    run,
    tool,
)
from tradingbot_operator.model import TradingBotSpec

SCENARIOS = [(chart, values) for chart in (OPERATOR_CHART, BOT_CHART) for values in ci_values(chart)]
SCENARIO_IDS = [f"{chart.name}:{values.name}" for chart, values in SCENARIOS]


def _render(chart: Path, values: Path, *extra: str) -> list[dict[str, Any]]:
    return documents(helm_template(chart, *extra, values=values))


def test_every_chart_has_ci_scenarios() -> None:
    assert len(ci_values(OPERATOR_CHART)) >= 3
    assert len(ci_values(BOT_CHART)) >= 3


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=SCENARIO_IDS)
def test_helm_lint_strict(chart: Path, values: Path) -> None:
    result = run(tool("helm"), "lint", "--strict", str(chart), "--values", str(values))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=SCENARIO_IDS)
def test_every_scenario_renders_labelled_objects(chart: Path, values: Path) -> None:
    docs = _render(chart, values)
    assert docs, "nothing rendered"
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", doc["metadata"]["name"]
        assert "helm.sh/chart" in labels, doc["metadata"]["name"]


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=SCENARIO_IDS)
def test_every_pod_meets_pod_security_restricted(chart: Path, values: Path) -> None:
    pods = list(pod_specs(_render(chart, values)))
    for name, spec in pods:
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True, name
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert "limits" in container["resources"] and "memory" in container["resources"]["limits"], name


@pytest.mark.parametrize("values", ci_values(BOT_CHART), ids=lambda p: p.name)
def test_rendered_tradingbot_is_accepted_by_the_operator_model(values: Path) -> None:
    (bot,) = by_kind(_render(BOT_CHART, values), "TradingBot")
    spec = TradingBotSpec.model_validate(bot["spec"])
    assert spec.database.secret_ref.name
    assert spec.database.url is None


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every property in an OpenAPI object schema (list items under their list)."""
    paths: set[str] = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if sub.get("type") == "object" and "properties" in sub:
            paths |= _schema_paths(sub, f"{path}.")
        elif sub.get("type") == "array" and "properties" in sub.get("items", {}):
            paths |= _schema_paths(sub["items"], f"{path}[].")
    return paths


def _doc_paths(value: Any, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            path = f"{prefix}{key}"
            paths.add(path)
            paths |= _doc_paths(sub, f"{path}.")
    elif isinstance(value, list):
        for item in value:
            paths |= _doc_paths(item, prefix[:-1] + "[]." if prefix else "")
    return paths


def test_every_crd_spec_field_is_set_by_some_value() -> None:
    crd = yaml.safe_load((OPERATOR_CHART / "crds" / "tradingbots.ploy.dev.yaml").read_text())
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    wanted = _schema_paths(spec_schema)
    (bot,) = by_kind(_render(BOT_CHART, BOT_CHART / "ci" / "manual-promotion-values.yaml"), "TradingBot")
    rendered = _doc_paths(bot["spec"])
    # database.url exists only to be rejected with a helpful message; tolerations' fields are free-form
    # entries of a list the chart passes through whole; feed.recording excludes feed.url, which the
    # scenario sets (the node tier's tests install the chart with feed.recording).
    deliberately_absent = {"database.url", "feed.recording"} | {
        p for p in wanted if p.startswith("podTemplate.tolerations[]")
    }
    assert wanted - deliberately_absent <= rendered, sorted(wanted - deliberately_absent - rendered)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("trading.mode=live", "/trading/mode"),
        ("image.tag=latest", "/image/tag"),
        ("database.url=postgresql://u:p@db/x", "/database"),
        ("replicas=2", "/replicas"),
        ("name=Not_A_Name", "/name"),
        ("rollout.bakeSeconds=-1", "/rollout/bakeSeconds"),
        ("feed.url=https://clob.polymarket.com", "/feed/url"),
        ("feed.type=carrier-pigeon", "/feed/type"),
    ],
)
def test_values_schema_rejects_bad_tradingbot_values(setting: str, message: str) -> None:
    result = run(tool("helm"), "template", "x", str(BOT_CHART), "--set", setting, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_values_schema_rejects_unknown_operator_values() -> None:
    result = run(tool("helm"), "template", "x", str(OPERATOR_CHART), "--set", "replicas=3", check=False)
    assert result.returncode != 0
    assert "replicas" in result.stderr


def test_database_credential_is_only_referenced() -> None:
    stream = helm_template(BOT_CHART, "--set", "database.secretRef.name=arb-db")
    docs = documents(stream)
    assert not by_kind(docs, "Secret")
    (bot,) = by_kind(docs, "TradingBot")
    assert bot["spec"]["database"] == {"secretRef": {"name": "arb-db", "key": "url"}}
    assert "postgresql://" not in stream


def _rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for kind in ("ClusterRole", "Role") for doc in by_kind(docs, kind) for rule in doc["rules"]]


def _grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize("values", ci_values(OPERATOR_CHART), ids=lambda p: p.name)
def test_operator_rbac_is_least_privilege(values: Path) -> None:
    docs = _render(OPERATOR_CHART, values)
    rules = _rules(docs)
    if not rules:
        pytest.fail("the operator chart rendered no RBAC rules")
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    grants = _grants(rules)
    assert ("", "secrets") not in grants, "the operator never reads Secrets: pods get them by secretKeyRef"
    assert grants[("ploy.dev", "tradingbots")] == {"get", "list", "watch"}
    assert grants[("ploy.dev", "tradingbots/status")] == {"patch"}
    assert grants[("", "pods")] == {"get", "list", "watch"}
    assert grants[("", "events")] == {"create"}
    assert grants[("", "configmaps")] == {"get", "list", "watch", "create"}
    assert grants[("apps", "deployments")] == {"get", "list", "watch", "create", "patch"}
    assert grants[("", "services")] == {"get", "list", "watch", "create", "patch"}
    assert ("rbac.authorization.k8s.io", "roles") not in grants
    namespaced = yaml.safe_load(values.read_text()).get("watchNamespaces", [])
    cluster_role = by_kind(docs, "ClusterRole")[0]
    cluster_grants = _grants(cluster_role["rules"])
    if namespaced:
        assert ("apps", "deployments") not in cluster_grants, "no cluster-wide writes in namespaced mode"
        assert {d["metadata"]["namespace"] for d in by_kind(docs, "Role")} == set(namespaced)
        assert {d["metadata"]["namespace"] for d in by_kind(docs, "KopfPeering")} == set(namespaced)
    else:
        assert ("", "namespaces") not in cluster_grants, "kopf needs no namespace list when cluster-wide"
        assert not by_kind(docs, "Role")


def test_tradingbot_role_reads_only_its_own_tradingbot() -> None:
    docs = _render(BOT_CHART, BOT_CHART / "ci" / "default-values.yaml")
    (role,) = by_kind(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["ploy.dev"],
            "resources": ["tradingbots"],
            "resourceNames": ["demo"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    (bot,) = by_kind(docs, "TradingBot")
    assert bot["spec"]["podTemplate"]["serviceAccountName"] == role["metadata"]["name"]


def test_operator_deployment_runs_peered_replicas_with_probes() -> None:
    docs = _render(OPERATOR_CHART, OPERATOR_CHART / "ci" / "default-values.yaml")
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "ploy-operator"
    args = container["args"]
    assert args[0] == "run"
    assert "--all-namespaces" in args
    assert "--peering=demo-ploy-operator" in args
    assert "--metrics-port=8000" in args
    assert container["livenessProbe"]["httpGet"]["port"] == "liveness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    (peering,) = by_kind(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "demo-ploy-operator"
    service = next(d for d in by_kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics"))
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_test_pods_are_not_selected_by_services_or_policies() -> None:
    for chart in (OPERATOR_CHART, BOT_CHART):
        docs = _render(chart, chart / "ci" / "default-values.yaml")
        pods = by_kind(docs, "Pod")
        test_pods = [d for d in pods if d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
        assert test_pods, chart.name
        selectors = [d["spec"]["selector"] for d in by_kind(docs, "Service")]
        selectors += [d["spec"]["selector"]["matchLabels"] for d in by_kind(docs, "PodDisruptionBudget")]
        selectors += [d["spec"]["podSelector"]["matchLabels"] for d in by_kind(docs, "NetworkPolicy")]
        for pod in test_pods:
            labels = pod["metadata"]["labels"]
            for selector in selectors:
                assert not selector.items() <= labels.items(), (pod["metadata"]["name"], selector)


def test_crd_template_is_kept_and_equals_the_generated_crd() -> None:
    docs = _render(OPERATOR_CHART, OPERATOR_CHART / "ci" / "crds-template-values.yaml")
    crds = by_kind(docs, "CustomResourceDefinition")
    (crd,) = [d for d in crds if d["metadata"]["name"] == "tradingbots.ploy.dev"]
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    generated = yaml.safe_load((OPERATOR_CHART / "crds" / "tradingbots.ploy.dev.yaml").read_text())
    assert crd["spec"] == generated["spec"]
    default = _render(OPERATOR_CHART, OPERATOR_CHART / "ci" / "default-values.yaml")
    assert not by_kind(default, "CustomResourceDefinition"), "crds.install=false leaves the CRD to crds/"


def test_servicemonitor_covers_both_colors() -> None:
    docs = _render(BOT_CHART, BOT_CHART / "ci" / "default-values.yaml")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"] == {"matchLabels": {"ploy.dev/tradingbot": "demo"}}
    relabel = {r["targetLabel"]: r["sourceLabels"] for r in monitor["spec"]["endpoints"][0]["relabelings"]}
    assert relabel["color"] == ["__meta_kubernetes_pod_label_ploy_dev_color"]
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"ploy.dev/tradingbot": "demo"}}


def _effective_argv(container: dict[str, Any], tmp_path: Path) -> list[str]:
    """The argv ``ploy-operator`` receives: the container's command run for real by /bin/sh, with a stand-in
    ``ploy-operator`` on PATH that prints its arguments (one per line)."""
    if container["command"] == ["ploy-operator"]:
        return list(container["args"])
    stand_in = tmp_path / "ploy-operator"
    stand_in.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stand_in.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = run(*container["command"], *container["args"], env=env).stdout
    return out.splitlines()


@pytest.mark.parametrize("values", ci_values(OPERATOR_CHART), ids=lambda p: p.name)
def test_operator_args_are_accepted_by_the_real_cli(values: Path, tmp_path: Path) -> None:
    import typer.main

    from tradingbot_operator.cli import app

    (deployment,) = by_kind(_render(OPERATOR_CHART, values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    group = typer.main.get_group(app)
    argv = _effective_argv(container, tmp_path)
    assert argv[0] == "run"
    # Parsing (not invoking) the real command: an unknown option or a bad value raises here.
    with group.commands["run"].make_context("run", argv[1:]) as ctx:
        params = ctx.params
    scenario = yaml.safe_load(values.read_text()) or {}
    watch = scenario.get("watchNamespaces", [])
    assert list(params["namespace"]) == watch
    assert params["all_namespaces"] is (not watch)
    assert params["liveness"] == "http://0.0.0.0:8080/healthz"
    if scenario.get("peering", {}).get("enabled", True):
        assert params["peering"] and 1 <= params["priority"] <= 65536
        again = _effective_argv(container, tmp_path)
        assert again[:-1] == argv[:-1], "only the drawn priority differs between starts"
    else:
        assert params["peering"] is None


def test_peering_crds_equal_the_operators_own() -> None:
    shipped = documents(
        (OPERATOR_CHART / "charts" / "kopf-peering-crds" / "crds" / "kopf-peerings.yaml").read_text()
    )
    own = documents((ROOT / "operator" / "tradingbot_operator" / "peering_crds.yaml").read_text())
    assert shipped == own
