"""TradingBot manifests for cluster tests and the demo: one builder, with the market and timings as
parameters (pod labels and annotations are how tests inject kwok faults)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
SECRET_NAME = "bot-db"


def tradingbot_manifest(
    name: str,
    image: str,
    *,
    rollout: JSON,
    condition_id: str,
    tokens: list[str],
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    service_account: str | None = None,
    secret: str = SECRET_NAME,
) -> JSON:
    """A paper-trading TradingBot on one market, its database URL from the Secret ``secret``/``url``;
    its pods run as ``service_account`` (see :func:`bot_rbac_manifests`) when given."""
    template: JSON = {"labels": labels or {}, "annotations": annotations or {}}
    if service_account:
        template["serviceAccountName"] = service_account
    metadata: JSON = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": "ploy.dev/v1alpha1",
        "kind": "TradingBot",
        "metadata": metadata,
        "spec": {
            "image": image,
            "replicas": 1,
            "trading": {
                "mode": "paper",
                "markets": [{"conditionId": condition_id, "tokens": tokens}],
                "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "50"},
                "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100", "killSwitch": False},
            },
            "database": {"secretRef": {"name": secret, "key": "url"}},
            "rollout": rollout,
            "podTemplate": template,
        },
    }


def bot_service_account(name: str) -> str:
    """The ServiceAccount of TradingBot ``name``'s pods: ``<name>-bot``, the tradingbot chart's name."""
    return f"{name}-bot"


def bot_rbac_manifests(name: str, namespace: str) -> list[JSON]:
    """What the tradingbot chart's serviceaccount.yaml creates: the pods' ServiceAccount and a Role
    allowing exactly get/list/watch on their own TradingBot ``name`` (the bot learns activeColor and
    epoch from it; without it the watch gets 403 and the pod never learns it is active)."""
    account = bot_service_account(name)
    meta: JSON = {"name": account, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": ["ploy.dev"],
                    "resources": ["tradingbots"],
                    "resourceNames": [name],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]
