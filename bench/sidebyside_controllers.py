"""The two controllers of ``bench/argo_rollouts_side_by_side.py``, behind one small interface.

Each adapter creates one blue-green object in its own namespace (1 replica, promote as soon as the new
pods are Ready, progress deadline ``DEADLINE_SECONDS``, previous version kept warm ``scale_down``
seconds), then answers the bench's polls after a spec change (new image): are the new pods Ready, does
the active Service select them, is the previous version scaled to 0.

* Ploy: a TradingBot (``bakeSeconds: 0``, auto-promotion; ``postPromotionSeconds`` =
  ``scaleDownDelaySeconds``). Colors by the ``ploy.dev/color`` label; the active Service is named
  like the TradingBot and selects one color.
* Argo Rollouts: a Rollout with ``strategy.blueGreen`` (``activeService``,
  ``autoPromotionEnabled: true`` without ``autoPromotionSeconds``, ``scaleDownDelaySeconds``). The
  controller adds ``rollouts-pod-template-hash`` to the active Service's selector and to the pods of
  each ReplicaSet (``<rollout>-<hash>``); ``status.currentPodHash`` / ``status.stableRS`` name them
  (source: argo-rollouts v1.9.3 ``rollout/bluegreen.go``, ``utils/defaults``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube, tradingbot_path

JSON = dict[str, Any]
# Seconds; both controllers' progress deadline (never reached here: kwok pods are Ready in ~1 s).
DEADLINE_SECONDS = 60
ARGO_HASH = "rollouts-pod-template-hash"


class Controller(Protocol):
    """One controller's object in one namespace; every method polls the API once."""

    name: str

    async def submit(self, namespace: str) -> None:
        """Create the namespace and the object (and what it needs); do not wait."""

    async def healthy(self, namespace: str) -> bool:
        """True when the object is Healthy on one version with no rollout in flight."""

    async def healthy_count(self, prefix: str) -> int:
        """How many objects in namespaces named ``prefix...`` are Healthy (one cluster-wide LIST)."""

    async def delete(self, namespace: str) -> None:
        """Delete the namespace (without waiting)."""

    async def change(self, namespace: str, image: str) -> None:
        """Send the spec change (new image); the next polls compare against the version before."""

    async def new_ready(self, namespace: str) -> bool:
        """True when the new version has pods and all of them are Ready."""

    async def switched(self, namespace: str) -> bool:
        """True when the active Service selects the new version."""

    async def old_scaled_down(self, namespace: str) -> bool:
        """True when the previous version's workload asks for 0 replicas."""


def _all_ready(answer: JSON) -> bool:
    pods = [p for p in answer.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
    return bool(pods) and all(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pods
    )


async def create(controller: Controller, namespace: str, limit: float = 120.0) -> None:
    """Submit the object in ``namespace`` and wait until it is Healthy; TimeoutError after ``limit`` s."""
    await controller.submit(namespace)
    deadline = time.monotonic() + limit
    while not await controller.healthy(namespace):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{controller.name} {namespace}: not Healthy within {limit:.0f}s")
        await asyncio.sleep(0.05)


async def _namespace(kube: Kube, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    await kube.request("POST", "/api/v1/namespaces", body=body)


def _count(answer: JSON, prefix: str, healthy: Any) -> int:
    return sum(
        1
        for item in answer.get("items") or []
        if item["metadata"]["namespace"].startswith(prefix) and healthy(item.get("status") or {})
    )


class PloyController:
    """A TradingBot named ``bot``; the operator runs as its own process."""

    name = "ploy"

    def __init__(self, kube: Kube, scale_down: int) -> None:
        self.kube, self.scale_down = kube, scale_down
        self.old: dict[str, str] = {}

    def manifest(self, image: str) -> JSON:
        """The TradingBot (gates as in the module docstring)."""
        return {
            "apiVersion": "ploy.dev/v1alpha1",
            "kind": "TradingBot",
            "metadata": {"name": "bot"},
            "spec": {
                "image": image,
                "trading": {
                    "markets": [{"conditionId": "0x" + "cd" * 32, "tokens": ["1", "2"]}],
                    "strategy": {"minEdge": "0.01", "maxOrderSize": "50"},
                    "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100"},
                },
                "database": {"secretRef": {"name": "bot-db"}},
                "rollout": {
                    "bakeSeconds": 0,
                    "progressDeadlineSeconds": DEADLINE_SECONDS,
                    "postPromotionSeconds": self.scale_down,
                    "scaleDownDelaySeconds": self.scale_down,
                },
            },
        }

    async def _status(self, namespace: str) -> JSON:
        body = await self.kube.get_tradingbot(namespace, "bot")
        status: JSON = (body or {}).get("status") or {}
        return status

    @staticmethod
    def _healthy(status: JSON) -> bool:
        return (
            status.get("phase") == "Healthy" and not status.get("rollout") and bool(status.get("activeColor"))
        )

    async def submit(self, namespace: str) -> None:
        """Namespace, database Secret, TradingBot."""
        await _namespace(self.kube, namespace)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bot-db"},
            "data": {"url": "eA=="},
        }
        await self.kube.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=secret)
        await self.kube.request(
            "POST", tradingbot_path(namespace), body=self.manifest("registry.example/bot:1")
        )

    async def healthy(self, namespace: str) -> bool:
        """Healthy, no rollout in flight, an active color."""
        return self._healthy(await self._status(namespace))

    async def healthy_count(self, prefix: str) -> int:
        """Healthy TradingBots in namespaces ``prefix...``."""
        return _count(
            await self.kube.request("GET", "/apis/ploy.dev/v1alpha1/tradingbots"), prefix, self._healthy
        )

    async def delete(self, namespace: str) -> None:
        """Delete the namespace."""
        await self.kube.request("DELETE", f"/api/v1/namespaces/{namespace}")

    async def change(self, namespace: str, image: str) -> None:
        """Patch the image; the new color is the one not active before."""
        self.old[namespace] = (await self._status(namespace))["activeColor"]
        patch = {"spec": {"image": image}}
        await self.kube.request(
            "PATCH", tradingbot_path(namespace, "bot"), body=patch, content_type=MERGE_PATCH
        )

    def _new(self, namespace: str) -> str:
        return "green" if self.old[namespace] == "blue" else "blue"

    async def new_ready(self, namespace: str) -> bool:
        """All pods of the new color Ready."""
        query = {"labelSelector": f"ploy.dev/color={self._new(namespace)}"}
        return _all_ready(await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query))

    async def switched(self, namespace: str) -> bool:
        """The active Service ``bot`` selects the new color."""
        service = await self.kube.get(f"/api/v1/namespaces/{namespace}/services/bot")
        selector = (service or {}).get("spec", {}).get("selector") or {}
        return bool(selector.get("ploy.dev/color") == self._new(namespace))

    async def old_scaled_down(self, namespace: str) -> bool:
        """The old color's Deployment at 0 replicas."""
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/bot-{self.old[namespace]}"
        replicas = ((await self.kube.get(path)) or {}).get("spec", {}).get("replicas")
        return bool(replicas == 0)


class ArgoController:
    """A Rollout named ``app`` with its active Service ``app``; the controller runs as its own process."""

    name = "argo"

    def __init__(self, kube: Kube, scale_down: int) -> None:
        self.kube, self.scale_down = kube, scale_down
        self.old: dict[str, str] = {}
        self.new: dict[str, str] = {}

    def manifest(self, image: str) -> JSON:
        """The Rollout (gates as in the module docstring)."""
        labels = {"app": "app"}
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "app"},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": DEADLINE_SECONDS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]
                    },
                },
                "strategy": {
                    "blueGreen": {
                        "activeService": "app",
                        "autoPromotionEnabled": True,
                        "scaleDownDelaySeconds": self.scale_down,
                    }
                },
            },
        }

    def _path(self, namespace: str) -> str:
        return f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts"

    async def _status(self, namespace: str) -> JSON:
        status: JSON = ((await self.kube.get(f"{self._path(namespace)}/app")) or {}).get("status") or {}
        return status

    async def _selected(self, namespace: str) -> str | None:
        service = await self.kube.get(f"/api/v1/namespaces/{namespace}/services/app")
        return None if not service else (service["spec"].get("selector") or {}).get(ARGO_HASH)

    @staticmethod
    def _healthy(status: JSON) -> bool:
        # Healthy with the Service's selector on the stable ReplicaSet (set in the same reconcile).
        return status.get("phase") == "Healthy" and bool(status.get("stableRS"))

    async def submit(self, namespace: str) -> None:
        """Namespace, active Service, Rollout."""
        await _namespace(self.kube, namespace)
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app"},
            "spec": {"selector": {"app": "app"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        await self.kube.request("POST", f"/api/v1/namespaces/{namespace}/services", body=service)
        await self.kube.request("POST", self._path(namespace), body=self.manifest("registry.example/app:1"))

    async def healthy(self, namespace: str) -> bool:
        """Phase Healthy and the active Service on the stable ReplicaSet."""
        status = await self._status(namespace)
        return self._healthy(status) and await self._selected(namespace) == status["stableRS"]

    async def healthy_count(self, prefix: str) -> int:
        """Healthy Rollouts in namespaces ``prefix...``."""
        return _count(
            await self.kube.request("GET", "/apis/argoproj.io/v1alpha1/rollouts"), prefix, self._healthy
        )

    async def delete(self, namespace: str) -> None:
        """Delete the namespace."""
        await self.kube.request("DELETE", f"/api/v1/namespaces/{namespace}")

    async def change(self, namespace: str, image: str) -> None:
        """Patch the image; the new pod hash is the first ``currentPodHash`` that differs from stable."""
        self.old[namespace] = (await self._status(namespace))["stableRS"]
        self.new.pop(namespace, None)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
        await self.kube.request(
            "PATCH", f"{self._path(namespace)}/app", body=patch, content_type="application/merge-patch+json"
        )

    async def _new_hash(self, namespace: str) -> str | None:
        if namespace not in self.new:
            current = (await self._status(namespace)).get("currentPodHash")
            if current and current != self.old[namespace]:
                self.new[namespace] = current
        return self.new.get(namespace)

    async def new_ready(self, namespace: str) -> bool:
        """All pods of the new ReplicaSet Ready."""
        new = await self._new_hash(namespace)
        if new is None:
            return False
        query = {"labelSelector": f"{ARGO_HASH}={new}"}
        return _all_ready(await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query))

    async def switched(self, namespace: str) -> bool:
        """The active Service selects the new pod hash."""
        new = await self._new_hash(namespace)
        return new is not None and await self._selected(namespace) == new

    async def old_scaled_down(self, namespace: str) -> bool:
        """The previous ReplicaSet at 0 replicas."""
        path = f"/apis/apps/v1/namespaces/{namespace}/replicasets/app-{self.old[namespace]}"
        replicas = ((await self.kube.get(path)) or {}).get("spec", {}).get("replicas")
        return bool(replicas == 0)
