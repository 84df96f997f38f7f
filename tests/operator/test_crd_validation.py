"""Invalid TradingBots are rejected with messages a person can act on — by the real API server (T2)
and, for the same cases, by the operator's own pydantic models (T0).

Each case starts from one valid TradingBot and changes one thing. ``message`` is what the API server
must say (a substring of kubectl's error). Cases whose rule is a ``Rule`` (CEL + Python) must also fail
pydantic with the same message; the OpenAPI-only cases (type, required, min/max, enum) must fail
pydantic too, with pydantic's own wording.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.cluster import ClusterHandle
from tradingbot_operator.crd import CRD_NAME, NAME_RULES, render
from tradingbot_operator.model import TradingBotSpec

CONDITION_ID = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
YES = "76670567130917723816490572615540605537878462672464291990940067659127658071111"
NO = "54179564009642723353355316176091991063553046330768303687769988635499280029688"
OTHER = "0x" + "cd" * 32
DELETE = object()


def valid_bot(name: str = "arb") -> dict[str, Any]:
    """A complete valid TradingBot (every optional block present, so cases can change any field)."""
    return {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "image": "registry.example/ploy-bot:1.4.0",
            "replicas": 1,
            "paused": False,
            "trading": {
                "mode": "paper",
                "markets": [{"conditionId": CONDITION_ID, "tokens": [YES, NO], "feeRate": "0"}],
                "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "50"},
                "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100", "killSwitch": False},
            },
            "feed": {"type": "polymarket-ws", "url": "wss://ws-subscriptions-clob.polymarket.com/ws/market"},
            "database": {"secretRef": {"name": "bot-db", "key": "url"}},
            "rollout": {
                "autoPromote": True,
                "bakeSeconds": 30,
                "maxRestarts": 0,
                "progressDeadlineSeconds": 300,
                "postPromotionSeconds": 60,
                "scaleDownDelaySeconds": 300,
                "migration": {"enabled": False, "args": ["migrate"]},
                "analysis": [
                    {
                        "name": "market-data-age",
                        "query": 'max(ploy_market_data_age_seconds{namespace="{{namespace}}",'
                        'pod=~"{{name}}-{{color}}-.*",revision="{{revision}}"})',
                        "successCondition": {"op": "<=", "value": "5"},
                        "intervalSeconds": 10,
                        "failureLimit": 1,
                        "onInconclusive": "Wait",
                    }
                ],
            },
            "podTemplate": {
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "bots", "effect": "NoSchedule"}
                ],
                "affinity": {},
                "annotations": {"ploy.dev/fail-after": "10s"},
                "labels": {"team": "quant"},
            },
        },
    }


@dataclass(frozen=True)
class Case:
    """One invalid TradingBot: ``changes`` maps dotted paths (list index as a number) to new values."""

    id: str
    changes: dict[str, Any]
    message: str
    # True when the rule is a shared Rule: pydantic must report the very same message.
    same_message: bool = True


def apply_changes(bot: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``bot`` with each dotted path set (or removed when the value is DELETE)."""
    result = copy.deepcopy(bot)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        elif isinstance(node, list) and key == len(node):
            node.append(value)  # one past the end adds an item
        else:
            node[key] = value
    return result


S = "spec."
T = "spec.trading."
R = "spec.rollout."
P = "spec.podTemplate."

CASES = [
    Case("image-missing", {S + "image": DELETE}, "spec.image: Required value", same_message=False),
    Case("image-empty", {S + "image": ""}, "spec.image must be a non-empty image reference without spaces"),
    Case("image-space", {S + "image": "registry.example/ploy bot:1.4"}, "without spaces"),
    Case(
        "image-no-tag", {S + "image": "registry.example/ploy-bot"}, "spec.image must name a tag or a digest"
    ),
    Case("image-port-no-tag", {S + "image": "registry.example:5000/ploy-bot"}, "must name a tag or a digest"),
    Case("image-latest", {S + "image": "registry.example/ploy-bot:latest"}, 'must not use the tag "latest"'),
    Case(
        "replicas-negative",
        {S + "replicas": -1},
        "spec.replicas in body should be greater than or equal to 0",
        same_message=False,
    ),
    Case(
        "replicas-two",
        {S + "replicas": 2},
        "spec.replicas in body should be less than or equal to 1",
        same_message=False,
    ),
    Case(
        "paused-string",
        {S + "paused": "yes"},
        "spec.paused in body must be of type boolean",
        same_message=False,
    ),
    Case("trading-missing", {S + "trading": DELETE}, "spec.trading: Required value", same_message=False),
    Case("mode-live", {T + "mode": "live"}, 'trading.mode must be "paper": live trading is not supported'),
    Case("markets-empty", {T + "markets": []}, "trading.markets must list at least one market"),
    Case(
        "markets-duplicate",
        {T + "markets": [{"conditionId": CONDITION_ID, "tokens": [YES, NO]}] * 2},
        "trading.markets must not list the same conditionId twice",
    ),
    Case("tokens-one", {T + "markets.0.tokens": [YES]}, "tokens must list exactly 2 token ids"),
    Case("tokens-three", {T + "markets.0.tokens": [YES, NO, "1"]}, "tokens must list exactly 2 token ids"),
    Case("tokens-same", {T + "markets.0.tokens": [YES, YES]}, "the YES and NO token ids must differ"),
    Case(
        "token-empty",
        {T + "markets.0.tokens": [YES, ""]},
        "should be at least 1 chars long",
        same_message=False,
    ),
    Case(
        "condition-id-short",
        {T + "markets.0.conditionId": "0x1234"},
        "conditionId must be 0x followed by 64 hex",
    ),
    Case(
        "token-in-two-markets",
        {
            T + "markets": [
                {"conditionId": CONDITION_ID, "tokens": [YES, NO]},
                {"conditionId": OTHER, "tokens": [NO, "9"]},
            ]
        },
        "trading.markets must not list the same token id in two markets",
    ),
    Case("fee-rate-one", {T + "markets.0.feeRate": "1"}, "feeRate must be at least 0 and below 1"),
    Case(
        "fee-rate-13-places",
        {T + "markets.0.feeRate": "0.0000000000001"},
        "feeRate must be below 1E+12 and have at most 12 decimal places",
    ),
    Case(
        "exposure-13-digits",
        {T + "risk.maxExposureUsd": "1000000000000"},
        "risk.maxExposureUsd must be below 1E+12 and have at most 12 decimal places",
    ),
    Case(
        "strategy-unknown",
        {T + "strategy.name": "martingale"},
        'Unsupported value: "martingale": supported values: "complete-set-arbitrage"',
        same_message=False,
    ),
    Case(
        "min-edge-word",
        {T + "strategy.minEdge": "one cent"},
        "strategy.minEdge must be a non-negative decimal",
    ),
    Case("min-edge-one", {T + "strategy.minEdge": "1.5"}, "strategy.minEdge must be at least 0 and below 1"),
    Case(
        "min-edge-number",
        {T + "strategy.minEdge": 0.01},
        "spec.trading.strategy.minEdge in body must be of type string",
        same_message=False,
    ),
    Case(
        "order-size-zero",
        {T + "strategy.maxOrderSize": "0.0"},
        "strategy.maxOrderSize must be greater than 0",
    ),
    Case(
        "order-size-negative",
        {T + "strategy.maxOrderSize": "-5"},
        "strategy.maxOrderSize must be a non-negative",
    ),
    Case(
        "exposure-exponent",
        {T + "risk.maxExposureUsd": "1e3"},
        "risk.maxExposureUsd must be a non-negative decimal",
    ),
    Case(
        "daily-loss-missing",
        {T + "risk.maxDailyLossUsd": DELETE},
        "spec.trading.risk.maxDailyLossUsd: Required value",
        same_message=False,
    ),
    Case(
        "kill-switch-string",
        {T + "risk.killSwitch": "on"},
        "spec.trading.risk.killSwitch in body must be of type boolean",
        same_message=False,
    ),
    Case("database-missing", {S + "database": DELETE}, "spec.database: Required value", same_message=False),
    Case(
        "database-literal-url",
        {S + "database.url": "postgresql://bot:secret@db/bot"},
        "database.url is not accepted: put the URL into a Secret",
    ),
    # The API server skips CEL rules while an object misses required fields; the missing secretRef is
    # then the whole answer, and it names what to use instead.
    Case(
        "database-url-without-ref",
        {S + "database": {"url": "postgresql://bot:secret@db/bot"}},
        "spec.database.secretRef: Required value",
        same_message=False,
    ),
    Case(
        "secret-name-upper", {S + "database.secretRef.name": "Bot_DB"}, "secretRef.name must be a Secret name"
    ),
    Case("secret-key-slash", {S + "database.secretRef.key": "db/url"}, "secretRef.key must be a Secret key"),
    Case(
        "bake-not-below-deadline",
        {R + "bakeSeconds": 300, R + "progressDeadlineSeconds": 300},
        "rollout.bakeSeconds must be less than rollout.progressDeadlineSeconds",
    ),
    Case(
        "bake-negative",
        {R + "bakeSeconds": -1},
        "spec.rollout.bakeSeconds in body should be greater than or equal to 0",
        same_message=False,
    ),
    Case(
        "max-restarts-negative",
        {R + "maxRestarts": -1},
        "spec.rollout.maxRestarts in body should be greater than or equal to 0",
        same_message=False,
    ),
    Case(
        "deadline-zero",
        {R + "progressDeadlineSeconds": 0},
        "spec.rollout.progressDeadlineSeconds in body should be greater than or equal to 1",
        same_message=False,
    ),
    Case(
        "scale-down-before-window-end",
        {R + "postPromotionSeconds": 120, R + "scaleDownDelaySeconds": 60},
        "rollout.scaleDownDelaySeconds must be at least rollout.postPromotionSeconds",
    ),
    Case(
        "migration-without-args",
        {R + "migration": {"enabled": True, "args": []}},
        "rollout.migration.args must not be empty when the migration is enabled",
    ),
    Case(
        "label-reserved",
        {P + "labels": {"ploy.dev/color": "green"}},
        "podTemplate.labels must not set the labels the operator manages",
    ),
    Case("label-value-invalid", {P + "labels": {"team": "quant desk"}}, "podTemplate.labels values must be"),
    # Pod-template values the Deployment API would refuse later (the bot then stayed Progressing).
    Case(
        "service-account-space",
        {P + "serviceAccountName": "bot reader"},
        "podTemplate.serviceAccountName must be a ServiceAccount name",
    ),
    Case(
        "service-account-upper",
        {P + "serviceAccountName": "BotReader"},
        "podTemplate.serviceAccountName must be a ServiceAccount name",
    ),
    Case(
        "node-selector-key-space",
        {P + "nodeSelector": {"disk type": "ssd"}},
        "podTemplate.nodeSelector keys must be qualified names",
    ),
    Case(
        "node-selector-key-bad-prefix",
        {P + "nodeSelector": {"Example.com/disk": "ssd"}},
        "podTemplate.nodeSelector keys must be qualified names",
    ),
    Case(
        "node-selector-value-space",
        {P + "nodeSelector": {"disk": "fast ssd"}},
        "podTemplate.nodeSelector values must be",
    ),
    Case(
        "label-key-space", {P + "labels": {"my team": "quant"}}, "podTemplate.labels keys must be qualified"
    ),
    Case(
        "label-key-long-name",
        {P + "labels": {"x" * 64: "quant"}},
        "podTemplate.labels keys must be qualified",
    ),
    Case(
        "label-key-long-prefix",
        {P + "labels": {"a" * 254 + "/team": "quant"}},
        "podTemplate.labels keys must be qualified",
    ),
    Case(
        "annotation-key-space",
        {P + "annotations": {"my note": "x"}},
        "podTemplate.annotations keys must be qualified",
    ),
    Case(
        "toleration-key-space",
        {P + "tolerations": [{"key": "dedicated node", "operator": "Exists"}]},
        "tolerations[].key must be a qualified name",
    ),
    Case(
        "toleration-operator",
        {P + "tolerations": [{"key": "a", "operator": "Maybe"}]},
        'Unsupported value: "Maybe": supported values: "Exists", "Equal"',
        same_message=False,
    ),
    Case(
        "resource-quantity-garbage",
        {P + "resources": {"limits": {"memory": "lots"}}},
        "podTemplate.resources values must be Kubernetes quantities",
    ),
    Case(
        "resource-quantity-negative",
        {P + "resources": {"requests": {"cpu": "-1"}}},
        "podTemplate.resources values must be Kubernetes quantities",
    ),
    Case(
        "feed-url-not-websocket",
        {S + "feed.url": "https://clob.polymarket.com"},
        "feed.url must be a WebSocket URL: ws:// or wss://",
    ),
    Case("feed-url-no-host", {S + "feed.url": "wss:///ws/market"}, "feed.url must be a WebSocket URL"),
    Case(
        "feed-url-with-replay",
        {S + "feed.type": "replay"},
        "feed.url is only used with feed.type polymarket-ws",
    ),
    Case(
        "feed-recording-with-websocket",
        {S + "feed.recording": "ws_market_burst.json"},
        "feed.recording is only used with feed.type replay",
    ),
    Case(
        "feed-recording-path",
        {S + "feed": {"type": "replay", "recording": "../../etc/passwd"}},
        "feed.recording must be the file name of a recording in the bot image",
    ),
    Case(
        "feed-type-unknown",
        {S + "feed.type": "carrier-pigeon"},
        'Unsupported value: "carrier-pigeon": supported values: "replay", "polymarket-ws"',
        same_message=False,
    ),
    Case("unknown-field", {S + "replica": 1}, 'unknown field "spec.replica"', same_message=False),
    Case(
        "analysis-query-empty",
        {R + "analysis.0.query": "  "},
        "analysis[].query must be a PromQL expression, not empty",
    ),
    Case(
        "analysis-unknown-placeholder",
        {R + "analysis.0.query": 'up{pod="{{pod}}"}'},
        "analysis[].query may use only the placeholders {{namespace}}, {{name}}, {{color}} and {{revision}}",
    ),
    Case(
        "analysis-placeholder-with-spaces",
        {R + "analysis.0.query": 'up{namespace="{{ namespace }}"}'},
        "may use only the placeholders",
    ),
    Case(
        "analysis-threshold-not-a-number",
        {R + "analysis.0.successCondition.value": "five"},
        "analysis successCondition.value must be a decimal number written as a string",
    ),
    Case(
        "analysis-threshold-unquoted",
        {R + "analysis.0.successCondition.value": 0.5},
        "spec.rollout.analysis[0].successCondition.value: Invalid value",
        same_message=False,
    ),
    Case(
        "analysis-op",
        {R + "analysis.0.successCondition.op": "=<"},
        'Unsupported value: "=<": supported values: "<", "<=", ">", ">=", "==", "!="',
        same_message=False,
    ),
    Case(
        "analysis-duplicate-name",
        {
            R + "analysis.1": {
                "name": "market-data-age",
                "query": "up",
                "successCondition": {"op": ">", "value": "0"},
            }
        },
        "analysis must not list the same query name twice",
    ),
    Case(
        "analysis-name", {R + "analysis.0.name": "Market Data"}, "analysis[].name must be lowercase letters"
    ),
    Case(
        "analysis-interval-zero",
        {R + "analysis.0.intervalSeconds": 0},
        "spec.rollout.analysis[0].intervalSeconds: Invalid value: 0",
        same_message=False,
    ),
    Case(
        "analysis-on-inconclusive",
        {R + "analysis.0.onInconclusive": "Retry"},
        'Unsupported value: "Retry": supported values: "Wait", "Fail"',
        same_message=False,
    ),
]

NAME_CASES = [
    Case("name-too-long", {"metadata.name": "a" * 41}, "metadata.name must be at most 40 characters"),
    Case(
        "name-starts-with-digit",
        {"metadata.name": "1bot"},
        "metadata.name must start with a lowercase letter",
    ),
]

ALL_CASES = CASES + NAME_CASES


def test_there_are_at_least_30_distinct_cases() -> None:
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES) >= 30


def test_valid_example_parses() -> None:
    spec = TradingBotSpec.model_validate(valid_bot()["spec"])
    assert spec.trading.strategy.min_edge == Decimal("0.01")
    assert spec.database.secret_ref.name == "bot-db"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pydantic_rejects(case: Case) -> None:
    bot = apply_changes(valid_bot(), case.changes)
    with pytest.raises(ValidationError) as info:
        TradingBotSpec.model_validate(bot["spec"])
    if case.same_message:
        assert case.message in str(info.value)


@pytest.mark.parametrize("case", NAME_CASES, ids=lambda c: c.id)
def test_name_rules_reject(case: Case) -> None:
    name = apply_changes(valid_bot(), case.changes)["metadata"]["name"]
    failing = [rule for rule in NAME_RULES if not rule.check(name)]
    assert any(case.message in rule.message for rule in failing)


# --- T2: the real API server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_installed(cluster: ClusterHandle) -> ClusterHandle:
    """The generated CRD applied to the cluster and Established."""
    applied = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=render(), check=False
    )
    assert applied.returncode == 0, applied.stderr
    cluster.wait_crd_established(CRD_NAME)
    return cluster


def _apply(cluster: ClusterHandle, namespace: str, bot: dict[str, Any]) -> tuple[int, str]:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(bot), check=False
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.cluster
def test_api_server_accepts_valid_bot_and_applies_defaults(
    crd_installed: ClusterHandle, namespace: str
) -> None:
    bot = valid_bot()
    del bot["spec"]["rollout"]
    del bot["spec"]["podTemplate"]
    crd_installed.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(bot))
    stored = json.loads(
        crd_installed.kubectl("get", "tradingbot", "arb", "-n", namespace, "-o", "json").stdout
    )
    assert stored["spec"]["rollout"]["bakeSeconds"] == 30
    assert stored["spec"]["rollout"]["migration"] == {"enabled": False, "args": ["migrate"]}
    assert stored["spec"]["podTemplate"]["resources"] == {}
    listed = crd_installed.kubectl("get", "tb", "-n", namespace).stdout
    assert listed.split()[:6] == ["NAME", "ACTIVE", "REVISION", "PHASE", "EPOCH", "AGE"]


@pytest.mark.cluster
def test_api_server_accepts_full_valid_bot(crd_installed: ClusterHandle, namespace: str) -> None:
    code, output = _apply(crd_installed, namespace, valid_bot())
    assert code == 0, output


@pytest.mark.cluster
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_api_server_rejects(case: Case, crd_installed: ClusterHandle, namespace: str) -> None:
    code, output = _apply(crd_installed, namespace, apply_changes(valid_bot(), case.changes))
    assert code != 0, f"accepted: {output}"
    assert case.message in output, output
