"""What this process knows about how fresh its role is (readiness includes the role: docs/ARCHITECTURE.md,
"The bot's readiness").

Kept apart from the watch (no Kubernetes client import) so the runtime and the health checks can hold
it in standalone mode too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class RoleKnowledge:
    """When the role was last confirmed from the API, and why the last attempt failed.

    ``confirmed_at`` is ``time.monotonic()`` of the last confirmation: a successful list of the
    TradingBot or a watch event about it. ``forbidden`` is True while the last attempt was refused with
    401/403 (this pod's ServiceAccount may not read its TradingBot: it will never learn its role).
    ``last_error`` is one short line (status and the API's message, or the exception type and text;
    never request headers or tokens), None after a success. ``always`` marks standalone mode, whose
    role comes from its config and is confirmed by definition.
    """

    confirmed_at: float | None = None
    forbidden: bool = False
    last_error: str | None = None
    always: bool = False

    @classmethod
    def standalone(cls) -> RoleKnowledge:
        """Knowledge of a process whose role is fixed by its config."""
        return cls(always=True)

    def confirm(self) -> None:
        """The API just told us the role (a list answered or a watch event arrived)."""
        self.confirmed_at = time.monotonic()
        self.forbidden = False
        self.last_error = None

    def failed(self, error: str, *, forbidden: bool = False) -> None:
        """The last attempt to read the role failed with ``error`` (one line, no secrets)."""
        self.forbidden = forbidden
        self.last_error = error[:300]

    def age_s(self) -> float | None:
        """Seconds (monotonic) since the last confirmation; 0 in standalone mode; None if never."""
        if self.always:
            return 0.0
        if self.confirmed_at is None:
            return None
        return time.monotonic() - self.confirmed_at
