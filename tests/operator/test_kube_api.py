"""``kube.Kube`` against the real API server: check before acting, conflicts, ownership, status writes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes.aio.client import ApiClient

from tests.operator.operator_harness import JSON, create_db_secret, install_crd, tradingbot
from tests.support.cluster import ClusterHandle
from tradingbot_operator.actions import (
    Action,
    DeleteMigrationJob,
    EmitEvent,
    EnsureConfigMap,
    EnsureDeployment,
    EnsureMigrationJob,
    EnsureService,
    EventType,
    PodInputs,
    ScaleDeployment,
)
from tradingbot_operator.child_cache import ChildCache
from tradingbot_operator.kube import ForeignChild, Kube, StaleObject, parse_status
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.model import Color, Phase, PodTemplateSpec, SecretKeyRef
from tradingbot_operator.names import ServiceRole

pytestmark = pytest.mark.cluster

POD = PodInputs(
    image="registry.example/ploy-bot:1.0.0",
    config_hash="feed01",
    database=SecretKeyRef(name="bot-db", key="url"),
    pod_template=PodTemplateSpec(),
)


@pytest.fixture
async def bot(cluster: ClusterHandle, namespace: str, k8s_api: ApiClient) -> AsyncIterator[tuple[Kube, JSON]]:
    """A TradingBot (no operator running) and a client."""
    install_crd(cluster)
    create_db_secret(cluster, namespace)
    kube = Kube(k8s_api)
    body = await kube.request("POST", tradingbot_path(namespace), body=tradingbot("unit"))
    yield kube, body


async def _version(kube: Kube, path: str) -> str:
    """What changes when someone writes the object's spec: generation if it has one, else resourceVersion."""
    found = await kube.get(path)
    assert found is not None
    meta = found["metadata"]
    return str(meta.get("generation") or meta["resourceVersion"])


async def test_actions_check_before_they_write(bot: tuple[Kube, JSON]) -> None:
    kube, body = bot
    ns = body["metadata"]["namespace"]
    deployment = f"/apis/apps/v1/namespaces/{ns}/deployments/unit-blue"
    service = f"/api/v1/namespaces/{ns}/services/unit"
    config = f"/api/v1/namespaces/{ns}/configmaps/unit-config-feed01"
    actions: list[Action] = [
        EnsureConfigMap(config_hash="feed01", data="trading: {}\n"),
        EnsureDeployment(color=Color.BLUE, revision="r1", replicas=1, pod=POD),
        EnsureService(role=ServiceRole.ACTIVE, color=Color.BLUE),
    ]
    for action in actions:
        await kube.apply(body, action)
    versions = [await _version(kube, p) for p in (config, deployment, service)]
    for action in actions:  # replaying the same plan writes nothing
        await kube.apply(body, action)
    assert [await _version(kube, p) for p in (config, deployment, service)] == versions

    await kube.apply(body, EnsureService(role=ServiceRole.ACTIVE, color=Color.GREEN))
    live = await kube.get(service)
    assert live is not None and live["spec"]["selector"]["ploy.dev/color"] == "green"
    await kube.apply(body, EnsureDeployment(color=Color.BLUE, revision="r2", replicas=1, pod=POD))
    live = await kube.get(deployment)
    assert live is not None and live["spec"]["template"]["metadata"]["labels"]["ploy.dev/revision"] == "r2"
    await kube.apply(body, ScaleDeployment(color=Color.BLUE, replicas=0))
    live = await kube.get(deployment)
    assert live is not None and live["spec"]["replicas"] == 0
    await kube.apply(body, ScaleDeployment(color=Color.GREEN, replicas=0))  # missing: nothing to do

    job = f"/apis/batch/v1/namespaces/{ns}/jobs/unit-migrate-r2"
    await kube.apply(body, EnsureMigrationJob(revision="r2", args=("migrate",), pod=POD))
    await kube.apply(body, EnsureMigrationJob(revision="r2", args=("migrate",), pod=POD))
    assert await kube.get(job) is not None
    await kube.apply(body, DeleteMigrationJob(revision="r2"))
    await kube.apply(body, DeleteMigrationJob(revision="r2"))  # already gone (or going): no error

    await kube.apply(body, EmitEvent(type=EventType.NORMAL, reason="UnitTest", message="hello"))
    events = await kube.request(
        "GET", f"/api/v1/namespaces/{ns}/events", query={"fieldSelector": "involvedObject.name=unit"}
    )
    assert [e["reason"] for e in events["items"]] == ["UnitTest"]
    snapshot = await kube.observe(body)
    assert snapshot.observed.deployments[Color.BLUE].revision == "r2"
    assert snapshot.observed.services[ServiceRole.ACTIVE].color == Color.GREEN
    assert snapshot.observed.config_maps == frozenset({"feed01"})


async def test_foreign_child_is_refused(bot: tuple[Kube, JSON], cluster: ClusterHandle) -> None:
    kube, body = bot
    ns = body["metadata"]["namespace"]
    cluster.kubectl("-n", ns, "create", "service", "clusterip", "unit", "--tcp=80:8080")
    with pytest.raises(ForeignChild):
        await kube.apply(body, EnsureService(role=ServiceRole.ACTIVE, color=Color.BLUE))


async def test_status_write_is_guarded_by_resource_version(bot: tuple[Kube, JSON]) -> None:
    kube, body = bot
    status = parse_status(body.get("status"))
    written = await kube.write_status(body, status.model_copy(update={"epoch": 1, "phase": Phase.PENDING}))
    assert written["status"]["epoch"] == 1 and written["status"]["phase"] == "Pending"
    with pytest.raises(StaleObject):  # ``body`` is the version before that write
        await kube.write_status(body, status.model_copy(update={"epoch": 5}))
    fresh = await kube.get_tradingbot(body["metadata"]["namespace"], "unit")
    assert fresh is not None and fresh["status"]["epoch"] == 1
    # Fields the new status leaves out are removed, not merged.
    cleared = await kube.write_status(fresh, parse_status(fresh["status"]).model_copy(update={"phase": None}))
    assert "phase" not in cleared["status"]


async def test_with_the_cache_a_missed_child_leads_to_a_fresh_read_not_a_loop(
    bot: tuple[Kube, JSON], k8s_api: ApiClient
) -> None:
    """No watch feeds this cache: a Service created behind its back is missing from the primed view.
    The create meets 409, the child is read (GET) and the prime dropped, so the next observe LISTs."""
    plain, body = bot
    ns = body["metadata"]["namespace"]
    calls: list[tuple[str, str]] = []
    cache = ChildCache()
    kube = Kube(k8s_api, cache=cache, on_request=lambda verb, resource: calls.append((verb, resource)))
    await kube.observe(body)  # primes (five LISTs)
    assert cache.primed(ns, "unit")
    assert sorted(v for v, _ in calls) == ["list"] * 5
    await plain.apply(body, EnsureService(role=ServiceRole.ACTIVE, color=Color.GREEN))  # behind its back
    calls.clear()
    snapshot = await kube.observe(body)
    assert ServiceRole.ACTIVE not in snapshot.observed.services and calls == []  # stale, from memory
    listed = dict(snapshot.listed)
    await kube.apply(body, EnsureService(role=ServiceRole.ACTIVE, color=Color.BLUE), listed)
    assert calls[:2] == [("create", "services"), ("get", "services")]
    assert not cache.primed(ns, "unit")
    live = await kube.get(f"/api/v1/namespaces/{ns}/services/unit")
    assert live is not None and live["spec"]["selector"]["ploy.dev/color"] == "blue"
    calls.clear()
    snapshot = await kube.observe(body)
    assert [v for v, _ in calls] == ["list"] * 5
    assert snapshot.observed.services[ServiceRole.ACTIVE].color == Color.BLUE
    # The write's answer and the LIST agree: the prime is back, the next observe is from memory.
    calls.clear()
    await kube.observe(body)
    assert calls == []


async def test_the_namespace_prime_pages_through_every_tradingbots_children(
    bot: tuple[Kube, JSON], k8s_api: ApiClient
) -> None:
    """One observe primes the cache for every TradingBot of the namespace: each kind is LISTed once,
    page by page (``limit``/``continue`` on the real API server), and nothing of another TradingBot
    needs a LIST of its own afterwards."""
    plain, body = bot
    ns = body["metadata"]["namespace"]
    for owner in ("o1", "o2", "o3", "o4", "o5"):
        await plain.request(
            "POST",
            f"/api/v1/namespaces/{ns}/configmaps",
            body={"metadata": {"name": f"{owner}-config", "labels": {"ploy.dev/tradingbot": owner}}},
        )
    calls: list[tuple[str, str]] = []
    cache = ChildCache()
    kube = Kube(k8s_api, cache=cache, on_request=lambda verb, resource: calls.append((verb, resource)))
    kube.list_page_size = 2
    await kube.observe(body)
    assert sorted(calls) == [("list", "configmaps")] * 3 + [
        ("list", r) for r in ("deployments", "jobs", "pods", "services")
    ]
    assert cache.namespace_primed(ns)
    for owner in ("o1", "o3", "o5", "unit", "created-later"):
        assert cache.primed(ns, owner)
    assert [c["metadata"]["name"] for c in cache.children(ns, "o3").config_maps] == ["o3-config"]
    calls.clear()
    await kube.observe(body)
    assert calls == []


async def test_a_listing_event_during_the_namespace_list_leaves_it_unprimed_but_the_pass_reads_it(
    bot: tuple[Kube, JSON], k8s_api: ApiClient
) -> None:
    """kopf's (re-)listing during the namespace's LIST: later passes must LIST again, but the pass that
    sent it reads its result, as it would read its own TradingBot's LIST (no second set of LISTs)."""
    plain, body = bot
    ns = body["metadata"]["namespace"]
    await plain.apply(body, EnsureService(role=ServiceRole.ACTIVE, color=Color.BLUE))
    calls: list[tuple[str, str]] = []
    cache = ChildCache()
    relisted: list[bool] = []

    def count(verb: str, resource: str) -> None:
        calls.append((verb, resource))
        if not relisted:  # kopf re-lists another kind while the namespace's LIST is on its way
            relisted.append(True)
            cache.event("jobs", None, {"metadata": {"name": "x", "namespace": ns, "labels": {}}})

    kube = Kube(k8s_api, cache=cache, on_request=count)
    snapshot = await kube.observe(body)
    assert [v for v, _ in calls] == ["list"] * 5
    assert snapshot.observed.services[ServiceRole.ACTIVE].color == Color.BLUE
    assert not cache.namespace_primed(ns) and not cache.primed(ns, "unit")
    calls.clear()
    await kube.observe(body)
    assert [v for v, _ in calls] == ["list"] * 5, "the next pass primes the namespace again"
    assert cache.primed(ns, "unit")
