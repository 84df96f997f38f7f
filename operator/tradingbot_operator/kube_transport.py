"""The operator's HTTP transport to the Kubernetes API: raw JSON requests on the official client's
asyncio API (``kubernetes.aio``), counted per verb and resource, with every answer about a child fed to
the children cache (:mod:`tradingbot_operator.child_cache`); API paths and the JSON merge patch.

Errors: :class:`kubernetes.aio.client.exceptions.ApiException` (with ``.status``) for any non-2xx
answer; ``asyncio.TimeoutError`` past the per-request timeout.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kubernetes.aio.client import ApiClient
from kubernetes.aio.client.exceptions import ApiException

from tradingbot_operator.child_cache import PLURALS, TRADINGBOTS, ChildCache
from tradingbot_operator.children import JSON
from tradingbot_operator.known_versions import KnownVersions
from tradingbot_operator.model import GROUP, PLURAL, VERSION

NOT_FOUND = 404
CONFLICT = 409
GONE = 410
# Seconds per request; the client's own default (5 min) would stall a reconcile pass on a hung connection.
REQUEST_TIMEOUT_SECONDS = 30.0
# Objects per page of a namespace-wide LIST: 500 Pods are a few MB of JSON.
LIST_PAGE_SIZE = 500


def tradingbot_path(namespace: str, name: str | None = None) -> str:
    """API path of the TradingBots of ``namespace`` (or of one of them)."""
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


# Kubernetes API verbs by HTTP method (a GET of a collection is "list"; watches are kopf's, not here).
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# The resources whose single-object answers go into the children cache.
CACHED = frozenset((*PLURALS, TRADINGBOTS))


def verb_and_resource(method: str, path: str) -> tuple[str, str]:
    """The Kubernetes API verb and resource of a request, as the API server's audit log names them.

    ``("get", "deployments")`` for ``GET /apis/apps/v1/namespaces/ns/deployments/x``, ``("list",
    "pods")`` for a collection, ``("patch", "tradingbots/status")`` for a subresource. Unknown shapes
    give ``("<method lower>", "other")``; never raises.
    """
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        rest = parts[3:]
    else:
        return method.lower(), "other"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return method.lower(), "other"
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    if method == "GET":
        return ("get" if len(rest) > 1 else "list"), resource
    return _VERBS.get(method, method.lower()), resource


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> JSON:
    """The RFC 7386 JSON merge patch turning ``old`` into ``new`` (lists are replaced whole).

    Keys missing from ``new`` become ``null`` (removed); equal values are left out.
    """
    patch: JSON = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif value != before or key not in old:
            patch[key] = value
    return patch


class KubeTransport:
    """Raw JSON requests to the API server through ``api`` (a ``kubernetes.aio.client.ApiClient`` owned
    by the caller, which closes it).

    ``timeout`` is the total seconds allowed per request (``asyncio.TimeoutError`` beyond it);
    ``on_request(verb, resource)`` is called once per request sent (see :func:`verb_and_resource`),
    e.g. to count them; ``cache``: the children cache the watch handlers feed (None: no cache), which
    every answer about a child (create, patch, GET) updates. ``versions`` remembers the
    resourceVersions this process wrote (:mod:`tradingbot_operator.known_versions`).
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        on_request: Callable[[str, str], None] | None = None,
        cache: ChildCache | None = None,
    ) -> None:
        self._api = api
        self.cache = cache
        self.timeout = timeout
        self._on_request = on_request
        self.versions = KnownVersions()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One API request; returns the decoded JSON answer.

        Raises ``ApiException`` (with ``.status``) for any non-2xx answer. An answer carrying one child
        (create, patch, GET of one object), or one TradingBot (its GET, its status write), goes into
        the children cache, under a token taken before the request was sent (see
        :mod:`tradingbot_operator.child_cache`).
        """
        verb, resource = verb_and_resource(method, path)
        if self._on_request is not None:
            self._on_request(verb, resource)
        held = TRADINGBOTS if resource in (TRADINGBOTS, f"{TRADINGBOTS}/status") else resource
        if self.cache is None or held not in CACHED or verb not in {"create", "patch", "get"}:
            return await self._send(method, path, body, query, content_type)
        token = self.cache.begin()
        try:
            decoded = await self._send(method, path, body, query, content_type)
            self.cache.read(token, held, decoded)
            return decoded
        finally:
            self.cache.finish(token)

    async def _send(
        self, method: str, path: str, body: Any, query: Mapping[str, str] | None, content_type: str
    ) -> JSON:
        params = await self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = await self._api.call_api(*params, _request_timeout=self.timeout)
        data = await response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(
                status=response.status, reason=response.reason, body=data.decode("utf-8", "replace")
            )
        decoded: JSON = json.loads(data) if data else {}
        if method != "GET":
            self.versions.wrote(verb_and_resource("GET", path)[1].split("/")[0], decoded)
        return decoded

    async def get(self, path: str) -> JSON | None:
        """GET ``path``; None on 404."""
        try:
            return await self.request("GET", path)
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise

    async def list_items(self, path: str, selector: str) -> list[JSON]:
        """The items at ``path`` matching the label ``selector``."""
        answer = await self.request("GET", path, query={"labelSelector": selector})
        items: list[JSON] = answer.get("items") or []
        return items

    async def list_pages(
        self, path: str, selector: str, limit: int = LIST_PAGE_SIZE
    ) -> AsyncIterator[list[JSON]]:
        """The items at ``path`` matching the label ``selector``, ``limit`` per request (the API
        server's ``limit``/``continue`` chunking: one consistent snapshot, never all of it in memory
        at once). When a ``continue`` token has expired meanwhile (410), the rest comes from one LIST
        without a limit, a newer snapshot (as client-go's pager falls back): so an item may come twice.
        """
        query = {"labelSelector": selector, "limit": str(limit)}
        while True:
            try:
                answer = await self.request("GET", path, query=query)
            except ApiException as exc:
                if exc.status != GONE or "continue" not in query:
                    raise
                query = {"labelSelector": selector}
                continue
            yield answer.get("items") or []
            after = (answer.get("metadata") or {}).get("continue")
            if not after:
                return
            query = {**query, "continue": after}

    async def create(self, path: str, body: JSON) -> JSON | None:
        """POST ``body`` to ``path``; None when it already exists (409)."""
        try:
            return await self.request("POST", path, body=body)
        except ApiException as exc:
            if exc.status == CONFLICT:
                return None
            raise
