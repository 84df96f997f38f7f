"""Raw API objects -> the plan's :class:`~tradingbot_operator.observed.Observed` snapshot (pure).

Input shapes are the API server's JSON (``apps/v1`` Deployment, ``v1`` Pod/Service/ConfigMap,
``batch/v1`` Job). Only children with a controller ownerReference to the TradingBot count; anything
else with the same labels is ignored here (and refused when the operator would have to write it).
Besides the plan's facts, :class:`Snapshot` keeps when each color last failed (for the
``ploy_operator_time_to_rollback_seconds`` metric).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from tradingbot_operator.children import (
    JSON,
    Owner,
    config_hash_of,
    is_owned_by,
    service,
    service_color,
    service_differs,
)
from tradingbot_operator.model import Color
from tradingbot_operator.names import LABEL_COLOR, LABEL_REVISION, ServiceRole, service_name
from tradingbot_operator.observed import (
    DeploymentFacts,
    JobFacts,
    JobState,
    Observed,
    PodFacts,
    ServiceFacts,
)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2026-01-02T03:04:05Z``) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _labels(obj: JSON) -> Mapping[str, str]:
    labels: Mapping[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def _condition(obj: JSON, type_: str) -> JSON | None:
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == type_:
            found: JSON = condition
            return found
    return None


def pod_facts(pod: JSON) -> PodFacts:
    """Facts of one Pod: Ready condition (and since when), summed container restarts, terminating."""
    ready_condition = _condition(pod, "Ready")
    ready = ready_condition is not None and ready_condition.get("status") == "True"
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return PodFacts(
        name=pod["metadata"]["name"],
        revision=_labels(pod).get(LABEL_REVISION),
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
    ready_condition = _condition(pod, "Ready")
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


def deployment_facts(deployment: JSON, pods: Iterable[JSON]) -> DeploymentFacts:
    """Facts of one color's Deployment and the pods of that color."""
    meta = deployment["metadata"]
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    template_labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    return DeploymentFacts(
        revision=template_labels.get(LABEL_REVISION),
        replicas=int(spec.get("replicas", 1)),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        rolled_out=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
        pods=tuple(pod_facts(p) for p in pods),
    )


def job_facts(job: JSON) -> JobFacts | None:
    """State of a migration Job from its ``Complete``/``Failed`` conditions; None without a revision."""
    revision = _labels(job).get(LABEL_REVISION)
    if revision is None:
        return None
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        message = str(failed.get("message") or failed.get("reason") or "")
        return JobFacts(revision=revision, state=JobState.FAILED, message=message)
    if complete is not None and complete.get("status") == "True":
        return JobFacts(revision=revision, state=JobState.SUCCEEDED)
    return JobFacts(revision=revision, state=JobState.RUNNING)


@dataclass(frozen=True)
class Snapshot:
    """The plan's ``observed`` plus, per color, when its pods last showed trouble (UTC)."""

    observed: Observed
    failed_at: Mapping[Color, datetime] = field(default_factory=lambda: MappingProxyType({}))


def build_snapshot(
    body: JSON,
    *,
    deployments: Iterable[JSON],
    pods: Iterable[JSON],
    services: Iterable[JSON],
    config_maps: Iterable[JSON],
    jobs: Iterable[JSON],
) -> Snapshot:
    """The snapshot of the TradingBot ``body`` from listings of its (labelled) children."""
    owner = Owner.from_body(body)
    meta = body["metadata"]
    deployments, services = list(deployments), list(services)
    pods_by_color: dict[Color, list[JSON]] = {c: [] for c in Color}
    failed_at: dict[Color, datetime] = {}
    for pod in pods:
        value = _labels(pod).get(LABEL_COLOR)
        if value not in {c.value for c in Color}:
            continue
        color = Color(value)
        pods_by_color[color].append(pod)
        when = pod_failed_at(pod)
        if when is not None and not pod["metadata"].get("deletionTimestamp"):
            failed_at[color] = max(when, failed_at.get(color, when))
    deployment_map: dict[Color, DeploymentFacts] = {}
    for color in Color:
        name = f"{owner.name}-{color.value}"
        for item in deployments:
            if item["metadata"]["name"] == name and is_owned_by(item, owner):
                deployment_map[color] = deployment_facts(item, pods_by_color[color])
    service_map: dict[ServiceRole, ServiceFacts] = {}
    for role in ServiceRole:
        for item in services:
            if item["metadata"]["name"] == service_name(owner.name, role) and is_owned_by(item, owner):
                selected = service_color(item)
                drifted = service_differs(item, service(owner, role, selected))
                service_map[role] = ServiceFacts(color=selected, drifted=drifted)
    hashes = frozenset(
        h
        for item in config_maps
        if is_owned_by(item, owner) and (h := config_hash_of(owner.name, item["metadata"]["name"]))
    )
    job_list = tuple(f for item in jobs if is_owned_by(item, owner) and (f := job_facts(item)) is not None)
    observed = Observed(
        generation=int(meta.get("generation") or 0),
        annotations=MappingProxyType(dict(meta.get("annotations") or {})),
        deleting=bool(meta.get("deletionTimestamp")),
        deployments=MappingProxyType(deployment_map),
        services=MappingProxyType(service_map),
        config_maps=hashes,
        jobs=job_list,
    )
    return Snapshot(observed=observed, failed_at=MappingProxyType(failed_at))
