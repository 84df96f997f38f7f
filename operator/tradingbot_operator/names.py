"""Names, labels and annotations of a TradingBot's children (the operator contract, pure).

Shared by the plan (which speaks in colors and roles) and the Kubernetes I/O. Each child's name is
given by its kind's module in :mod:`tradingbot_operator.children`.
"""

from __future__ import annotations

from enum import StrEnum

from tradingbot_operator.model import Color

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TRADINGBOT = "ploy.dev/tradingbot"
LABEL_COLOR = "ploy.dev/color"
LABEL_REVISION = "ploy.dev/revision"
MANAGED_BY = "ploy-operator"
APP_NAME = "tradingbot"

ANNOTATION_PROMOTE = "ploy.dev/promote"
ANNOTATION_ABORT = "ploy.dev/abort"
ANNOTATION_RETRY = "ploy.dev/retry"

# Selector value of a Service that must route to no pod (no color is active yet).
NO_COLOR = "none"
CONFIG_KEY = "config.yaml"
CONFIG_MOUNT_PATH = "/etc/ploy/config.yaml"


class ServiceRole(StrEnum):
    """A TradingBot's Services: ``<name>`` routes to the active color, ``<name>-preview`` to the other."""

    ACTIVE = "active"
    PREVIEW = "preview"


def selector_labels(bot: str, color: Color | None) -> dict[str, str]:
    """Labels a Service selects on; ``color=None`` selects no pod at all."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: bot,
        LABEL_TRADINGBOT: bot,
        LABEL_COLOR: color.value if color is not None else NO_COLOR,
    }


def child_labels(bot: str, color: Color, revision: str) -> dict[str, str]:
    """Labels on a color's Deployment and its pod template."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: bot,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TRADINGBOT: bot,
        LABEL_COLOR: color.value,
        LABEL_REVISION: revision,
    }
