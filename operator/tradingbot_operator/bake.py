"""When the bake starts: the operator's own observation of "all pods Ready", never a node's clock.

A pod's Ready ``lastTransitionTime`` is written by the kubelet with its node's clock; a node whose
clock lags would make a pod look Ready for longer than it was and skip (part of) the bake. So the
bake is timed from the moment THIS operator process first observed all of a color's pods Ready, read
from the reconciler's injected clock (:class:`ReadyObservations`, in memory, per TradingBot UID and
color). The pods' timestamps serve only as an identity: when the set of Ready pods or any of their
Ready transitions changes (a flap between two passes, a replacement pod), the observation starts over,
whatever the timestamps say. After an operator restart the memory is empty: the bake restarts from
the new process's first observation (the safe side: a longer bake, never a shorter one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from tradingbot_operator.health import color_health
from tradingbot_operator.model import Color
from tradingbot_operator.observed import Observed

# (pod name, its Ready lastTransitionTime) of every Ready pod: which Ready pods were observed.
Fingerprint = frozenset[tuple[str, datetime | None]]


def ceil_second(when: datetime) -> datetime:
    """``when`` rounded up to a whole second (statuses hold whole seconds; up is the safe side)."""
    whole = when.replace(microsecond=0)
    return whole if whole == when else whole + timedelta(seconds=1)


@dataclass
class ReadyObservations:
    """First observation of "all pods Ready" per (TradingBot UID, color), by this operator's clock."""

    _seen: dict[tuple[str, Color], tuple[str, Fingerprint, datetime]] = field(default_factory=dict)

    def observe(self, uid: str, observed: Observed, replicas: int, now: datetime) -> Mapping[Color, datetime]:
        """Record this pass's look at the TradingBot ``uid``; returns, per color whose Deployment's pods
        are all Ready (``health.color_health(...).ready`` for its template revision and ``replicas``),
        when this operator first saw exactly these pods Ready (``now`` or earlier, whole seconds, UTC).
        ``now`` is the reconciler's clock (timezone-aware UTC). Colors not Ready are forgotten.
        """
        result: dict[Color, datetime] = {}
        for color in Color:
            key = (uid, color)
            deployment = observed.deployments.get(color)
            revision = deployment.revision if deployment is not None else None
            if (
                deployment is None
                or revision is None
                or not color_health(observed, color, revision, replicas).ready
            ):
                self._seen.pop(key, None)
                continue
            fingerprint = frozenset((p.name, p.ready_since) for p in deployment.pods_of(revision) if p.ready)
            previous = self._seen.get(key)
            if previous is None or previous[0] != revision or previous[1] != fingerprint:
                previous = (revision, fingerprint, ceil_second(now))
                self._seen[key] = previous
            result[color] = previous[2]
        return MappingProxyType(result)

    def forget(self, uid: str) -> None:
        """Drop the observations of a deleted TradingBot."""
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]


def bake_start(recorded: datetime | None, seen: datetime | None, now: datetime) -> datetime:
    """``rollout.readySince`` for a color that is Ready in this pass (pure).

    ``recorded``: the status's ``readySince`` (None before); ``seen``: when this operator first saw the
    color's current pods all Ready (None when the caller has no observation, e.g. a plan test); ``now``:
    the pass's time. The later of ``recorded`` and ``seen`` wins, so a flap or an operator restart
    moves the start forward and nothing moves it back.
    """
    first = seen if seen is not None else (recorded or now)
    return first if recorded is None else max(recorded, first)
