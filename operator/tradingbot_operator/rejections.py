"""Child writes the API server refuses (HTTP 400/422): remembered, shown on the TradingBot, retried.

The CRD checks the pod-template values it passes on with the API's own formats, but the Deployment
API may still refuse something (a rule the CRD does not know, a newer server). Such a refusal is not
a transient error: the TradingBot would stay Progressing with nothing on it saying why. So the
reconciler remembers the API server's message per TradingBot UID (:class:`Rejections`, in memory),
emits a Warning Event ``ChildRejected`` (``plan.context.REASON_CHILD_REJECTED``) once per message,
and the next pass's plan shows it as the condition ``Degraded=True`` with reason ``ChildRejected``
(``observed.child_rejected``). A pass whose child writes all succeed forgets it. The message is the
API server's own text about the child the operator built; children carry no secret value (the
database URL is a ``secretKeyRef``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kubernetes.aio.client.exceptions import ApiException

# HTTP statuses of a write the API server refuses for its content (not a race, not an outage).
REJECTED_STATUSES = (400, 422)
MAX_MESSAGE = 1000


class ChildRejected(Exception):
    """One or more child writes of a pass were refused; the message is the API server's."""


def is_rejection(exc: BaseException) -> bool:
    """True when ``exc`` is an API answer refusing a write for its content (400 or 422)."""
    return isinstance(exc, ApiException) and exc.status in REJECTED_STATUSES


def is_namespace_terminating(exc: BaseException) -> bool:
    """True when ``exc`` is the API server refusing a write because the namespace is being deleted:
    403 with the Status cause ``NamespaceTerminating`` (the NamespaceLifecycle admission plugin;
    ``metav1.NamespaceTerminatingCause``). Retrying cannot succeed: the TradingBot goes with it."""
    if not isinstance(exc, ApiException) or exc.status != 403:
        return False
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return False
    details = body.get("details") if isinstance(body, dict) else None
    causes = details.get("causes") if isinstance(details, dict) else None
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes or ())


def api_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status body (else its reason), at most 1000 characters."""
    message = ""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict):
            message = str(body.get("message") or "")
    except (TypeError, ValueError):
        message = ""
    return (message or str(exc.reason or f"HTTP {exc.status}"))[:MAX_MESSAGE]


@dataclass
class Rejections:
    """The last refused child write per TradingBot UID: ``kind name: API message``."""

    _by_uid: dict[str, str] = field(default_factory=dict)

    def get(self, uid: str) -> str | None:
        """The remembered message for ``uid``, or None."""
        return self._by_uid.get(uid)

    def record(self, uid: str, message: str) -> bool:
        """Remember ``message``; True when it is new for ``uid`` (then emit an Event)."""
        new = self._by_uid.get(uid) != message
        self._by_uid[uid] = message
        return new

    def clear(self, uid: str) -> bool:
        """Forget ``uid``'s rejection; True when there was one (its condition must be cleared)."""
        return self._by_uid.pop(uid, None) is not None
