"""Raw API objects -> the plan's :class:`~tradingbot_operator.observed.Observed` snapshot (pure).

Input shapes are the API server's JSON (``apps/v1`` Deployment, ``v1`` Pod/Service/ConfigMap,
``batch/v1`` Job); each kind is read back by its module in :mod:`tradingbot_operator.children`. Only
children with a controller ownerReference to the TradingBot count; anything else with the same labels
is ignored here (and refused when the operator would have to write it). Besides the plan's facts,
:class:`Snapshot` keeps when each color last failed (for the ``ploy_operator_time_to_rollback_seconds``
metric).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from tradingbot_operator.children import (
    JSON,
    Owner,
    config_hash_of,
    deployment_facts,
    deployment_name,
    is_owned_by,
    job_facts,
    pod_failed_at,
    service_facts,
    service_name,
)
from tradingbot_operator.children.meta import labels_of
from tradingbot_operator.model import Color
from tradingbot_operator.names import LABEL_COLOR, ServiceRole
from tradingbot_operator.observed import DeploymentFacts, Observed, ServiceFacts


@dataclass(frozen=True)
class Snapshot:
    """The plan's ``observed`` plus, per color, when its pods last showed trouble (UTC), and the listed
    Deployments, Services, ConfigMaps and Jobs by ``metadata.name`` under their plural
    (``("services", "bot")``): the live objects the pass's actions check before they write."""

    observed: Observed
    failed_at: Mapping[Color, datetime] = field(default_factory=lambda: MappingProxyType({}))
    listed: Mapping[tuple[str, str], JSON] = field(default_factory=lambda: MappingProxyType({}))


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
    config_maps, jobs = list(config_maps), list(jobs)
    pods_by_color: dict[Color, list[JSON]] = {c: [] for c in Color}
    failed_at: dict[Color, datetime] = {}
    for pod in pods:
        value = labels_of(pod).get(LABEL_COLOR)
        if value not in {c.value for c in Color}:
            continue
        color = Color(value)
        pods_by_color[color].append(pod)
        when = pod_failed_at(pod)
        if when is not None and not pod["metadata"].get("deletionTimestamp"):
            failed_at[color] = max(when, failed_at.get(color, when))
    deployment_map: dict[Color, DeploymentFacts] = {}
    for color in Color:
        name = deployment_name(owner.name, color)
        for item in deployments:
            if item["metadata"]["name"] == name and is_owned_by(item, owner):
                deployment_map[color] = deployment_facts(item, pods_by_color[color])
    service_map: dict[ServiceRole, ServiceFacts] = {}
    for role in ServiceRole:
        for item in services:
            if item["metadata"]["name"] == service_name(owner.name, role) and is_owned_by(item, owner):
                service_map[role] = service_facts(owner, role, item)
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
    listed = {
        (plural, item["metadata"]["name"]): item
        for plural, items in (
            ("deployments", deployments),
            ("services", services),
            ("configmaps", config_maps),
            ("jobs", jobs),
        )
        for item in items
    }
    return Snapshot(observed=observed, failed_at=MappingProxyType(failed_at), listed=MappingProxyType(listed))
