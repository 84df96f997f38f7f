"""Manifests of a TradingBot's children (pure): Deployments, Services, ConfigMap, migration Job, Event.

Every builder returns a plain JSON mapping (the API server's wire shape) so the Kubernetes I/O layer
(:mod:`tradingbot_operator.kube`) can compare it with the live object before writing. Names and labels
follow the operator contract (:mod:`tradingbot_operator.names`); every child carries a controller
ownerReference to the TradingBot (``blockOwnerDeletion``) so the garbage collector removes it with
its owner. Pods follow the Pod Security "restricted" profile: non-root, read-only root filesystem,
no privilege escalation, all capabilities dropped, seccomp ``RuntimeDefault``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradingbot_operator.actions import PodInputs
from tradingbot_operator.model import GROUP, KIND, VERSION, Color
from tradingbot_operator.names import (
    APP_NAME,
    CONFIG_KEY,
    CONFIG_MOUNT_PATH,
    LABEL_COLOR,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_REVISION,
    LABEL_TRADINGBOT,
    MANAGED_BY,
    ServiceRole,
    child_labels,
    config_map_name,
    deployment_name,
    migration_job_name,
    selector_labels,
    service_name,
)

JSON = dict[str, Any]

HTTP_PORT = 8080
SERVICE_PORT = 80
CONTAINER_NAME = "bot"
# Pods get this annotation with a hash of everything the operator put into the Deployment, so a
# later pass can tell "already as desired" from "needs an update" without a field-by-field compare.
ANNOTATION_SPEC_HASH = "ploy.dev/spec-hash"
LABEL_COMPONENT = "app.kubernetes.io/component"
MIGRATION_COMPONENT = "migration"
EVENT_SOURCE = "ploy-operator"


@dataclass(frozen=True)
class Owner:
    """The TradingBot that owns the children: ``metadata.name``, ``namespace`` and ``uid``."""

    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: JSON) -> Owner:
        """Read name, namespace and uid from a TradingBot object; KeyError when one is missing."""
        meta = body["metadata"]
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def owner_reference(owner: Owner) -> JSON:
    """The controller ownerReference to ``owner`` (``blockOwnerDeletion`` for foreground deletion)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: JSON, owner: Owner) -> bool:
    """True when ``obj`` has a controller ownerReference to ``owner`` (same uid)."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid and ref.get("controller") for ref in refs)


def bot_labels(bot: str) -> dict[str, str]:
    """Labels on every child that is not tied to one color (Services, ConfigMaps, Jobs)."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: bot,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TRADINGBOT: bot,
    }


def _metadata(owner: Owner, name: str, labels: dict[str, str]) -> JSON:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }


def spec_hash(value: Any) -> str:
    """10 hex digits of SHA-256 over canonical JSON of ``value``."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


# --- pods --------------------------------------------------------------------------------------------


def _restricted_container_security() -> JSON:
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(owner: Owner, color: Color | None, pod: PodInputs) -> list[JSON]:
    env: list[JSON] = []
    if color is not None:
        env.append({"name": "PLOY_COLOR", "value": color.value})
    env += [
        {"name": "PLOY_TRADINGBOT_NAME", "value": owner.name},
        {"name": "PLOY_TRADINGBOT_NAMESPACE", "value": owner.namespace},
        {"name": "PLOY_CONFIG", "value": CONFIG_MOUNT_PATH},
        # The bot names itself in the fence row by pod and process (the holder of its fencing token).
        {"name": "PLOY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "PLOY_POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {
            "name": "PLOY_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": pod.database.name, "key": pod.database.key}},
        },
    ]
    return env


def _volumes(owner: Owner, pod: PodInputs) -> list[JSON]:
    return [
        {
            "name": "config",
            "configMap": {"name": config_map_name(owner.name, pod.config_hash), "defaultMode": 0o444},
        },
        # The root filesystem is read-only; the bot may still need a scratch directory.
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]


def _volume_mounts() -> list[JSON]:
    config_dir = CONFIG_MOUNT_PATH.rsplit("/", 1)[0]
    return [
        {"name": "config", "mountPath": config_dir, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def _resources(pod: PodInputs) -> JSON:
    resources = pod.pod_template.resources
    out: JSON = {}
    if resources.limits:
        out["limits"] = dict(resources.limits)
    if resources.requests:
        out["requests"] = dict(resources.requests)
    return out


def _pod_spec(
    owner: Owner,
    color: Color | None,
    pod: PodInputs,
    *,
    args: list[str],
    probes: bool,
    restart_policy: str,
) -> JSON:
    template = pod.pod_template
    container: JSON = {
        "name": CONTAINER_NAME,
        "image": pod.image,
        "command": ["ploy-bot"],
        "args": args,
        "env": _env(owner, color, pod),
        "volumeMounts": _volume_mounts(),
        "securityContext": _restricted_container_security(),
        "resources": _resources(pod),
    }
    if probes:
        container["ports"] = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
        container["livenessProbe"] = {
            "httpGet": {"path": "/health/live", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
        container["readinessProbe"] = {
            "httpGet": {"path": "/health/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        }
    spec: JSON = {
        "containers": [container],
        "restartPolicy": restart_policy,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": _volumes(owner, pod),
        "terminationGracePeriodSeconds": 30,
        # The bot watches its own TradingBot (activeColor, epoch), so it needs its token.
        "automountServiceAccountToken": True,
    }
    if template.service_account_name:
        spec["serviceAccountName"] = template.service_account_name
    if template.node_selector:
        spec["nodeSelector"] = dict(template.node_selector)
    if template.tolerations:
        spec["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in template.tolerations
        ]
    if template.affinity:
        spec["affinity"] = dict(template.affinity)
    return spec


def deployment(owner: Owner, color: Color, revision: str, replicas: int, pod: PodInputs) -> JSON:
    """The Deployment ``<name>-<color>`` running ``revision`` with ``replicas`` pods.

    Labels per :func:`~tradingbot_operator.names.child_labels` on the Deployment and its pods (plus
    ``spec.podTemplate.labels``/``annotations`` on the pods); the selector is color-only because a
    Deployment selector is immutable while the color's revision changes. Strategy ``Recreate``: a
    color never runs two pods of a singleton bot at once. The annotation ``ploy.dev/spec-hash`` on
    the Deployment hashes its desired ``spec`` (see :func:`deployment_needs_update`).
    """
    labels = child_labels(owner.name, color, revision)
    pod_labels = {**pod.pod_template.labels, **labels}
    spec: JSON = {
        "replicas": replicas,
        "revisionHistoryLimit": 2,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": {LABEL_TRADINGBOT: owner.name, LABEL_COLOR: color.value}},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": dict(pod.pod_template.annotations)},
            "spec": _pod_spec(owner, color, pod, args=["run"], probes=True, restart_policy="Always"),
        },
    }
    metadata = _metadata(owner, deployment_name(owner.name, color), labels)
    metadata["annotations"] = {ANNOTATION_SPEC_HASH: spec_hash(spec)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def deployment_needs_update(live: JSON, desired: JSON) -> bool:
    """True when the live Deployment differs from ``desired`` in what the operator owns.

    Compared: the spec hash annotation (template, selector, strategy), ``spec.replicas`` and the labels.
    """
    live_meta = live.get("metadata", {})
    desired_meta = desired["metadata"]
    live_labels = live_meta.get("labels") or {}
    return bool(
        (live_meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH)
        != desired_meta["annotations"][ANNOTATION_SPEC_HASH]
        or live.get("spec", {}).get("replicas") != desired["spec"]["replicas"]
        or {k: live_labels.get(k) for k in desired_meta["labels"]} != desired_meta["labels"]
    )


def deployment_update_patch(live: JSON, desired: JSON) -> list[JSON]:
    """A JSON patch (RFC 6902) giving ``live`` the operator's spec, labels, annotations and owner.

    ``spec`` is replaced whole (no stale template keys survive, as they would in a merge patch);
    labels and annotations others wrote (e.g. ``deployment.kubernetes.io/revision``) are kept. No
    resourceVersion precondition: the Deployment controller updates the status all the time, and the
    operator is the only writer of the spec.
    """
    meta = live.get("metadata", {})
    return [
        {"op": "replace", "path": "/spec", "value": desired["spec"]},
        {
            "op": "add",
            "path": "/metadata/labels",
            "value": {**(meta.get("labels") or {}), **desired["metadata"]["labels"]},
        },
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {**(meta.get("annotations") or {}), **desired["metadata"]["annotations"]},
        },
        {"op": "add", "path": "/metadata/ownerReferences", "value": desired["metadata"]["ownerReferences"]},
    ]


# --- services ----------------------------------------------------------------------------------------


def service(owner: Owner, role: ServiceRole, color: Color | None) -> JSON:
    """The Service of ``role`` (``<name>`` or ``<name>-preview``) selecting ``color``'s pods.

    ``color=None`` selects no pod (selector ``ploy.dev/color: none``). Port 80 -> the pods' ``http``.
    """
    labels = {**bot_labels(owner.name), LABEL_COMPONENT: role.value}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, service_name(owner.name, role), labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner.name, color),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def service_differs(live: JSON, desired: JSON) -> bool:
    """True when the live Service's selector or ports are not exactly those of ``desired``.

    Both are Service objects (wire JSON); only ``spec.selector`` (whole mapping, so an extra or a
    missing key counts) and each port's name, port and targetPort are compared.
    """
    live_spec = live.get("spec", {})
    if live_spec.get("selector") != desired["spec"]["selector"]:
        return True
    return [(p.get("name"), p.get("port"), p.get("targetPort")) for p in live_spec.get("ports") or []] != [
        (p["name"], p["port"], p["targetPort"]) for p in desired["spec"]["ports"]
    ]


def service_color(live: JSON) -> Color | None:
    """The color a live Service selects, or None when it selects no color."""
    value = (live.get("spec", {}).get("selector") or {}).get(LABEL_COLOR)
    try:
        return Color(value) if value is not None else None
    except ValueError:
        return None


# --- config map and migration job --------------------------------------------------------------------


def config_map(owner: Owner, config_hash: str, data: str) -> JSON:
    """The immutable ConfigMap ``<name>-config-<hash>`` with the bot's config under ``config.yaml``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(owner, config_map_name(owner.name, config_hash), bot_labels(owner.name)),
        "immutable": True,
        "data": {CONFIG_KEY: data},
    }


def config_hash_of(bot: str, config_map_name_: str) -> str | None:
    """The hash part of a ConfigMap named ``<bot>-config-<hash>``, else None."""
    prefix = f"{bot}-config-"
    return config_map_name_[len(prefix) :] if config_map_name_.startswith(prefix) else None


def migration_job(owner: Owner, revision: str, args: tuple[str, ...], pod: PodInputs) -> JSON:
    """The Job ``<name>-migrate-<revision>``: ``ploy-bot <args>`` with the revision's image and config.

    No retries (``backoffLimit: 0``): a failed migration fails the rollout, and ``ploy.dev/retry``
    starts it again. Its pods carry the revision label but no color, so no Service selects them.
    """
    labels = {**bot_labels(owner.name), LABEL_REVISION: revision, LABEL_COMPONENT: MIGRATION_COMPONENT}
    pod_labels = {**pod.pod_template.labels, **labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(owner, migration_job_name(owner.name, revision), labels),
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": dict(pod.pod_template.annotations)},
                "spec": _pod_spec(owner, None, pod, args=list(args), probes=False, restart_policy="Never"),
            },
        },
    }


def event(owner: Owner, type_: str, reason: str, message: str, now: datetime, instance: str) -> JSON:
    """A core/v1 Event about the TradingBot (``involvedObject``), reported by ``ploy-operator``.

    ``now`` is a timezone-aware UTC time; ``instance`` names the reporting operator process.
    """
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{owner.name}.", "namespace": owner.namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": owner.name,
            "namespace": owner.namespace,
            "uid": owner.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": EVENT_SOURCE},
        "reportingComponent": f"{GROUP}/operator",
        "reportingInstance": instance[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
