"""The highest fencing epoch this operator process wrote, per TradingBot (pure, in memory).

``status.epoch`` must never decrease (docs/ARCHITECTURE.md, "Status"): the CRD refuses a lower value
through a transition rule, and, as a second line, the operator refuses to act on a status whose
epoch is below what this process itself wrote for the same object. Keyed by the TradingBot's UID, so
an object deleted and recreated under the same name starts clean. Only epochs this process wrote
count: after a restart the memory is empty and the first status read is trusted (the CRD rule still
holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EpochMemory:
    """Highest epoch written per TradingBot UID, and the lower epoch last warned about."""

    _written: dict[str, int] = field(default_factory=dict)
    _warned: dict[str, int] = field(default_factory=dict)

    def wrote(self, uid: str, epoch: int) -> None:
        """Record that this process wrote ``epoch`` (an integer >= 0) for the TradingBot ``uid``."""
        if epoch > self._written.get(uid, -1):
            self._written[uid] = epoch
        self._warned.pop(uid, None)

    def highest(self, uid: str) -> int | None:
        """The highest epoch this process wrote for ``uid``, or None when it wrote none."""
        return self._written.get(uid)

    def regressed(self, uid: str, epoch: int) -> int | None:
        """The highest written epoch when ``epoch`` (read from the status) is below it, else None."""
        highest = self._written.get(uid)
        return highest if highest is not None and epoch < highest else None

    def first_warning(self, uid: str, epoch: int) -> bool:
        """True the first time the lower ``epoch`` is reported for ``uid`` (one Event per value)."""
        if self._warned.get(uid) == epoch:
            return False
        self._warned[uid] = epoch
        return True

    def forget(self, uid: str) -> None:
        """Drop what is known about a deleted TradingBot."""
        self._written.pop(uid, None)
        self._warned.pop(uid, None)
