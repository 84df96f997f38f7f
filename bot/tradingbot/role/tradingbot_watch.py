"""Watch this pod's own TradingBot (``ploy.dev/v1alpha1``, plural ``tradingbots``) for the role.

Least privilege: one namespaced object, selected by ``metadata.name`` (RBAC: get/list/watch on
``tradingbots`` in its namespace). Active iff ``status.activeColor`` equals this pod's color; the
fencing epoch is ``status.epoch`` (DESIGN §4). A watch error keeps the last role (the PostgreSQL fence,
not the watch, is what makes a stale trader harmless) and re-establishes the watch with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes.aio import client, config, watch

from tradingbot.ledger.fence import FenceKey

log = logging.getLogger(__name__)

GROUP = "ploy.dev"
VERSION = "v1alpha1"
PLURAL = "tradingbots"

RoleObserver = Callable[[bool, int | None, FenceKey | None], Awaitable[None]]
"""Called with (active, epoch, fence key) on every observed change of the TradingBot."""


def role_from_object(obj: Mapping[str, Any] | None, color: str) -> tuple[bool, int | None]:
    """(active, epoch) from a TradingBot object as the API server returns it (a dict), for ``color``.

    Active needs ``status.activeColor == color`` and an integer ``status.epoch`` >= 1.
    """
    status = (obj or {}).get("status") or {}
    raw_epoch = status.get("epoch")
    epoch = (
        raw_epoch
        if isinstance(raw_epoch, int) and not isinstance(raw_epoch, bool) and raw_epoch >= 1
        else None
    )
    return (status.get("activeColor") == color and epoch is not None, epoch)


def fence_key_from_object(obj: Mapping[str, Any] | None) -> FenceKey | None:
    """The fence key of a TradingBot object: its ``metadata.uid``, namespace, name and
    ``creationTimestamp`` (RFC 3339, UTC). None when the object carries no UID."""
    meta = (obj or {}).get("metadata") or {}
    uid, namespace, name = meta.get("uid"), meta.get("namespace"), meta.get("name")
    if not (isinstance(uid, str) and isinstance(namespace, str) and isinstance(name, str) and uid):
        return None
    created = meta.get("creationTimestamp")
    incarnation = None
    if isinstance(created, str):
        with contextlib.suppress(ValueError):
            incarnation = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return FenceKey(uid=uid, namespace=namespace, name=name, incarnation=incarnation)


async def api_client(kubeconfig: Path | None) -> Any:
    """An asyncio ``kubernetes.aio.client.ApiClient`` from ``kubeconfig``, or from the pod's service
    account when None."""
    if kubeconfig is not None:
        return await config.new_client_from_config(config_file=str(kubeconfig))
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


async def watch_tradingbot(
    api: Any,
    namespace: str,
    name: str,
    color: str,
    observe: RoleObserver,
    max_backoff_s: float = 10.0,
) -> None:
    """Feed ``observe`` from a watch on TradingBot ``namespace/name`` until cancelled.

    DELETED makes the pod passive. Never returns on its own; errors are logged and retried.
    """
    objects = client.CustomObjectsApi(api)
    backoff = 0.5
    while True:
        try:
            async with watch.Watch() as stream:
                async for event in stream.stream(
                    objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    field_selector=f"metadata.name={name}",
                ):
                    kind = event.get("type")
                    if kind == "DELETED":
                        await observe(False, None, None)
                    elif kind in ("ADDED", "MODIFIED"):
                        raw = event.get("raw_object")
                        active, epoch = role_from_object(raw, color)
                        await observe(active, epoch, fence_key_from_object(raw))
                    backoff = 0.5
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "watch on TradingBot %s/%s failed (%s); retrying in %.1fs", namespace, name, exc, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)
