"""Convergence (pure): the child actions that make the children match the new status.

Targets per color: the active color and the warm standby run their revisions with ``spec.replicas``
pods, the rollout's color runs the new revision (0 pods while its migration runs), every other
color is scaled to 0 (its Deployment stays). Only the desired revision's Deployments are created or
updated; others are only scaled. The actions come in the order they are safe to apply: ConfigMap,
migration Job, Deployment create/update, scale-ups, Service selectors, scale-downs, deletion of old
migration Jobs. Nothing is returned for a child that already matches.
"""

from __future__ import annotations

from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    PodInputs,
    ScaleDeployment,
)
from tradingbot_operator.model import Color, TradingBotSpec
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.observed import JobState
from tradingbot_operator.plan.context import Pass, preview
from tradingbot_operator.revision import config_hash, render_config


def pod_inputs(spec: TradingBotSpec) -> PodInputs:
    """What a pod of the spec's revision is made of."""
    return PodInputs(
        image=spec.image,
        config_hash=config_hash(spec),
        database=spec.database.secret_ref,
        pod_template=spec.pod_template,
    )


def converge(p: Pass) -> list[Action]:
    """Actions that make the children match ``p.status``; nothing when they already do."""
    s = p.status
    spec = p.spec
    observed = p.observed
    rollout = s.rollout
    targets: dict[Color, tuple[str | None, int]] = {c: (None, 0) for c in Color}
    if s.standby is not None:
        targets[s.standby.color] = (s.standby.revision, spec.replicas)
    if rollout is not None:
        targets[rollout.color] = (rollout.revision, 0 if p.migrating() else spec.replicas)
    if s.active_color is not None:
        targets[s.active_color] = (s.active_revision, spec.replicas)

    config_needed = False
    ensure: list[Action] = []
    scale_up: list[Action] = []
    scale_down: list[Action] = []
    for color in Color:
        rev, replicas = targets[color]
        deployment = observed.deployments.get(color)
        if rev == p.desired and (replicas > 0 or deployment is not None):
            config_needed = True
            if deployment is None or deployment.revision != rev or deployment.replicas != replicas:
                ensure.append(
                    EnsureDeployment(color=color, revision=p.desired, replicas=replicas, pod=pod_inputs(spec))
                )
        elif deployment is not None and deployment.replicas != replicas:
            bucket = scale_down if replicas < deployment.replicas else scale_up
            bucket.append(ScaleDeployment(color=color, replicas=replicas))

    jobs: list[Action] = []
    if p.migrating():
        assert rollout is not None
        config_needed = True
        if observed.job(rollout.revision) is None:
            jobs.append(
                EnsureMigrationJob(
                    revision=rollout.revision, args=spec.rollout.migration.args, pod=pod_inputs(spec)
                )
            )
    keep = {r.revision for r in (rollout, s.last_rollout) if r is not None}
    deletions: list[Action] = [
        DeleteMigrationJob(revision=j.revision)
        for j in observed.jobs
        if j.revision not in keep and j.state is not JobState.RUNNING
    ]

    services: list[Action] = []
    previewed = preview(s)
    selectors: tuple[tuple[ServiceRole, Color | None], ...] = (
        (ServiceRole.ACTIVE, s.active_color),
        (ServiceRole.PREVIEW, previewed[0] if previewed is not None else None),
    )
    for role, selected in selectors:
        service = observed.services.get(role)
        if service is None or service.color != selected or service.drifted:
            services.append(EnsureService(role=role, color=selected))

    config: list[Action] = []
    chash = config_hash(spec)
    if config_needed and chash not in observed.config_maps:
        config.append(EnsureConfigMap(config_hash=chash, data=render_config(spec)))
    return [*config, *jobs, *ensure, *scale_up, *services, *scale_down, *deletions]
