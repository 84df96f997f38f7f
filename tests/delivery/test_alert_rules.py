"""The tradingbot chart's PrometheusRule, checked by Prometheus' own promtool (syntax and unit tests of
every alert against synthetic series), and every metric the rules and the dashboard use is one the bot
or the operator actually exports, with label values from their own enums."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ploy_localcluster.prometheus import prometheus_bin_dir
from tests.delivery.tools import (
    BOT_CHART,
    DATA,
    ROOT,
    by_kind,
    documents,
    helm_template,
    host_tool,
    required,
    run,
)
from tradingbot.risk import RejectReason
from tradingbot_operator.model import RolloutResult

PROMTOOL_TESTS = DATA / "promtool" / "tradingbot-alerts.test.yaml"
METRIC_RE = re.compile(r"\b(ploy_[a-z0-9_]+)")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def _promtool() -> str:
    """promtool of the Prometheus build the ``prometheus`` tier runs (same version, so a rule that passes
    here behaves the same in the real Prometheus); Debian's older one only when that tier is not required
    and nothing was built."""
    built = prometheus_bin_dir() / "promtool"
    if built.is_file():
        return str(built)
    if required("prometheus"):
        pytest.fail(f"{built} missing: run scripts/build-prometheus.sh")
    return host_tool("promtool", "run scripts/build-prometheus.sh, or scripts/ensure-promtool.sh (Debian)")


def test_promtool_is_the_version_of_the_real_prometheus() -> None:
    """The rule unit tests run the promtool of the Prometheus the real-stack alert tests scrape with."""
    promtool = _promtool()
    server = prometheus_bin_dir() / "prometheus"
    if not server.is_file():
        if required("prometheus"):
            pytest.fail(f"{server} missing: run scripts/build-prometheus.sh")
        pytest.skip("no Prometheus build to compare with")
    version = re.compile(r"version (\S+)")
    tool_version = version.search(run(promtool, "--version").stdout)
    server_version = version.search(run(str(server), "--version").stdout)
    assert tool_version and server_version
    assert tool_version.group(1) == server_version.group(1), (tool_version.group(1), server_version.group(1))


def _rules_file(directory: Path) -> Path:
    """The chart's rule groups (release arb, namespace bots, default values) as a promtool rules file."""
    (rule,) = by_kind(documents(helm_template(BOT_CHART, release="arb", namespace="bots")), "PrometheusRule")
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_promtool_checks_rules(tmp_path: Path) -> None:
    result = run(_promtool(), "check", "rules", str(_rules_file(tmp_path)))
    assert "SUCCESS: 6 rules found" in result.stdout


def test_promtool_unit_tests_every_alert(tmp_path: Path) -> None:
    _rules_file(tmp_path)
    tests = yaml.safe_load(PROMTOOL_TESTS.read_text())
    tested = {t["alertname"] for group in tests["tests"] for t in group["alert_rule_test"] if t["exp_alerts"]}
    rules = yaml.safe_load((tmp_path / "rules.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert tested == alerts, "every alert needs a unit test in which it fires"
    shutil.copy(PROMTOOL_TESTS, tmp_path / PROMTOOL_TESTS.name)
    result = run(_promtool(), "test", "rules", str(tmp_path / PROMTOOL_TESTS.name))
    assert "SUCCESS" in result.stdout


def _exported_names() -> set[str]:
    """Metric names written as string literals in the bot's and the operator's sources."""
    names: set[str] = set()
    for package in (ROOT / "bot" / "tradingbot", ROOT / "operator" / "tradingbot_operator"):
        for source in package.rglob("*.py"):
            names |= set(re.findall(r"[\"'](ploy_[a-z0-9_]+)[\"']", source.read_text()))
    return names


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _used_metrics() -> set[str]:
    stream = helm_template(BOT_CHART, release="arb", namespace="bots")
    (rule,) = by_kind(documents(stream), "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    dashboard = json.loads((BOT_CHART / "dashboards" / "tradingbot.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return {m for expr in exprs for m in METRIC_RE.findall(expr)}


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    exported = {_base(n) for n in _exported_names()}
    used = _used_metrics()
    assert {"ploy_role_active", "ploy_fenced_writes_total", "ploy_pnl_usd"} <= used
    missing = sorted(m for m in used if _base(m) not in exported)
    assert not missing, f"metrics no component exports: {missing}"


def test_rules_match_label_values_of_the_components() -> None:
    text = helm_template(BOT_CHART, release="arb", namespace="bots")
    assert f'reason="{RejectReason.DAILY_LOSS.value}"' in text
    assert f'result=~"{RolloutResult.ROLLED_BACK.value}|{RolloutResult.ABORTED.value}"' in text


def test_operator_rollout_counter_has_the_labels_the_alert_selects() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from tradingbot_operator.metrics import OperatorMetrics

    registry = CollectorRegistry()
    # labels() raises ValueError when the counter's label names differ from the alert's matchers.
    OperatorMetrics(registry).rollouts.labels(namespace="bots", name="arb", result="RolledBack").inc()
    exposition = generate_latest(registry).decode()
    assert 'ploy_operator_rollouts_total{name="arb",namespace="bots",result="RolledBack"} 1.0' in exposition
    text = helm_template(BOT_CHART, release="arb", namespace="bots")
    assert 'ploy_operator_rollouts_total{namespace="bots", name="arb", result=~' in text
