"""Watch this pod's own TradingBot (``ploy.dev/v1alpha1``, plural ``tradingbots``) for the role.

Least privilege: one namespaced object, selected by ``metadata.name`` (RBAC: get/list/watch on
``tradingbots`` in its namespace). Active iff ``status.activeColor`` equals this pod's color; the
fencing epoch is ``status.epoch`` (docs/ARCHITECTURE.md, "The fence protocol"). A watch error keeps
the last role (the PostgreSQL fence, not the watch, is what makes a stale trader harmless) and
re-establishes the watch with backoff.

Every cycle lists the object (a fresh read that confirms the role), then watches from the list's
``resourceVersion`` with a server-side ``timeoutSeconds`` and a client-side timeout a little longer, so
a connection that freezes (no data, no error) errors out instead of leaving the pod with a stale role
for minutes; then it lists again. ``RoleKnowledge`` records each confirmation and each failure, and the
readiness check (``health.role_check``) turns them into Ready/NotReady.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes.aio import client, config, watch

from tradingbot.ledger.fence import FenceKey
from tradingbot.role.knowledge import RoleKnowledge

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


@dataclass(frozen=True)
class WatchTimings:
    """Timeouts of one list-then-watch cycle, in seconds.

    ``watch_s``: the server ends a healthy watch after this long (``timeoutSeconds``), so the role is
    re-read at least this often. ``read_s``: the client gives up on a watch request after this long,
    which only matters when the connection froze (a healthy one has ended by ``watch_s``).
    ``request_s``: client timeout of one list request; also the longest backoff between failed cycles.
    """

    watch_s: int = 10
    read_s: float = 15.0
    request_s: float = 5.0

    def __post_init__(self) -> None:
        if not (self.watch_s >= 1 and self.read_s > self.watch_s and self.request_s > 0):
            raise ValueError(f"inconsistent watch timings: {self}")

    @classmethod
    def for_confirm_window(cls, confirm_s: float) -> WatchTimings:
        """Timings under which a reachable API server confirms the role well within ``confirm_s``.

        Watch for a third of the window; a frozen watch is abandoned after half of it; the re-list then
        has a sixth: a confirmation is at most about two thirds of the window old when the API answers.
        """
        watch_s = max(1, int(confirm_s / 3))
        return cls(watch_s=watch_s, read_s=watch_s + confirm_s / 6, request_s=confirm_s / 6)


def describe_api_error(exc: BaseException) -> tuple[str, bool]:
    """(one line for people, forbidden?) for an exception of the Kubernetes client.

    An ``ApiException`` gives its status and the API's ``message`` (which names the user and verb,
    never a token); request headers are never included.
    """
    if isinstance(exc, client.exceptions.ApiException):
        message = exc.reason or ""
        if isinstance(exc.body, str | bytes):
            with contextlib.suppress(ValueError, AttributeError):
                message = json.loads(exc.body).get("message", message)
        return f"HTTP {exc.status}: {message}"[:300], exc.status in (401, 403)
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300], False


async def watch_tradingbot(
    api: Any,
    namespace: str,
    name: str,
    color: str,
    observe: RoleObserver,
    max_backoff_s: float = 10.0,
    *,
    knowledge: RoleKnowledge | None = None,
    timings: WatchTimings | None = None,
) -> None:
    """Feed ``observe`` from TradingBot ``namespace/name`` until cancelled, recording in ``knowledge``.

    Each cycle lists the object (absent = passive), then watches from its resourceVersion (DELETED makes
    the pod passive) until the watch ends, then lists again. Never returns on its own; errors are
    recorded, logged and retried after a backoff (0.5 s doubling up to ``max_backoff_s``, and at most
    ``timings.request_s``); a 410 Gone (resourceVersion expired) re-lists at once.
    """
    knowledge = knowledge if knowledge is not None else RoleKnowledge()
    timings = timings or WatchTimings()
    objects = client.CustomObjectsApi(api)
    selector = f"metadata.name={name}"
    backoff = 0.5
    while True:
        try:
            # A custom object list comes back as the decoded JSON mapping.
            listed = await objects.list_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                field_selector=selector,
                _request_timeout=timings.request_s,  # aiohttp: total time of the request
            )
            assert isinstance(listed, dict)
            items = listed.get("items") or []
            current = items[0] if items else None
            active, epoch = role_from_object(current, color)
            knowledge.confirm()
            await observe(active, epoch, fence_key_from_object(current))
            backoff = 0.5
            async with watch.Watch() as stream:
                async for event in stream.stream(
                    objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    field_selector=selector,
                    resource_version=(listed.get("metadata") or {}).get("resourceVersion"),
                    timeout_seconds=timings.watch_s,
                    _request_timeout=timings.read_s,  # includes reading the stream: a frozen one ends
                ):
                    kind = event.get("type")
                    if kind == "DELETED":
                        knowledge.confirm()
                        await observe(False, None, None)
                    elif kind in ("ADDED", "MODIFIED"):
                        knowledge.confirm()
                        raw = event.get("raw_object")
                        active, epoch = role_from_object(raw, color)
                        await observe(active, epoch, fence_key_from_object(raw))
                    elif kind == "BOOKMARK":
                        knowledge.confirm()  # nothing changed up to this resourceVersion
            # Ended by the server's timeout (or an EOF): the next list confirms the role again.
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error, forbidden = describe_api_error(exc)
            knowledge.failed(error, forbidden=forbidden)
            if isinstance(exc, client.exceptions.ApiException) and exc.status == 410:
                continue  # the resourceVersion expired: list again at once
            log.warning(
                "role of TradingBot %s/%s not readable (%s); retrying in %.1fs",
                namespace,
                name,
                error,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s, timings.request_s)
