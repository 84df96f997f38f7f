"""The last resourceVersion this operator process knows of each watched object, so that a watch event
showing a state a pass already planned from starts no pass.

Known versions come from this process's own writes (the answer to a create, patch or replace) and
from earlier watch events. An event carrying a known version is the echo of the operator's own write
or a kopf re-listing after a watch expired: another pass would find nothing to do. The memory is per
process and in memory only; losing it costs one pass per object, nothing more. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Resources whose writes are remembered; Events are never watched.
WATCHED = frozenset({"tradingbots", "deployments", "services", "configmaps", "jobs"})


class KnownVersions:
    """(plural, namespace, name) → the object's last known ``metadata.resourceVersion``."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str, str], str] = {}

    def wrote(self, plural: str, answer: Mapping[str, Any] | Any) -> None:
        """Remember the version in the API server's ``answer`` to a write of a ``plural`` object (an
        object with ``metadata.name`` and ``metadata.resourceVersion``; anything else is ignored)."""
        meta = answer.get("metadata") if isinstance(answer, Mapping) else None
        if not meta or "resourceVersion" not in meta or "name" not in meta:
            return
        if plural in WATCHED:
            self._versions[(plural, meta.get("namespace", ""), meta["name"])] = meta["resourceVersion"]

    def seen(self, plural: str, namespace: str, name: str, resource_version: str | None) -> bool:
        """Record ``resource_version`` as the object's last known version; True when it already was
        (a pass already planned from that state). None is never known."""
        if resource_version is None:
            return False
        key = (plural, namespace, name)
        if self._versions.get(key) == resource_version:
            return True
        self._versions[key] = resource_version
        return False

    def forget_object(self, plural: str, namespace: str, name: str) -> None:
        """Drop the last known version of a deleted object."""
        self._versions.pop((plural, namespace, name), None)

    def forget_tradingbot(self, namespace: str, name: str) -> None:
        """Drop the versions of a deleted TradingBot and of its children (``<name>-...``; a TradingBot
        whose name extends it loses its memory too, which costs it one pass, nothing more)."""
        for key in [
            k for k in self._versions if k[1] == namespace and (k[2] == name or k[2].startswith(f"{name}-"))
        ]:
            del self._versions[key]
