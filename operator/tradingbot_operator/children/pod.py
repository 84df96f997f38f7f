"""A bot's pod (pure): what the operator puts into it (for Deployments and migration Jobs) and what it
reads back from a live Pod (:class:`~tradingbot_operator.observed.PodFacts`).

Pods follow the Pod Security "restricted" profile: non-root, read-only root filesystem, no privilege
escalation, all capabilities dropped, seccomp ``RuntimeDefault``. Times read back are timezone-aware
UTC ``datetime``s.
"""

from __future__ import annotations

from datetime import datetime

from tradingbot_operator.actions import PodInputs
from tradingbot_operator.children.config_map import config_map_name
from tradingbot_operator.children.meta import JSON, Owner, condition_of, labels_of, parse_time
from tradingbot_operator.model import Color
from tradingbot_operator.names import CONFIG_MOUNT_PATH, LABEL_REVISION
from tradingbot_operator.observed import PodFacts

HTTP_PORT = 8080
CONTAINER_NAME = "bot"


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


def pod_spec(
    owner: Owner,
    color: Color | None,
    pod: PodInputs,
    *,
    args: list[str],
    probes: bool,
    restart_policy: str,
) -> JSON:
    """The pod spec of a bot container: ``ploy-bot <args>``; ``probes`` adds the http port and the
    liveness/readiness probes; ``color`` None (a migration Job) sets no ``PLOY_COLOR``."""
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


# --- read back ----------------------------------------------------------------------------------


def pod_facts(pod: JSON) -> PodFacts:
    """Facts of one live Pod (wire JSON): Ready (and since when), summed restarts, terminating."""
    ready_condition = condition_of(pod, "Ready")
    ready = ready_condition is not None and ready_condition.get("status") == "True"
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return PodFacts(
        name=pod["metadata"]["name"],
        revision=labels_of(pod).get(LABEL_REVISION),
        ready=ready,
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        ready_since=parse_time(ready_condition.get("lastTransitionTime"))
        if ready and ready_condition
        else None,
        terminating=bool(pod["metadata"].get("deletionTimestamp")),
    )


def pod_failed_at(pod: JSON) -> datetime | None:
    """When the pod last showed trouble: its NotReady transition or its last container termination."""
    times: list[datetime] = []
    ready_condition = condition_of(pod, "Ready")
    if ready_condition is not None and ready_condition.get("status") != "True":
        when = parse_time(ready_condition.get("lastTransitionTime"))
        if when is not None:
            times.append(when)
    for status in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        when = parse_time(terminated.get("finishedAt"))
        if when is not None:
            times.append(when)
    return max(times) if times else None
