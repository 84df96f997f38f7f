"""One reconciler at a time: pause the reconciler's own timers and queue while kopf's peering pauses.

kopf's peering pauses only kopf's watch streams: the reconciler's own timers (bake end, deadlines,
windows, resyncs) and queued passes would keep running in a paused replica, which then wrote a
promotion while another replica was in charge. kopf keeps its pause toggle private, so
:class:`PeeringGate` reads the same KopfPeering object kopf decides from and applies kopf's own rule
(:func:`should_pause`): pause while any other live peer has a higher priority or the same one; resume
when none is left. It polls (``interval`` seconds, each request bounded by the client's timeout) and
calls :meth:`Reconciler.pause` / :meth:`Reconciler.resume`. Errors reading the peering keep the last
decision (kopf, too, keeps its state when the peering is unreadable).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tradingbot_operator.children import parse_time

log = logging.getLogger("tradingbot_operator.peering")

POLL_SECONDS = 1.0


def should_pause(peers: Mapping[str, Any], identity: str, priority: int, now: datetime) -> bool:
    """kopf's rule: True when another live peer has a priority >= ``priority``.

    ``peers`` is a KopfPeering's ``status``: identity -> ``{priority, lifetime (s), lastseen (RFC 3339)}``;
    a peer is live until ``lastseen + lifetime``. ``now`` is timezone-aware UTC.
    """
    for other, info in peers.items():
        if other == identity or not isinstance(info, Mapping):
            continue
        lastseen = parse_time(info.get("lastseen"))
        if lastseen is not None and lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=UTC)
        lifetime = timedelta(seconds=int(info.get("lifetime") or 60))
        if lastseen is not None and lastseen + lifetime <= now:
            continue  # dead
        if int(info.get("priority") or 0) >= priority:
            return True
    return False


def peering_paths(name: str, namespaces: Sequence[str]) -> tuple[str, ...]:
    """API paths of the peering objects: one KopfPeering per namespace, else the ClusterKopfPeering."""
    if namespaces:
        return tuple(f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings/{name}" for ns in namespaces)
    return (f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}",)


class _Getter(Protocol):
    async def get(self, path: str) -> dict[str, Any] | None: ...


class _Pausable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class PeeringGate:
    """Polls the peering objects at ``paths`` and pauses/resumes ``target`` like kopf pauses itself."""

    def __init__(
        self,
        kube: _Getter,
        target: _Pausable,
        *,
        identity: str,
        priority: int,
        paths: Sequence[str],
        interval: float = POLL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.target = target
        self.identity = identity
        self.priority = priority
        self.paths = tuple(paths)
        self.interval = interval
        self.clock = clock
        self.paused = False

    async def check(self) -> bool:
        """Read the peering objects once, pause or resume the target; returns whether it is paused."""
        pause = self.paused
        try:
            bodies = [await self.kube.get(path) for path in self.paths]
        except Exception as exc:  # keep the last decision; the next poll tries again
            log.warning("peering not readable, keeping %s: %s", "paused" if pause else "running", exc)
            return pause
        now = self.clock()
        pause = any(
            should_pause((body or {}).get("status") or {}, self.identity, self.priority, now)
            for body in bodies
        )
        if pause and not self.paused:
            log.info("peering: another operator is in charge; reconciler paused")
            self.target.pause()
        elif not pause and self.paused:
            log.info("peering: no other operator in charge; reconciler resumed")
            self.target.resume()
        self.paused = pause
        return pause

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self.interval)
