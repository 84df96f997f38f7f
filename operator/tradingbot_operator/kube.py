"""The operator's Kubernetes client: what it reads and writes, over the raw JSON requests of
:mod:`tradingbot_operator.kube_transport` (the official client's asyncio API, ``kubernetes.aio``).

One :class:`Kube` per process wraps a ``kubernetes.aio.client.ApiClient`` (authentication, TLS,
connection pool, retries of idempotent requests). Requests go through the client's own request
serialiser with plain JSON bodies: the children are built as wire-shaped mappings by the pure
:mod:`tradingbot_operator.children` (one module per kind: name, build, differs, patch, parse), so
what is compared is exactly what is sent.

Three jobs:

* :meth:`Kube.observe` takes a TradingBot's children from the watch-fed children cache
  (:mod:`tradingbot_operator.child_cache`) once it is primed for that TradingBot (by one LIST of the
  whole namespace's children, or of that TradingBot's alone by the ``ploy.dev/tradingbot`` label),
  and turns them into the plan's snapshot (:mod:`tradingbot_operator.snapshot`);
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
from tradingbot_operator.child_cache import ChildCache, Children
from tradingbot_operator.children import JSON, ChildKind, Owner
from tradingbot_operator.children.config_map import KIND as CONFIG_MAP
from tradingbot_operator.children.deployment import KIND as DEPLOYMENT
from tradingbot_operator.children.job import KIND as JOB
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.children.service import KIND as SERVICE
from tradingbot_operator.kube_transport import (
    CONFLICT,
    LIST_PAGE_SIZE,
    NOT_FOUND,
    REQUEST_TIMEOUT_SECONDS,
    KubeTransport,
    merge_patch,
    tradingbot_path,
)
from tradingbot_operator.model import TradingBotStatus
from tradingbot_operator.names import LABEL_COLOR, LABEL_TRADINGBOT
from tradingbot_operator.snapshot import Snapshot, build_snapshot

log = logging.getLogger("tradingbot_operator.kube")


class StaleObject(Exception):
    """The object changed since it was read (HTTP 409 on a resourceVersion precondition)."""


class ForeignChild(Exception):
    """A child's name is taken by an object without a controller ownerReference to the TradingBot."""


def _pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def _child_lists(namespace: str, selector: str) -> list[tuple[str, str, str]]:
    """(plural, path, label selector) of each child kind's LIST, in :class:`Children`'s order."""
    return [
        ("deployments", DEPLOYMENT.path(namespace), selector),
        ("pods", _pods(namespace), f"{selector},{LABEL_COLOR}"),  # a pod without a color: no child
        ("services", SERVICE.path(namespace), selector),
        ("configmaps", CONFIG_MAP.path(namespace), selector),
        ("jobs", JOB.path(namespace), selector),
    ]


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


class Kube(KubeTransport):
    """The operator's Kubernetes client: observation, actions, status and Events over the raw JSON
    requests of :class:`~tradingbot_operator.kube_transport.KubeTransport` (``api``, ``timeout``,
    ``on_request`` and ``cache`` are its). ``instance`` names this operator process in Events
    (default: the host name). With ``cache`` None every pass LISTs; else :meth:`observe` reads it.
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
        super().__init__(api, timeout=timeout, on_request=on_request, cache=cache)
        self.instance = instance or socket.gethostname()
        self.list_page_size = LIST_PAGE_SIZE  # objects per page of a namespace's priming LIST
        self._priming: dict[str, asyncio.Future[bool]] = {}  # namespaces whose priming LIST is in flight
        self._primed_once: set[str] = set()

    # --- TradingBot ------------------------------------------------------------------------------------

    async def get_tradingbot(self, namespace: str, name: str) -> JSON | None:
        """The TradingBot object, or None when it does not exist: the one the children cache holds
        (its newest watch event or this process's own read or write), else a GET."""
        if self.cache is not None:
            held = self.cache.tradingbot(namespace, name)
            if held is not None:
                return held
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
                if self.cache is not None:
                    self.cache.forget_tradingbot(meta["namespace"], meta["name"])  # the retry GETs it
                raise StaleObject(f"TradingBot {meta['namespace']}/{meta['name']} changed meanwhile") from exc
            raise

    # --- observation -----------------------------------------------------------------------------------

    async def observe(self, body: JSON) -> Snapshot:
        """The TradingBot's children as the plan's snapshot: from the children cache when it is primed
        for this TradingBot. When its namespace is not primed either, the pass LISTs the children of
        the whole namespace first (paginated; see :meth:`_namespace_prime` for who waits for whom),
        which primes it for every TradingBot there, and reads the result even if a kopf listing event
        arrived meanwhile. Otherwise (its view was found wrong, or another pass is re-priming the
        namespace) it LISTs its own children by label (five lists at once, which prime it).

        Neither is one atomic read; the plan tolerates that (a child one event newer or older than
        another only delays a decision to the next pass, which its watch event triggers). Raises what
        the LISTs raise (``ApiException``, ``TimeoutError``).
        """
        owner = Owner.from_body(body)
        ns = owner.namespace
        cache = self.cache
        listed_now = False
        if cache is not None and not cache.primed(ns, owner.name) and not cache.namespace_primed(ns):
            listed_now = await self._namespace_prime(cache, ns)
        if cache is not None and (listed_now or cache.primed(ns, owner.name)):
            found = cache.children(ns, owner.name)
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

    async def _namespace_prime(self, cache: ChildCache, namespace: str) -> bool:
        """Prime ``namespace`` unless a pass is priming it already; wait for that one only if it is the
        namespace's first prime in this process (as an informer's first LIST is waited for; waiting for
        a re-prime would hold a spec change behind a LIST of the whole namespace). True when this pass
        sent or waited for a LIST of the namespace that completed: its result is in the cache even when
        a kopf listing event left the namespace unprimed for later passes."""
        running = self._priming.get(namespace)
        if running is not None:
            if namespace in self._primed_once:
                return False
            # Resolved by that pass however it ends: bounded by its LISTs' timeouts.
            return await asyncio.shield(running)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._priming[namespace] = done
        try:
            await self._prime_namespace(cache, namespace)
            self._primed_once.add(namespace)
            done.set_result(True)
            return True
        finally:
            del self._priming[namespace]
            if not done.done():
                done.set_result(False)

    async def _prime_namespace(self, cache: ChildCache, namespace: str) -> None:
        """LIST the children of every TradingBot of ``namespace`` into ``cache``, page by page, and
        prime it for all (:meth:`ChildCache.seed_namespace`). When one kind's LIST fails the others
        are cancelled before the token closes: a later page could revive a child seen deleted."""
        token = cache.begin()
        listed: dict[str, set[str]] = {}

        async def list_kind(plural: str, path: str, selector: str) -> None:
            names: set[str] = set()
            async for page in self.list_pages(path, selector, self.list_page_size):
                names |= cache.seed_listed(token, plural, namespace, page)
            listed[plural] = names

        try:
            async with asyncio.TaskGroup() as group:
                for plural, path, selector in _child_lists(namespace, LABEL_TRADINGBOT):
                    group.create_task(list_kind(plural, path, selector))
            cache.seed_namespace(token, namespace, listed)
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None  # what one LIST raised, as the pass's LISTs do
        finally:
            cache.finish(token)

    async def _list_children(self, owner: Owner) -> Children:
        lists = _child_lists(owner.namespace, f"{LABEL_TRADINGBOT}={owner.name}")
        return Children(*await asyncio.gather(*(self.list_items(path, sel) for _, path, sel in lists)))

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
