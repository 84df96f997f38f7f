"""A tiny in-memory model of a TradingBot's children for the pure plan tests (T0).

It applies the plan's actions the way the Kubernetes I/O does (Deployments, pods, Services, Jobs,
ConfigMaps) and lets a test decide what the pods do (become Ready, lose readiness, restart). The real
API server path is covered by the cluster-tier end-to-end tests; here the plan is the unit under test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EmitEvent,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    ScaleDeployment,
)
from tradingbot_operator.bake import ReadyObservations
from tradingbot_operator.model import Color, TradingBotSpec, TradingBotStatus
from tradingbot_operator.names import ServiceRole
from tradingbot_operator.observed import (
    DeploymentFacts,
    JobFacts,
    JobState,
    Observed,
    PodFacts,
    Reading,
    ServiceFacts,
)
from tradingbot_operator.plan import Plan, RolloutEnded, plan
from tradingbot_operator.plan.analysis import due_queries

T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
CONDITION_ID = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"


def spec_dict(**rollout: Any) -> dict[str, Any]:
    """A valid spec as the API server stores it; ``rollout`` overrides rollout settings."""
    return {
        "image": "registry.example/ploy-bot:1.0.0",
        "replicas": 1,
        "trading": {
            "mode": "paper",
            "markets": [{"conditionId": CONDITION_ID, "tokens": ["111", "222"]}],
            "strategy": {"minEdge": "0.01", "maxOrderSize": "50"},
            "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100"},
        },
        "database": {"secretRef": {"name": "bot-db", "key": "url"}},
        "rollout": {
            "autoPromote": True,
            "bakeSeconds": 30,
            "maxRestarts": 0,
            "progressDeadlineSeconds": 300,
            "postPromotionSeconds": 60,
            "scaleDownDelaySeconds": 300,
            **rollout,
        },
    }


def make_spec(**rollout: Any) -> TradingBotSpec:
    """``spec_dict`` parsed."""
    return TradingBotSpec.model_validate(spec_dict(**rollout))


@dataclass
class FakePod:
    """A pod: its revision, readiness, restarts."""

    name: str
    revision: str
    ready: bool = False
    restarts: int = 0
    ready_since: datetime | None = None


@dataclass
class FakeDeployment:
    """A Deployment: template revision, replicas and the pods it currently has."""

    revision: str
    replicas: int
    pods: list[FakePod] = field(default_factory=list)


@dataclass
class World:
    """The children of one TradingBot and the pods' behaviour.

    ``auto_ready``: new pods become Ready as soon as they are created (at the time of the action).
    """

    deployments: dict[Color, FakeDeployment] = field(default_factory=dict)
    services: dict[ServiceRole, Color | None] = field(default_factory=dict)
    config_maps: set[str] = field(default_factory=set)
    jobs: dict[str, JobState] = field(default_factory=dict)
    auto_ready: bool = False
    pod_counter: int = 0

    def _new_pod(self, revision: str, now: datetime) -> FakePod:
        self.pod_counter += 1
        pod = FakePod(name=f"pod-{self.pod_counter}", revision=revision)
        if self.auto_ready:
            pod.ready, pod.ready_since = True, now
        return pod

    def _resize(self, deployment: FakeDeployment, now: datetime) -> None:
        del deployment.pods[deployment.replicas :]
        while len(deployment.pods) < deployment.replicas:
            deployment.pods.append(self._new_pod(deployment.revision, now))

    def apply(self, actions: tuple[Action, ...], now: datetime) -> None:
        """Carry the actions out like the I/O layer would."""
        for action in actions:
            match action:
                case EnsureConfigMap(config_hash=config_hash):
                    self.config_maps.add(config_hash)
                case EnsureDeployment(color=color, revision=revision, replicas=replicas):
                    current = self.deployments.get(color)
                    if current is None or current.revision != revision:
                        current = FakeDeployment(revision=revision, replicas=replicas)
                        self.deployments[color] = current
                    current.replicas = replicas
                    self._resize(current, now)
                case ScaleDeployment(color=color, replicas=replicas):
                    if color in self.deployments:
                        self.deployments[color].replicas = replicas
                        self._resize(self.deployments[color], now)
                case EnsureService(role=role, color=color):
                    self.services[role] = color
                case EnsureMigrationJob(revision=revision):
                    self.jobs.setdefault(revision, JobState.RUNNING)
                case DeleteMigrationJob(revision=revision):
                    self.jobs.pop(revision, None)
                case EmitEvent():
                    pass

    def set_ready(self, color: Color, now: datetime) -> None:
        """Every pod of ``color`` becomes Ready at ``now`` (already Ready pods keep their time)."""
        for pod in self.deployments[color].pods:
            if not pod.ready:
                pod.ready, pod.ready_since = True, now

    def lose_readiness(self, color: Color) -> None:
        """Every pod of ``color`` turns NotReady."""
        for pod in self.deployments[color].pods:
            pod.ready, pod.ready_since = False, None

    def restart(self, color: Color, times: int = 1) -> None:
        """Every pod of ``color`` restarts ``times`` more times (and stays as Ready as it was)."""
        for pod in self.deployments[color].pods:
            pod.restarts += times

    def observe(
        self, generation: int, annotations: Mapping[str, str] | None = None, deleting: bool = False
    ) -> Observed:
        """The snapshot the I/O layer would build."""
        deployments = {
            color: DeploymentFacts(
                revision=d.revision,
                replicas=d.replicas,
                ready_replicas=sum(p.ready for p in d.pods),
                available_replicas=sum(p.ready for p in d.pods),
                updated_replicas=len(d.pods),
                rolled_out=True,
                pods=tuple(
                    PodFacts(
                        name=p.name,
                        revision=p.revision,
                        ready=p.ready,
                        restarts=p.restarts,
                        ready_since=p.ready_since,
                    )
                    for p in d.pods
                ),
            )
            for color, d in self.deployments.items()
        }
        return Observed(
            generation=generation,
            annotations=dict(annotations or {}),
            deleting=deleting,
            deployments=deployments,
            services={role: ServiceFacts(color=color) for role, color in self.services.items()},
            config_maps=frozenset(self.config_maps),
            jobs=tuple(JobFacts(revision=r, state=s) for r, s in self.jobs.items()),
        )


@dataclass
class Bot:
    """One TradingBot driven through passes of the plan: spec, status, world, clock, annotations."""

    spec: TradingBotSpec = field(default_factory=make_spec)
    status: TradingBotStatus = field(default_factory=TradingBotStatus)
    world: World = field(default_factory=World)
    now: datetime = T0
    generation: int = 1
    annotations: dict[str, str] = field(default_factory=dict)
    history: list[Plan] = field(default_factory=list)
    # The reconciler's memory of when it first saw each color all Ready (replace it: an operator restart).
    ready_seen: ReadyObservations = field(default_factory=ReadyObservations)
    # What Prometheus answers per analysis query name (missing: no series); asked only when due.
    prometheus: dict[str, Reading] = field(default_factory=dict)
    queried: list[str] = field(default_factory=list)

    def observed(self, *, measure: bool = True) -> Observed:
        """The current snapshot, with this operator's own Ready observations and (``measure``) the
        readings of the analysis queries due now, like the reconciler's."""
        observed = self.world.observe(self.generation, self.annotations)
        seen = self.ready_seen.observe("uid", observed, self.spec.replicas, self.now)
        due = due_queries(self.spec, self.status, self.now) if measure else ()
        readings = {q.name: self.prometheus.get(q.name, Reading(None, "no series")) for q in due}
        self.queried.extend(readings)
        return replace(observed, ready_seen=seen, readings=readings)

    def step(self, seconds: float = 0) -> Plan:
        """Advance the clock, run one pass, apply its actions, keep its status."""
        self.now += timedelta(seconds=seconds)
        result = plan(self.spec, self.status, self.observed(), self.now)
        # The Events are exactly the transitions' (in order); a rollout's end carries its lastRollout.
        assert [a for a in result.actions if isinstance(a, EmitEvent)] == [
            t.event() for t in result.transitions
        ]
        ended = [t for t in result.transitions if isinstance(t, RolloutEnded)]
        assert not ended or ended[-1].last == result.status.last_rollout
        self.status = result.status
        self.world.apply(result.actions, self.now)
        self.history.append(result)
        return result

    def settle(self, passes: int = 4) -> Plan:
        """Run passes at the same instant until one has no actions (the state converged)."""
        result = self.step()
        for _ in range(passes):
            if not result.actions:
                return result
            result = self.step()
        raise AssertionError(f"did not settle: {result.actions}")

    def change_spec(self, **changes: Any) -> None:
        """Edit the spec (dotted keys relative to spec, e.g. ``trading.strategy.minEdge``); generation + 1."""
        data = self.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        for path, value in changes.items():
            *parents, last = path.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[last] = value
        self.spec = TradingBotSpec.model_validate(data)
        self.generation += 1

    def with_spec(self, spec: TradingBotSpec) -> Bot:
        """A copy of this bot with another spec (generation + 1)."""
        return replace(self, spec=spec, generation=self.generation + 1)


def events(result: Plan) -> list[tuple[str, str]]:
    """(type, reason) of the Events a pass emits."""
    return [(a.type.value, a.reason) for a in result.actions if isinstance(a, EmitEvent)]


def non_events(result: Plan) -> list[Action]:
    """The actions of a pass other than Events."""
    return [a for a in result.actions if not isinstance(a, EmitEvent)]
