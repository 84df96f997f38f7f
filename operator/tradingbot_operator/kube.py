"""All Kubernetes I/O of the operator, on the official client's asyncio API (``kubernetes.aio``).

One :class:`Kube` per process wraps a ``kubernetes.aio.client.ApiClient`` (authentication, TLS,
connection pool, retries of idempotent requests). Requests go through the client's own request
serialiser with plain JSON bodies: the children are built as wire-shaped mappings by the pure
:mod:`tradingbot_operator.children` (one module per kind: name, build, differs, patch, parse), so
what is compared is exactly what is sent.

Three jobs:

* :meth:`Kube.observe` takes a TradingBot's children from the watch-fed children cache
  (:mod:`tradingbot_operator.child_cache`) once it is primed for that TradingBot, else lists them by
  the ``ploy.dev/tradingbot`` label (which primes it), and turns them into the plan's snapshot
  (:mod:`tradingbot_operator.snapshot`);
* :meth:`Kube.apply` carries out one plan action, checking before acting (:meth:`Kube.ensure`: take the
  live child from the pass's own listing, create it when missing, else check it is owned and patch it
  only when its kind says it differs); ``404``/``409`` on the way are expected races, not errors. The
  listing is the pass's read of the children, milliseconds old, and no write depends on it being the
  newest: creates fail with 409 on an existing name (then the child is read again), and the patches
  carry the operator's whole intent for the fields it owns (replace, no precondition), so a write
  decided on a slightly old read is either needed or a no-op, and a change made after the listing has
  its own watch event and pass;
* :meth:`Kube.write_status` writes the TradingBot status once per pass through the status subresource
  (JSON merge patch guarded by ``metadata.resourceVersion``, so a pass that planned from a stale view
  fails with :class:`StaleObject` instead of overwriting a newer status).

Errors: :class:`kubernetes.aio.client.exceptions.ApiException` for unexpected API answers,
:class:`StaleObject` on a resourceVersion conflict, :class:`ForeignChild` when a child's name is taken
by an object the TradingBot does not own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes.aio.client import ApiClient
from kubernetes.aio.client.exceptions import ApiException

from tradingbot_operator import children
from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EmitEvent,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    ScaleDeployment,
)
from tradingbot_operator.child_cache import PLURALS, ChildCache, Children
from tradingbot_operator.children import JSON, ChildKind, Owner
from tradingbot_operator.children.config_map import KIND as CONFIG_MAP
from tradingbot_operator.children.deployment import KIND as DEPLOYMENT
from tradingbot_operator.children.job import KIND as JOB
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.children.service import KIND as SERVICE
from tradingbot_operator.known_versions import KnownVersions
from tradingbot_operator.model import GROUP, PLURAL, VERSION, TradingBotStatus
from tradingbot_operator.names import LABEL_COLOR, LABEL_TRADINGBOT
from tradingbot_operator.snapshot import Snapshot, build_snapshot

log = logging.getLogger("tradingbot_operator.kube")

NOT_FOUND = 404
CONFLICT = 409
# Seconds per request; the client's own default (5 min) would stall a reconcile pass on a hung connection.
REQUEST_TIMEOUT_SECONDS = 30.0


class StaleObject(Exception):
    """The object changed since it was read (HTTP 409 on a resourceVersion precondition)."""


class ForeignChild(Exception):
    """A child's name is taken by an object without a controller ownerReference to the TradingBot."""


def tradingbot_path(namespace: str, name: str | None = None) -> str:
    """API path of the TradingBots of ``namespace`` (or of one of them)."""
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


def _pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


# Kubernetes API verbs by HTTP method (a GET of a collection is "list"; watches are kopf's, not here).
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


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


def _check_owned(live: JSON, owner: Owner) -> None:
    """Raise :class:`ForeignChild` unless ``owner`` controls the live object."""
    if not children.is_owned_by(live, owner):
        kind = live.get("kind", "object")
        name = live.get("metadata", {}).get("name")
        raise ForeignChild(
            f"{kind} {owner.namespace}/{name} exists but is not owned by TradingBot {owner.name}"
        )


def parse_status(raw: Mapping[str, Any] | None) -> TradingBotStatus:
    """The TradingBot's ``status`` as a model; pydantic's ValidationError when it is malformed."""
    return TradingBotStatus.model_validate(dict(raw or {}))


Listed = dict[tuple[str, str], JSON]
"""The live children a pass listed, by (plural, name); the pass's writes update it."""


class Kube:
    """The operator's Kubernetes client: raw JSON requests, observation, actions, status, Events.

    ``api`` is a ``kubernetes.aio.client.ApiClient`` owned by the caller (closed by it).
    ``instance`` names this operator process in Events (default: the host name); ``timeout`` is the
    total seconds allowed per request (``asyncio.TimeoutError`` beyond it); ``on_request(verb,
    resource)`` is called once per request sent (see :func:`verb_and_resource`), e.g. to count them;
    ``cache``: the children cache the watch handlers feed (None: every pass LISTs), which
    :meth:`observe` reads and every answer about a child (create, patch, GET) updates.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        instance: str | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        on_request: Callable[[str, str], None] | None = None,
        cache: ChildCache | None = None,
    ) -> None:
        self._api = api
        self.cache = cache
        self.instance = instance or socket.gethostname()
        self.timeout = timeout
        self._on_request = on_request
        self.versions = KnownVersions()

    # --- transport -------------------------------------------------------------------------------------

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
        (create, patch, GET of one object) goes into the children cache, under a token taken before
        the request was sent (see :mod:`tradingbot_operator.child_cache`).
        """
        verb, resource = verb_and_resource(method, path)
        if self._on_request is not None:
            self._on_request(verb, resource)
        if self.cache is None or resource not in PLURALS or verb not in {"create", "patch", "get"}:
            return await self._send(method, path, body, query, content_type)
        token = self.cache.begin()
        try:
            decoded = await self._send(method, path, body, query, content_type)
            self.cache.read(token, resource, decoded)
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

    async def create(self, path: str, body: JSON) -> JSON | None:
        """POST ``body`` to ``path``; None when it already exists (409)."""
        try:
            return await self.request("POST", path, body=body)
        except ApiException as exc:
            if exc.status == CONFLICT:
                return None
            raise

    # --- TradingBot ------------------------------------------------------------------------------------

    async def get_tradingbot(self, namespace: str, name: str) -> JSON | None:
        """The TradingBot object, or None when it does not exist."""
        return await self.get(tradingbot_path(namespace, name))

    async def write_status(self, body: JSON, new: TradingBotStatus) -> JSON:
        """Write ``new`` as the status of the TradingBot ``body`` (one merge patch, status subresource).

        The patch carries ``body``'s ``metadata.resourceVersion``: if the object changed since it was
        read, raises :class:`StaleObject` and writes nothing. Returns the updated object.
        """
        meta = body["metadata"]
        patch = merge_patch(body.get("status") or {}, new.to_wire())
        patch_body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": patch}
        try:
            return await self.request(
                "PATCH",
                tradingbot_path(meta["namespace"], meta["name"]) + "/status",
                body=patch_body,
                content_type=MERGE_PATCH,
            )
        except ApiException as exc:
            if exc.status == CONFLICT:
                raise StaleObject(f"TradingBot {meta['namespace']}/{meta['name']} changed meanwhile") from exc
            raise

    # --- observation -----------------------------------------------------------------------------------

    async def observe(self, body: JSON) -> Snapshot:
        """The TradingBot's children as the plan's snapshot: from the children cache when it is primed
        for this TradingBot, else listed (by label, five lists at once; the lists then prime the cache).

        Neither is one atomic read; the plan tolerates that (a child one event newer or older than
        another only delays a decision to the next pass, which its watch event triggers).
        """
        owner = Owner.from_body(body)
        ns = owner.namespace
        if self.cache is not None and self.cache.primed(ns, owner.name):
            found = self.cache.children(ns, owner.name)
        else:
            token = self.cache.begin() if self.cache is not None else 0
            try:
                found = await self._list_children(owner)
                if self.cache is not None:
                    self.cache.seed(token, ns, owner.name, found)
                    found = self.cache.children(ns, owner.name)
            finally:
                if self.cache is not None:
                    self.cache.finish(token)
        return build_snapshot(
            body,
            deployments=found.deployments,
            pods=found.pods,
            services=found.services,
            config_maps=found.config_maps,
            jobs=found.jobs,
        )

    async def _list_children(self, owner: Owner) -> Children:
        ns, selector = owner.namespace, f"{LABEL_TRADINGBOT}={owner.name}"
        deployments, pods, services, config_maps, jobs = await asyncio.gather(
            self.list_items(DEPLOYMENT.path(ns), selector),
            self.list_items(_pods(ns), f"{selector},{LABEL_COLOR}"),
            self.list_items(SERVICE.path(ns), selector),
            self.list_items(CONFIG_MAP.path(ns), selector),
            self.list_items(JOB.path(ns), selector),
        )
        return Children(deployments, pods, services, config_maps, jobs)

    # --- actions ---------------------------------------------------------------------------------------

    async def apply(self, body: JSON, action: Action, listed: Listed | None = None) -> None:
        """Carry out one plan action for the TradingBot ``body``, checking the live object first.

        ``listed``: the pass's listing of the children (:attr:`Snapshot.listed`, copied): the live
        object is taken from it instead of a GET, and the writes update it. None: read each live.
        An API error or timeout drops the children cache's prime of the TradingBot: a 404 or 409 says
        the pass's view was wrong, and the next pass LISTs instead of trying the same again.
        """
        try:
            await self._apply(body, action, listed)
        except (ApiException, TimeoutError):
            if self.cache is not None:
                meta = body["metadata"]
                self.cache.unprime(meta["namespace"], meta["name"])
            raise

    async def _apply(self, body: JSON, action: Action, listed: Listed | None) -> None:
        owner = Owner.from_body(body)
        match action:
            case EmitEvent():
                # Events are for people; a failure to record one must not hold back the switch.
                try:
                    await self.emit_event(owner, action.type.value, action.reason, action.message)
                except (ApiException, TimeoutError) as exc:
                    log.warning(
                        "Event %s for %s/%s not recorded: %s", action.reason, owner.namespace, owner.name, exc
                    )
            case EnsureConfigMap():
                await self.ensure(
                    owner, CONFIG_MAP, children.config_map(owner, action.config_hash, action.data), listed
                )
            case EnsureDeployment():
                desired = children.deployment(
                    owner, action.color, action.revision, action.replicas, action.pod
                )
                await self.ensure(owner, DEPLOYMENT, desired, listed)
            case ScaleDeployment():
                await self._scale_deployment(owner, action, listed)
            case EnsureService():
                await self.ensure(owner, SERVICE, children.service(owner, action.role, action.color), listed)
            case EnsureMigrationJob():
                desired = children.migration_job(owner, action.revision, action.args, action.pod)
                await self.ensure(owner, JOB, desired, listed)
            case DeleteMigrationJob():
                await self._delete_job(owner, action, listed)

    async def _live(self, kind: ChildKind, namespace: str, name: str, listed: Listed | None) -> JSON | None:
        """The child from the pass's listing when there is one (absent there: None), else a GET."""
        if listed is not None:
            return listed.get((kind.plural, name))
        return await self.get(kind.path(namespace, name))

    @staticmethod
    def _wrote(kind: ChildKind, listed: Listed | None, answer: JSON | None) -> None:
        if listed is not None and answer and "metadata" in answer:
            listed[(kind.plural, answer["metadata"]["name"])] = answer

    async def ensure(
        self, owner: Owner, kind: ChildKind, desired: JSON, listed: Listed | None = None
    ) -> None:
        """Check, then act: make the child ``desired`` (wire JSON, named in its metadata) exist as built.

        The live child comes from ``listed`` (the pass's listing) or a GET. Missing: create it (409,
        it exists, e.g. unlabelled or created meanwhile: read it and go on). Present: raise
        :class:`ForeignChild` unless ``owner`` controls it; patch it only when ``kind.differs`` says so
        (never for an immutable kind). A child gone between the steps is left to the next pass.
        """
        name = desired["metadata"]["name"]
        path = kind.path(owner.namespace, name)
        live = await self._live(kind, owner.namespace, name, listed)
        if live is None:
            created = await self.create(kind.path(owner.namespace), desired)
            if created is not None:
                self._wrote(kind, listed, created)
                return
            self._unprime(owner)  # it exists after all: the pass's view missed it
            live = await self.get(path)
            if live is None:
                return
        _check_owned(live, owner)
        if kind.differs is None or kind.patch is None or not kind.differs(live, desired):
            return
        body, content_type = kind.patch(live, desired)
        self._wrote(kind, listed, await self.request("PATCH", path, body=body, content_type=content_type))

    async def _scale_deployment(self, owner: Owner, action: ScaleDeployment, listed: Listed | None) -> None:
        name = children.deployment_name(owner.name, action.color)
        path = DEPLOYMENT.path(owner.namespace, name)
        live = await self._live(DEPLOYMENT, owner.namespace, name, listed)
        if live is None:
            return
        _check_owned(live, owner)
        if live.get("spec", {}).get("replicas") == action.replicas:
            return
        # No resourceVersion precondition: the controller's status updates would make it fail often,
        # and the operator is the only writer of spec.replicas.
        try:
            answer = await self.request(
                "PATCH", path, body={"spec": {"replicas": action.replicas}}, content_type=MERGE_PATCH
            )
            self._wrote(DEPLOYMENT, listed, answer)
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise
            self._unprime(owner)

    def _unprime(self, owner: Owner) -> None:
        if self.cache is not None:
            self.cache.unprime(owner.namespace, owner.name)

    async def _delete_job(self, owner: Owner, action: DeleteMigrationJob, listed: Listed | None) -> None:
        name = children.migration_job_name(owner.name, action.revision)
        path = JOB.path(owner.namespace, name)
        live = await self._live(JOB, owner.namespace, name, listed)
        if live is None or not children.is_owned_by(live, owner):
            return
        try:
            await self.request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise

    async def emit_event(self, owner: Owner, type_: str, reason: str, message: str) -> None:
        """Post a core/v1 Event about the TradingBot (best effort is the caller's choice)."""
        now = datetime.now(UTC)
        await self.request(
            "POST",
            f"/api/v1/namespaces/{owner.namespace}/events",
            body=children.event(owner, type_, reason, message, now, self.instance),
        )
