"""A TradingBot's children (pure): one module per kind, each describing it once.

``deployment`` (``<name>-<color>``), ``service`` (``<name>``, ``<name>-preview``), ``config_map``
(``<name>-config-<hash>``), ``job`` (``<name>-migrate-<revision>``): its name, how it is built (a plain
wire-shaped JSON mapping, so the Kubernetes I/O compares exactly what it sends), what counts as a
difference from the live object and the patch that fixes it (:class:`~.meta.ChildKind`; none for the
immutable ConfigMap and Job), and how a live one is read back into the plan's facts. ``pod`` is what
goes into a pod of either; ``event`` builds a core/v1 Event; ``meta`` holds the owner and its
ownerReference, the labels and metadata every child shares. Labels and annotations are the operator
contract of :mod:`tradingbot_operator.names`.
"""

from tradingbot_operator.children.config_map import config_hash_of, config_map, config_map_name
from tradingbot_operator.children.deployment import (
    ANNOTATION_SPEC_HASH,
    deployment,
    deployment_facts,
    deployment_name,
    deployment_needs_update,
    deployment_update_patch,
)
from tradingbot_operator.children.event import event
from tradingbot_operator.children.job import job_facts, migration_job, migration_job_name
from tradingbot_operator.children.meta import JSON, ChildKind, Owner, is_owned_by, owner_reference, parse_time
from tradingbot_operator.children.pod import pod_facts, pod_failed_at
from tradingbot_operator.children.service import (
    service,
    service_color,
    service_differs,
    service_facts,
    service_name,
)

__all__ = [
    "ANNOTATION_SPEC_HASH",
    "JSON",
    "ChildKind",
    "Owner",
    "config_hash_of",
    "config_map",
    "config_map_name",
    "deployment",
    "deployment_facts",
    "deployment_name",
    "deployment_needs_update",
    "deployment_update_patch",
    "event",
    "is_owned_by",
    "job_facts",
    "migration_job",
    "migration_job_name",
    "owner_reference",
    "parse_time",
    "pod_facts",
    "pod_failed_at",
    "service",
    "service_color",
    "service_differs",
    "service_facts",
    "service_name",
]
