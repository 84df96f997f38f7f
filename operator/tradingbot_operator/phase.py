"""Facts about a color's health and the calculated phase (pure).

The phase is *calculated* from facts every pass and written to ``status.phase`` for display; no code
path branches on a stored phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradingbot_operator.model import Color, Phase
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


def compute_phase(
    *,
    paused: bool,
    stopped: bool = False,
    rolling_out: bool,
    migrating: bool,
    ready_since: datetime | None,
    baked: bool,
    promoted: bool,
    failed: bool,
    has_active: bool,
    active_ready: bool,
) -> Phase:
    """The phase for display, from facts.

    ``stopped``: ``spec.replicas`` is 0 (shown before everything else: no pod runs, nobody trades);
    ``rolling_out``: a rollout is in progress; ``migrating``: its migration Job has not succeeded yet;
    ``ready_since``: all its replicas are Ready since then; ``baked``: its gate passed; ``promoted``: it
    is active and inside the post-promotion window; ``failed``: the desired revision failed and waits
    for a spec change or ``ploy.dev/retry``; ``has_active`` / ``active_ready``: an active color exists /
    all its replicas are Ready.
    """
    if stopped:
        return Phase.STOPPED
    if paused:
        return Phase.PAUSED
    if rolling_out:
        if promoted:
            return Phase.VERIFYING
        if migrating:
            return Phase.MIGRATING
        if baked:
            return Phase.AWAITING_PROMOTION
        if ready_since is not None:
            return Phase.BAKING
        return Phase.PROGRESSING
    if failed or (has_active and not active_ready):
        return Phase.DEGRADED
    if has_active:
        return Phase.HEALTHY
    return Phase.PENDING
