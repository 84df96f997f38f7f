"""How one color's pods of one revision are doing (pure): ready, available, restarts.

Read by the plan (gate, promotion, post-promotion window, phase) and by the bake's first observation
of "all pods Ready" (module ``bake``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradingbot_operator.model import Color
from tradingbot_operator.observed import Observed


@dataclass(frozen=True)
class ColorHealth:
    """How one color's pods of one revision are doing.

    ``ready``: the Deployment exists, runs ``revision``, the controller has seen its latest template and
    at least ``replicas`` pods of that revision are Ready, and at least one: a color without a Ready pod
    (``replicas`` 0) is never ready, so it can never pass a gate or be promoted. ``ready_since``: latest
    Ready transition among those pods when ``ready``, else None (written with the node's clock: the bake
    does not use it, see module ``bake``). ``restarts``: sum of container restarts of that revision's
    pods. ``available``: the looser test for a color that is
    already serving: it runs ``revision`` and at least ``replicas`` of its pods are Ready, even if the
    Deployment has not caught up with a replica change yet (scaling 1 -> 0 is not an outage).
    """

    exists: bool
    ready: bool
    available: bool
    ready_since: datetime | None
    restarts: int
    ready_pods: int


def color_health(observed: Observed, color: Color, revision: str, replicas: int) -> ColorHealth:
    """Health of ``color`` running ``revision`` with ``replicas`` desired pods, from ``observed``."""
    deployment = observed.deployments.get(color)
    if deployment is None:
        return ColorHealth(
            exists=False, ready=False, available=False, ready_since=None, restarts=0, ready_pods=0
        )
    pods = deployment.pods_of(revision)
    ready_pods = [p for p in pods if p.ready]
    restarts = sum(p.restarts for p in pods)
    available = deployment.revision == revision and len(ready_pods) >= replicas
    ready = (
        available
        and deployment.rolled_out
        and deployment.replicas == replicas
        and deployment.updated_replicas >= replicas
        and deployment.ready_replicas >= replicas
        and len(ready_pods) >= max(replicas, 1)
    )
    since_values = [p.ready_since for p in ready_pods if p.ready_since is not None]
    ready_since = max(since_values) if ready and since_values else None
    return ColorHealth(
        exists=True,
        ready=ready,
        available=available,
        ready_since=ready_since,
        restarts=restarts,
        ready_pods=len(ready_pods),
    )
