"""The observed world, as a frozen snapshot the plan reads (built by the Kubernetes I/O layer).

Everything here is a fact read from the API server in one pass: the TradingBot's own metadata
(generation, annotations, deletion) and its children (per-color Deployments and their pods, the two
Services, migration Jobs, ConfigMaps). Absent children are simply missing from the mappings.
Times are timezone-aware UTC ``datetime``s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradingbot_operator.model import Color
from tradingbot_operator.names import ServiceRole


@dataclass(frozen=True)
class PodFacts:
    """One pod of a color's Deployment.

    ``revision`` is its ``ploy.dev/revision`` label; ``ready`` its Ready condition; ``restarts`` the
    sum of its containers' ``restartCount``; ``ready_since`` the Ready condition's
    ``lastTransitionTime`` when Ready (None otherwise); ``terminating`` = has a deletionTimestamp.
    """

    name: str
    revision: str | None
    ready: bool
    restarts: int = 0
    ready_since: datetime | None = None
    terminating: bool = False


@dataclass(frozen=True)
class DeploymentFacts:
    """A color's Deployment as observed.

    ``revision`` is the ``ploy.dev/revision`` label of its pod template; ``replicas`` is
    ``spec.replicas``; ``ready_replicas`` / ``available_replicas`` / ``updated_replicas`` come from its
    status; ``rolled_out`` is ``status.observedGeneration == metadata.generation`` (the controller has
    seen the latest template); ``pods`` are the pods it selects (all revisions).
    """

    revision: str | None
    replicas: int
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    rolled_out: bool = True
    pods: tuple[PodFacts, ...] = ()

    def pods_of(self, revision: str) -> tuple[PodFacts, ...]:
        """Pods of ``revision`` that are not being deleted."""
        return tuple(p for p in self.pods if p.revision == revision and not p.terminating)


class JobState(StrEnum):
    """State of a migration Job (``Complete`` / ``Failed`` conditions, else running)."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobFacts:
    """A migration Job ``<name>-migrate-<revision>`` and its state."""

    revision: str
    state: JobState
    message: str = ""


@dataclass(frozen=True)
class ServiceFacts:
    """A Service as observed: the color its selector names (None when it selects no color).

    ``drifted``: its selector or ports are not exactly what the operator writes for that color (a hand
    edit added, removed or changed a key); the plan then writes it again.
    """

    color: Color | None
    drifted: bool = False


@dataclass(frozen=True)
class Reading:
    """One answer of Prometheus to an analysis query (module ``prometheus``), taken in this pass.

    ``value``: the single finite number the query returned; None when the answer was inconclusive
    (Prometheus unreachable or refusing the query, no series, more than one, NaN), with ``error``
    saying why (no secrets: the address and the query are the operator's and the spec's).
    """

    value: float | None
    error: str = ""


def _frozen_map() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Observed:
    """One consistent look at a TradingBot and its children.

    ``generation`` and ``annotations`` are the TradingBot's ``metadata.generation`` and
    ``metadata.annotations``; ``deleting`` is true when it has a ``deletionTimestamp``.
    ``deployments`` maps color -> Deployment (missing = does not exist); ``services`` maps role ->
    Service (missing = does not exist); ``config_maps`` holds the config hashes whose ConfigMap exists;
    ``jobs`` are the migration Jobs of this TradingBot. ``ready_seen`` is not read from the API server:
    per color whose pods are all Ready, when THIS operator first observed them so, by its own clock
    (:class:`tradingbot_operator.bake.ReadyObservations`); the bake is timed from it, never from the
    pods' node-written timestamps. Missing for a color: no observation (the plan then keeps the
    recorded ``readySince``, or starts the bake now). ``child_rejected``: the API server's message
    when it refused this operator's last write of a child (module ``rejections``), else None.
    ``readings``: per analysis query name, Prometheus' answer to the queries due in this pass
    (``plan.analysis.due_queries``), measured by the reconciler just before the plan; empty when
    none was due.
    """

    generation: int
    annotations: Mapping[str, str] = field(default_factory=_frozen_map)
    deleting: bool = False
    deployments: Mapping[Color, DeploymentFacts] = field(default_factory=_frozen_map)
    services: Mapping[ServiceRole, ServiceFacts] = field(default_factory=_frozen_map)
    config_maps: frozenset[str] = frozenset()
    jobs: tuple[JobFacts, ...] = ()
    ready_seen: Mapping[Color, datetime] = field(default_factory=_frozen_map)
    child_rejected: str | None = None
    readings: Mapping[str, Reading] = field(default_factory=_frozen_map)

    def job(self, revision: str) -> JobFacts | None:
        """The migration Job of ``revision``, if it exists."""
        return next((j for j in self.jobs if j.revision == revision), None)
