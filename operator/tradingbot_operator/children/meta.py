"""What every child of a TradingBot shares (pure): its owner, ownerReference, labels, metadata, and
:class:`ChildKind`, the description of how one kind of child is written.

Every child carries a controller ownerReference to the TradingBot (``blockOwnerDeletion``) so the
garbage collector removes it with its owner; a child without one is not the operator's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradingbot_operator.model import GROUP, KIND, VERSION
from tradingbot_operator.names import (
    APP_NAME,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_TRADINGBOT,
    MANAGED_BY,
)

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
LABEL_COMPONENT = "app.kubernetes.io/component"


@dataclass(frozen=True)
class Owner:
    """The TradingBot that owns the children: ``metadata.name``, ``namespace`` and ``uid``."""

    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: JSON) -> Owner:
        """Read name, namespace and uid from a TradingBot object; KeyError when one is missing."""
        meta = body["metadata"]
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


Patch = tuple[Any, str]
"""A patch body and its content type (:data:`MERGE_PATCH` or :data:`JSON_PATCH`)."""


@dataclass(frozen=True)
class ChildKind:
    """How one kind of child is written: where it lives and, when it may change, what differs and how
    to fix it.

    ``api``: ``/api/v1`` or ``/apis/<group>/<version>``; ``plural``: the resource; ``differs(live,
    desired)``: True when the live object (wire JSON) must be patched to match ``desired``; ``patch(live,
    desired)``: that patch. Both None: the child is immutable once created (named by what it holds).
    """

    kind: str
    api: str
    plural: str
    differs: Callable[[JSON, JSON], bool] | None = None
    patch: Callable[[JSON, JSON], Patch] | None = None

    def path(self, namespace: str, name: str | None = None) -> str:
        """API path of the collection in ``namespace``, or of the object ``name``."""
        base = f"{self.api}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{name}" if name else base


def owner_reference(owner: Owner) -> JSON:
    """The controller ownerReference to ``owner`` (``blockOwnerDeletion`` for foreground deletion)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: JSON, owner: Owner) -> bool:
    """True when ``obj`` has a controller ownerReference to ``owner`` (same uid)."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid and ref.get("controller") for ref in refs)


def bot_labels(bot: str) -> dict[str, str]:
    """Labels on every child that is not tied to one color (Services, ConfigMaps, Jobs)."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: bot,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TRADINGBOT: bot,
    }


def metadata(owner: Owner, name: str, labels: dict[str, str]) -> JSON:
    """``metadata`` of a child: name, namespace, labels and the controller ownerReference."""
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }


def spec_hash(value: Any) -> str:
    """10 hex digits of SHA-256 over canonical JSON of ``value``."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def labels_of(obj: JSON) -> dict[str, str]:
    """``metadata.labels`` of a wire object (empty when absent)."""
    labels: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def condition_of(obj: JSON, type_: str) -> JSON | None:
    """The ``status.conditions[]`` entry of ``type_`` of a wire object, or None."""
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == type_:
            found: JSON = condition
            return found
    return None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2026-01-02T03:04:05Z``) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
