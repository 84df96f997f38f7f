"""What the plan asks the Kubernetes I/O layer to do: plain frozen data, no behaviour.

Each action is idempotent by contract: the I/O layer reads the target object and only writes when it
differs ("check before acting"), so replaying a plan is harmless. Names come from
:mod:`tradingbot_operator.names`; every child gets an ownerReference to the TradingBot.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tradingbot_operator.model import Color, PodTemplateSpec, SecretKeyRef
from tradingbot_operator.names import ServiceRole


@dataclass(frozen=True)
class PodInputs:
    """What a pod of one revision is made of (all of it is hashed into the revision).

    ``config_hash`` names the ConfigMap ``<name>-config-<hash>`` mounted at ``/etc/ploy/config.yaml``;
    ``database`` is the Secret key exposed as ``PLOY_DATABASE_URL``.
    """

    image: str
    config_hash: str
    database: SecretKeyRef
    pod_template: PodTemplateSpec


@dataclass(frozen=True)
class EnsureConfigMap:
    """Create the immutable ConfigMap ``<name>-config-<config_hash>`` with key ``config.yaml`` = ``data``."""

    config_hash: str
    data: str


@dataclass(frozen=True)
class EnsureDeployment:
    """Create or update ``<name>-<color>`` to run ``revision`` with ``replicas`` pods built from ``pod``.

    Labels per :func:`tradingbot_operator.names.child_labels`; pod env ``PLOY_COLOR`` etc. per the contract.
    """

    color: Color
    revision: str
    replicas: int
    pod: PodInputs


@dataclass(frozen=True)
class ScaleDeployment:
    """Set ``spec.replicas`` of ``<name>-<color>`` (leave its template alone); no-op if it is missing."""

    color: Color
    replicas: int


@dataclass(frozen=True)
class EnsureService:
    """Create or update the Service of ``role`` so its selector names ``color`` (None: selects no pod)."""

    role: ServiceRole
    color: Color | None


@dataclass(frozen=True)
class EnsureMigrationJob:
    """Create the Job ``<name>-migrate-<revision>``: ``ploy-bot <args>`` with the revision's pod inputs."""

    revision: str
    args: tuple[str, ...]
    pod: PodInputs


@dataclass(frozen=True)
class DeleteMigrationJob:
    """Delete the Job ``<name>-migrate-<revision>`` (background propagation); no-op if it is gone."""

    revision: str


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class EmitEvent:
    """Record a Kubernetes Event on the TradingBot (emitted once, on the transition that caused it)."""

    type: EventType
    reason: str
    message: str


Action = (
    EnsureConfigMap
    | EnsureDeployment
    | ScaleDeployment
    | EnsureService
    | EnsureMigrationJob
    | DeleteMigrationJob
    | EmitEvent
)
