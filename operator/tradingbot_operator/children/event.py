"""A core/v1 Event about a TradingBot (pure)."""

from __future__ import annotations

from datetime import datetime

from tradingbot_operator.children.meta import JSON, Owner
from tradingbot_operator.model import GROUP, KIND, VERSION

EVENT_SOURCE = "ploy-operator"


def event(owner: Owner, type_: str, reason: str, message: str, now: datetime, instance: str) -> JSON:
    """A core/v1 Event about the TradingBot (``involvedObject``), reported by ``ploy-operator``.

    ``now`` is a timezone-aware UTC time; ``instance`` names the reporting operator process.
    """
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{owner.name}.", "namespace": owner.namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": owner.name,
            "namespace": owner.namespace,
            "uid": owner.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": EVENT_SOURCE},
        "reportingComponent": f"{GROUP}/operator",
        "reportingInstance": instance[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
