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
) -> JSON:
    """A paper-trading TradingBot on one market, its database URL from the Secret ``bot-db``/``url``."""
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
            "database": {"secretRef": {"name": SECRET_NAME, "key": "url"}},
            "rollout": rollout,
            "podTemplate": {"labels": labels or {}, "annotations": annotations or {}},
        },
    }
