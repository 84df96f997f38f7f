"""The Services ``<name>`` (active) and ``<name>-preview`` (pure): name, build, differs, patch, parse."""

from __future__ import annotations

from tradingbot_operator.children.meta import (
    JSON,
    JSON_PATCH,
    LABEL_COMPONENT,
    ChildKind,
    Owner,
    Patch,
    bot_labels,
    metadata,
)
from tradingbot_operator.model import Color
from tradingbot_operator.names import LABEL_COLOR, ServiceRole, selector_labels
from tradingbot_operator.observed import ServiceFacts

SERVICE_PORT = 80


def service_name(bot: str, role: ServiceRole) -> str:
    """``<bot>`` for the active Service, ``<bot>-preview`` for the preview Service."""
    return bot if role is ServiceRole.ACTIVE else f"{bot}-preview"


def service(owner: Owner, role: ServiceRole, color: Color | None) -> JSON:
    """The Service of ``role`` (``<name>`` or ``<name>-preview``) selecting ``color``'s pods.

    ``color=None`` selects no pod (selector ``ploy.dev/color: none``). Port 80 -> the pods' ``http``.
    """
    labels = {**bot_labels(owner.name), LABEL_COMPONENT: role.value}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(owner, service_name(owner.name, role), labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner.name, color),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def service_differs(live: JSON, desired: JSON) -> bool:
    """True when the live Service's selector or ports are not exactly those of ``desired``.

    Both are Service objects (wire JSON); only ``spec.selector`` (whole mapping, so an extra or a
    missing key counts) and each port's name, port and targetPort are compared.
    """
    live_spec = live.get("spec", {})
    if live_spec.get("selector") != desired["spec"]["selector"]:
        return True
    return [(p.get("name"), p.get("port"), p.get("targetPort")) for p in live_spec.get("ports") or []] != [
        (p["name"], p["port"], p["targetPort"]) for p in desired["spec"]["ports"]
    ]


def service_color(live: JSON) -> Color | None:
    """The color a live Service selects, or None when it selects no color."""
    value = (live.get("spec", {}).get("selector") or {}).get(LABEL_COLOR)
    try:
        return Color(value) if value is not None else None
    except ValueError:
        return None


def service_patch(live: JSON, desired: JSON) -> Patch:
    """A JSON patch replacing exactly the selector and ports (a merge would keep stale selector keys)."""
    patch = [
        {"op": "replace", "path": "/spec/selector", "value": desired["spec"]["selector"]},
        {"op": "replace", "path": "/spec/ports", "value": desired["spec"]["ports"]},
    ]
    return patch, JSON_PATCH


KIND = ChildKind(
    kind="Service", api="/api/v1", plural="services", differs=service_differs, patch=service_patch
)


def service_facts(owner: Owner, role: ServiceRole, live: JSON) -> ServiceFacts:
    """The color a live Service of ``role`` selects, and whether its selector or ports drifted from
    what the operator writes for that color."""
    selected = service_color(live)
    return ServiceFacts(color=selected, drifted=service_differs(live, service(owner, role, selected)))
