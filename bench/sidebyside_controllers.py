"""The two controllers of ``bench/argo_rollouts_side_by_side.py``, behind one small interface.

Each adapter creates one blue-green object in its own namespace (1 replica, promote as soon as the new
pods are Ready, progress deadline ``deadline`` seconds (default ``DEADLINE_SECONDS``) after which the
update is rolled back, previous version kept warm ``scale_down`` seconds), then answers the bench's
polls after a spec change (new image, optionally extra pod labels and annotations such as the kwok
fault label ``ploy.dev/fault``): are the new pods Ready, does the active Service select them or the
previous version, how many replicas the new and previous version's workloads ask for.

* Ploy: a TradingBot (``bakeSeconds: 0``, auto-promotion; ``postPromotionSeconds`` =
  ``scaleDownDelaySeconds``). Colors by the ``ploy.dev/color`` label; the active Service is named
  like the TradingBot and selects one color.
* Argo Rollouts: a Rollout with ``strategy.blueGreen`` (``activeService``,
  ``autoPromotionEnabled: true`` without ``autoPromotionSeconds``, ``scaleDownDelaySeconds``;
  ``progressDeadlineAbort: true`` so the deadline aborts the update as Ploy's rolls it back, and
  ``abortScaleDownDelaySeconds: 1``, its shortest: 0 means the aborted ReplicaSet is never scaled down,
  the default is 30 s; source: v1.9.3 ``utils/defaults.GetAbortScaleDownDelaySecondsOrDefault``). The
  controller adds ``rollouts-pod-template-hash`` to the active Service's selector and to the pods of
  each ReplicaSet (``<rollout>-<hash>``); ``status.currentPodHash`` / ``status.stableRS`` name them
  (source: argo-rollouts v1.9.3 ``rollout/bluegreen.go``, ``utils/defaults``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path

JSON = dict[str, Any]
# Seconds; both controllers' progress deadline for the happy path (never reached: kwok pods are Ready
# in ~1 s); the failure rows (``sidebyside_failures``) pass a short one.
DEADLINE_SECONDS = 60
# Argo Rollouts' shortest scale-down of an aborted ReplicaSet (0 would keep it up for good).
ARGO_ABORT_SCALE_DOWN_SECONDS = 1
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

    async def change(self, namespace: str, image: str, pod_meta: JSON | None = None) -> None:
        """Send the spec change (new image; ``pod_meta``: extra pod ``labels`` and ``annotations``); the
        next polls compare against the version before."""

    async def new_pods_ready(self, namespace: str) -> list[bool]:
        """Ready or not, per pod of the new version that is not being deleted."""

    async def switched(self, namespace: str) -> bool:
        """True when the active Service selects the new version."""

    async def old_scaled_down(self, namespace: str) -> bool:
        """True when the previous version's workload asks for 0 replicas."""

    async def old_selected(self, namespace: str) -> bool:
        """True when the active Service selects the previous version."""

    async def new_replicas(self, namespace: str) -> int | None:
        """``spec.replicas`` of the new version's workload; None while it does not exist."""

    async def describe(self, namespace: str) -> JSON:
        """The object's phase and message and what the active Service selects (for the report);
        ``started``: the RFC 3339 time (whole seconds) the controller counts its progress deadline from."""


async def new_ready(controller: Controller, namespace: str) -> bool:
    """True when the new version has pods and all of them are Ready."""
    ready = await controller.new_pods_ready(namespace)
    return bool(ready) and all(ready)


async def new_not_ready(controller: Controller, namespace: str) -> bool:
    """True when the new version has a pod that is not Ready."""
    return not all(await controller.new_pods_ready(namespace))


def _readiness(answer: JSON) -> list[bool]:
    pods = [p for p in answer.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
    return [
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pods
    ]


async def _replicas(kube: Kube, path: str) -> int | None:
    replicas = ((await kube.get(path)) or {}).get("spec", {}).get("replicas")
    return None if replicas is None else int(replicas)


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

    def __init__(self, kube: Kube, scale_down: int, deadline: int = DEADLINE_SECONDS) -> None:
        self.kube, self.scale_down, self.deadline = kube, scale_down, deadline
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
                    "progressDeadlineSeconds": self.deadline,
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

    async def change(self, namespace: str, image: str, pod_meta: JSON | None = None) -> None:
        """Patch the image (and ``spec.podTemplate``); the new color is the one not active before."""
        self.old[namespace] = (await self._status(namespace))["activeColor"]
        patch: JSON = {"spec": {"image": image, **({"podTemplate": pod_meta} if pod_meta else {})}}
        await self.kube.request(
            "PATCH", tradingbot_path(namespace, "bot"), body=patch, content_type=MERGE_PATCH
        )

    def _new(self, namespace: str) -> str:
        return "green" if self.old[namespace] == "blue" else "blue"

    async def new_pods_ready(self, namespace: str) -> list[bool]:
        """Readiness of the new color's pods."""
        query = {"labelSelector": f"ploy.dev/color={self._new(namespace)}"}
        return _readiness(await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query))

    async def _selected(self, namespace: str) -> str | None:
        service = await self.kube.get(f"/api/v1/namespaces/{namespace}/services/bot")
        selector = (service or {}).get("spec", {}).get("selector") or {}
        color: str | None = selector.get("ploy.dev/color")
        return color

    async def switched(self, namespace: str) -> bool:
        """The active Service ``bot`` selects the new color."""
        return await self._selected(namespace) == self._new(namespace)

    async def old_selected(self, namespace: str) -> bool:
        """The active Service ``bot`` selects the previous color."""
        return await self._selected(namespace) == self.old[namespace]

    async def old_scaled_down(self, namespace: str) -> bool:
        """The old color's Deployment at 0 replicas."""
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/bot-{self.old[namespace]}"
        return await _replicas(self.kube, path) == 0

    async def new_replicas(self, namespace: str) -> int | None:
        """Replicas of the new color's Deployment."""
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/bot-{self._new(namespace)}"
        return await _replicas(self.kube, path)

    async def describe(self, namespace: str) -> JSON:
        """Phase, active color and the Service's color."""
        status = await self._status(namespace)
        return {
            "phase": status.get("phase"),
            "started": (status.get("rollout") or {}).get("startedAt"),
            "active_color": status.get("activeColor"),
            "service_selects": await self._selected(namespace),
            "previous_version": self.old[namespace],
        }


class ArgoController:
    """A Rollout named ``app`` with its active Service ``app``; the controller runs as its own process."""

    name = "argo"

    def __init__(self, kube: Kube, scale_down: int, deadline: int = DEADLINE_SECONDS) -> None:
        self.kube, self.scale_down, self.deadline = kube, scale_down, deadline
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
                "progressDeadlineSeconds": self.deadline,
                "progressDeadlineAbort": True,
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
                        "abortScaleDownDelaySeconds": ARGO_ABORT_SCALE_DOWN_SECONDS,
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

    async def change(self, namespace: str, image: str, pod_meta: JSON | None = None) -> None:
        """Patch the image (and the template's metadata); the new pod hash is the first
        ``currentPodHash`` that differs from stable."""
        self.old[namespace] = (await self._status(namespace))["stableRS"]
        self.new.pop(namespace, None)
        template: JSON = {"spec": {"containers": [{"name": "app", "image": image}]}}
        if pod_meta:
            template["metadata"] = pod_meta
        patch = {"spec": {"template": template}}
        await self.kube.request(
            "PATCH", f"{self._path(namespace)}/app", body=patch, content_type="application/merge-patch+json"
        )

    async def _new_hash(self, namespace: str) -> str | None:
        if namespace not in self.new:
            current = (await self._status(namespace)).get("currentPodHash")
            if current and current != self.old[namespace]:
                self.new[namespace] = current
        return self.new.get(namespace)

    async def new_pods_ready(self, namespace: str) -> list[bool]:
        """Readiness of the new ReplicaSet's pods."""
        new = await self._new_hash(namespace)
        if new is None:
            return []
        query = {"labelSelector": f"{ARGO_HASH}={new}"}
        return _readiness(await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query))

    async def switched(self, namespace: str) -> bool:
        """The active Service selects the new pod hash."""
        new = await self._new_hash(namespace)
        return new is not None and await self._selected(namespace) == new

    async def old_scaled_down(self, namespace: str) -> bool:
        """The previous ReplicaSet at 0 replicas."""
        path = f"/apis/apps/v1/namespaces/{namespace}/replicasets/app-{self.old[namespace]}"
        return await _replicas(self.kube, path) == 0

    async def old_selected(self, namespace: str) -> bool:
        """The active Service selects the previous (stable before the change) pod hash."""
        return await self._selected(namespace) == self.old[namespace]

    async def new_replicas(self, namespace: str) -> int | None:
        """Replicas of the new ReplicaSet."""
        new = await self._new_hash(namespace)
        if new is None:
            return None
        return await _replicas(self.kube, f"/apis/apps/v1/namespaces/{namespace}/replicasets/app-{new}")

    async def describe(self, namespace: str) -> JSON:
        """Phase, message, abort flag, stable and current pod hashes, the Service's pod hash;
        ``started``: the Progressing condition's lastUpdateTime (v1.9.3 ``conditions.RolloutTimedOut``
        times out ``progressDeadlineSeconds`` after it)."""
        status = await self._status(namespace)
        progressing = [c for c in status.get("conditions") or [] if c.get("type") == "Progressing"]
        return {
            "phase": status.get("phase"),
            "started": progressing[0].get("lastUpdateTime") if progressing else None,
            "message": status.get("message"),
            "abort": bool(status.get("abort")),
            "stable_rs": status.get("stableRS"),
            "current_pod_hash": status.get("currentPodHash"),
            "service_selects": await self._selected(namespace),
            "previous_version": self.old[namespace],
        }
