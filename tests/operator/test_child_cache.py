"""The children cache (pure): events, reads under tokens, priming, tombstones, foreign objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.operator.test_kube_children import OWNER, POD
from tradingbot_operator import children
from tradingbot_operator.child_cache import ChildCache, Children
from tradingbot_operator.model import Color

JSON = dict[str, Any]
NS = "trading"


def obj(name: str, owner: str | None = "bot", rv: str = "1", ns: str = NS, **labels: str) -> JSON:
    """A minimal wire object named ``name`` labelled for ``owner`` (None: unlabelled)."""
    all_labels = dict(labels)
    if owner is not None:
        all_labels["ploy.dev/tradingbot"] = owner
    meta: JSON = {"name": name, "namespace": ns, "resourceVersion": rv, "labels": all_labels}
    meta["managedFields"] = [{"manager": "kubectl"}]
    return {"metadata": meta}


def pod(name: str, owner: str = "bot", color: str | None = "blue", rv: str = "1") -> JSON:
    labels = {"ploy.dev/color": color} if color else {}
    return obj(name, owner, rv, **labels)


def names(found: Children) -> dict[str, list[str]]:
    """Non-empty kinds → names of their objects, with the resourceVersion (``name@rv``)."""
    return {
        kind: [f"{o['metadata']['name']}@{o['metadata']['resourceVersion']}" for o in items]
        for kind, items in found._asdict().items()
        if items
    }


def empty() -> Children:
    return Children([], [], [], [], [])


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


# --- events -------------------------------------------------------------------------------------------


# Each case: a list of (plural, type, object) events → expected children of "bot".
EVENT_CASES: dict[str, tuple[list[tuple[str, str | None, JSON]], dict[str, list[str]]]] = {
    "added then modified: the newest wins": (
        [("services", "ADDED", obj("bot", rv="1")), ("services", "MODIFIED", obj("bot", rv="2"))],
        {"services": ["bot@2"]},
    ),
    "deleted: gone": (
        [("deployments", "ADDED", obj("bot-blue")), ("deployments", "DELETED", obj("bot-blue", rv="2"))],
        {},
    ),
    "re-created after a delete": (
        [
            ("jobs", "ADDED", obj("bot-migrate-1")),
            ("jobs", "DELETED", obj("bot-migrate-1", rv="2")),
            ("jobs", "ADDED", obj("bot-migrate-1", rv="3")),
        ],
        {"jobs": ["bot-migrate-1@3"]},
    ),
    "other TradingBots' children and unlabelled objects are not bot's": (
        [
            ("services", "ADDED", obj("bot", owner="other")),
            ("services", "ADDED", obj("bot-preview", owner=None)),
            ("configmaps", "ADDED", obj("bot-config-x", ns="elsewhere")),
        ],
        {},
    ),
    "a label moved to another owner leaves the first": (
        [
            ("services", "ADDED", obj("svc", rv="1")),
            ("services", "MODIFIED", obj("svc", owner="other", rv="2")),
        ],
        {},
    ),
    "a label removed: no longer a child": (
        [("services", "ADDED", obj("svc", rv="1")), ("services", "MODIFIED", obj("svc", owner=None, rv="2"))],
        {},
    ),
    "pods without a color are not listed (the pass's selector requires it)": (
        [("pods", "ADDED", pod("bot-blue-1")), ("pods", "ADDED", pod("migrate-x", color=None))],
        {"pods": ["bot-blue-1@1"]},
    ),
    "unknown kinds are ignored": ([("secrets", "ADDED", obj("bot-db"))], {}),
    "kopf's listing events store objects too": (
        [("configmaps", None, obj("bot-config-a")), ("configmaps", None, obj("bot-config-b"))],
        {"config_maps": ["bot-config-a@1", "bot-config-b@1"]},
    ),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
def test_events(case: str) -> None:
    events, expected = EVENT_CASES[case]
    cache = ChildCache()
    for plural, type_, body in events:
        cache.event(plural, type_, body)
    assert names(cache.children(NS, "bot")) == expected


def test_managed_fields_are_not_kept_and_the_event_object_is_not_changed() -> None:
    cache = ChildCache()
    body = obj("bot")
    cache.event("services", "ADDED", body)
    assert "managedFields" not in cache.children(NS, "bot").services[0]["metadata"]
    assert "managedFields" in body["metadata"]


# --- reads under tokens -------------------------------------------------------------------------------


def test_an_event_during_a_read_wins_over_the_read() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.event("deployments", "MODIFIED", obj("bot-blue", rv="7"))
    cache.read(token, "deployments", obj("bot-blue", rv="5"))  # the patch answer, read before rv 7
    cache.finish(token)
    assert names(cache.children(NS, "bot")) == {"deployments": ["bot-blue@7"]}


def test_a_read_after_the_events_wins() -> None:
    cache = ChildCache()
    cache.event("deployments", "MODIFIED", obj("bot-blue", rv="7"))
    token = cache.begin()
    cache.read(token, "deployments", obj("bot-blue", rv="8"))
    cache.finish(token)
    assert names(cache.children(NS, "bot")) == {"deployments": ["bot-blue@8"]}


def test_a_delete_seen_is_not_undone_by_an_older_read() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("bot", rv="1"))
    token = cache.begin()
    cache.event("services", "DELETED", obj("bot", rv="2"))
    cache.read(token, "services", obj("bot", rv="1"))
    cache.finish(token)
    assert names(cache.children(NS, "bot")) == {}
    # The tombstone went with the last read that needed it; a later read applies again.
    later = cache.begin()
    cache.read(later, "services", obj("bot", rv="3"))
    cache.finish(later)
    assert names(cache.children(NS, "bot")) == {"services": ["bot@3"]}


def test_of_two_reads_the_later_begun_wins_whatever_order_they_end() -> None:
    cache = ChildCache()
    first, second = cache.begin(), cache.begin()
    cache.read(second, "services", obj("bot", rv="4"))
    cache.read(first, "services", obj("bot", rv="3"))
    cache.finish(first)
    cache.finish(second)
    assert names(cache.children(NS, "bot")) == {"services": ["bot@4"]}


def test_a_read_of_an_unnamed_answer_is_ignored() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.read(token, "jobs", {"kind": "Status", "status": "Success"})
    cache.finish(token)
    assert len(cache) == 0


# --- priming ------------------------------------------------------------------------------------------


def test_not_primed_until_seeded_then_primed() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("bot"))
    assert not cache.primed(NS, "bot")
    token = cache.begin()
    cache.seed(token, NS, "bot", Children([obj("bot-blue")], [pod("p")], [obj("bot")], [], []))
    cache.finish(token)
    assert cache.primed(NS, "bot")
    assert not cache.primed(NS, "other")
    assert names(cache.children(NS, "bot")) == {
        "deployments": ["bot-blue@1"],
        "pods": ["p@1"],
        "services": ["bot@1"],
    }


def test_seed_removes_what_the_list_no_longer_shows_but_keeps_newer_events() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("gone"))
    cache.event("services", "ADDED", obj("bot", owner="other"))
    token = cache.begin()
    cache.event("services", "ADDED", obj("new-during-list", rv="9"))
    cache.seed(token, NS, "bot", empty())
    cache.finish(token)
    assert names(cache.children(NS, "bot")) == {"services": ["new-during-list@9"]}
    assert names(cache.children(NS, "other")) == {"services": ["bot@1"]}


def test_prime_after_delete_does_not_bring_it_back() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.event("deployments", "DELETED", obj("bot-green", rv="5"))
    cache.seed(token, NS, "bot", Children([obj("bot-blue"), obj("bot-green", rv="4")], [], [], [], []))
    cache.finish(token)
    assert cache.primed(NS, "bot")
    assert names(cache.children(NS, "bot")) == {"deployments": ["bot-blue@1"]}


def test_a_listing_event_during_the_prime_leaves_it_unprimed() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.event("pods", None, pod("p"))
    cache.seed(token, NS, "bot", empty())
    cache.finish(token)
    assert not cache.primed(NS, "bot")


def test_a_listing_event_after_the_prime_drops_it() -> None:
    """kopf re-lists after a watch restart; deletions in the gap were never seen, so LIST again."""
    cache = ChildCache()
    token = cache.begin()
    cache.seed(token, NS, "bot", empty())
    cache.finish(token)
    cache.event("jobs", "ADDED", obj("x"))  # an ordinary event keeps the prime
    assert cache.primed(NS, "bot")
    cache.event("deployments", None, obj("bot-blue", owner="third"))
    assert not cache.primed(NS, "bot")


def test_a_prime_expires_after_max_age_and_unprime_drops_it() -> None:
    clock = Clock()
    cache = ChildCache(max_age_seconds=300.0, clock=clock)
    for _ in range(2):
        token = cache.begin()
        cache.seed(token, NS, "bot", empty())
        cache.finish(token)
        clock.now += 299.0
        assert cache.primed(NS, "bot")
        clock.now += 2.0
        assert not cache.primed(NS, "bot")
    token = cache.begin()
    cache.seed(token, NS, "bot", empty())
    cache.finish(token)
    cache.unprime(NS, "bot")
    assert not cache.primed(NS, "bot")
    token = cache.begin()
    cache.seed(token, NS, "bot", empty())
    cache.seed(token, NS, "other", empty())
    cache.finish(token)
    cache.unprime_all()
    assert not cache.primed(NS, "bot")
    assert not cache.primed(NS, "other")


def test_tombstones_live_only_while_an_older_read_is_open() -> None:
    cache = ChildCache()
    old = cache.begin()
    cache.event("services", "ADDED", obj("bot", rv="1"))
    cache.event("services", "DELETED", obj("bot", rv="2"))
    newer = cache.begin()
    cache.finish(newer)
    cache.read(old, "services", obj("bot", rv="1"))
    cache.finish(old)
    assert names(cache.children(NS, "bot")) == {}
    assert cache.tombstones == 0


# --- the TradingBots themselves -----------------------------------------------------------------------


def tradingbot(name: str = "bot", rv: str = "1") -> JSON:
    """A minimal TradingBot (no ``ploy.dev/tradingbot`` label: it is held by its own name)."""
    return {"metadata": {"name": name, "namespace": NS, "resourceVersion": rv, "managedFields": [{}]}}


def held(cache: ChildCache, name: str = "bot") -> str | None:
    body = cache.tradingbot(NS, name)
    return None if body is None else str(body["metadata"]["resourceVersion"])


# Each case: steps on a cache → the resourceVersion of the held TradingBot "bot" (None: GET it).
TRADINGBOT_CASES: dict[str, tuple[list[tuple[str, Any]], str | None]] = {
    "never seen": ([], None),
    "its event": ([("event", ("MODIFIED", "3"))], "3"),
    "kopf's listing event is its state too": ([("event", (None, "3"))], "3"),
    "deleted": ([("event", ("ADDED", "3")), ("event", ("DELETED", "4"))], None),
    "a status write's answer after the events": ([("event", ("ADDED", "3")), ("read", "5")], "5"),
    "a write found it stale": ([("event", ("ADDED", "3")), ("forget", None)], None),
    "older than max age": ([("event", ("ADDED", "3")), ("wait", 301.0)], None),
    "younger than max age": ([("event", ("ADDED", "3")), ("wait", 299.0)], "3"),
    "the watches were paused": ([("event", ("ADDED", "3")), ("unprime_all", None)], None),
}


@pytest.mark.parametrize("case", list(TRADINGBOT_CASES))
def test_the_held_tradingbot(case: str) -> None:
    steps, expected = TRADINGBOT_CASES[case]
    clock = Clock()
    cache = ChildCache(max_age_seconds=300.0, clock=clock)
    for step, argument in steps:
        if step == "event":
            cache.event("tradingbots", argument[0], tradingbot(rv=argument[1]))
        elif step == "read":
            token = cache.begin()
            cache.read(token, "tradingbots", tradingbot(rv=argument))
            cache.finish(token)
        elif step == "forget":
            cache.forget_tradingbot(NS, "bot")
        elif step == "wait":
            clock.now += argument
        else:
            cache.unprime_all()
    assert held(cache) == expected


def test_an_event_during_the_status_write_wins_over_its_answer() -> None:
    cache = ChildCache()
    cache.event("tradingbots", "ADDED", tradingbot(rv="3"))
    token = cache.begin()  # the status write is sent
    cache.event("tradingbots", "MODIFIED", tradingbot(rv="7"))  # someone edits the spec meanwhile
    cache.read(token, "tradingbots", tradingbot(rv="5"))  # the write's answer, older than that edit
    cache.finish(token)
    assert held(cache) == "7"


def test_a_tradingbot_is_nobodys_child_and_its_listing_keeps_the_primes() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.seed(token, NS, "bot", Children([], [], [obj("bot")], [], []))
    cache.finish(token)
    cache.event("tradingbots", None, tradingbot())  # kopf re-listed the TradingBots only
    assert cache.primed(NS, "bot")
    assert names(cache.children(NS, "bot")) == {"services": ["bot@1"]}
    assert "managedFields" not in (cache.tradingbot(NS, "bot") or {})["metadata"]


def test_an_event_older_than_the_status_writes_answer_does_not_replace_it() -> None:
    # The ADDED event of a new TradingBot can reach the operator after its first status write.
    cache = ChildCache()
    token = cache.begin()
    cache.read(token, "tradingbots", tradingbot(rv="5"))  # the status write's answer
    cache.finish(token)
    cache.event("tradingbots", "ADDED", tradingbot(rv="3"))  # the create, delivered late
    assert held(cache) == "5"
    cache.event("tradingbots", "MODIFIED", tradingbot(rv="5"))
    cache.event("tradingbots", "MODIFIED", tradingbot(rv="11"))  # a newer edit; 11 > 5 as numbers
    assert held(cache) == "11"


@pytest.mark.parametrize("version", ["", "0", "007", "12a", "abc", "٣"])
def test_a_resource_version_that_is_not_a_plain_integer_is_not_held(version: str) -> None:
    cache = ChildCache()
    cache.event("tradingbots", "ADDED", tradingbot(rv="3"))
    cache.event("tradingbots", "MODIFIED", tradingbot(rv=version))
    assert held(cache) is None  # the pass GETs it


def test_a_cached_pod_has_no_spec_and_gives_the_pass_the_same_facts() -> None:
    deployment = children.deployment(OWNER, Color.BLUE, "r1", 1, POD)
    template = deployment["spec"]["template"]
    meta = {**template["metadata"], "name": "bot-blue-x", "namespace": NS, "deletionTimestamp": None}
    meta["labels"] = {**meta["labels"], "ploy.dev/tradingbot": "bot"}
    full: JSON = {
        "metadata": meta,
        "spec": template["spec"],
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-02T03:04:05Z"}
            ],
            "containerStatuses": [
                {"restartCount": 2, "lastState": {"terminated": {"finishedAt": "2026-01-02T03:04:00Z"}}}
            ],
        },
    }
    cache = ChildCache()
    cache.event("pods", "ADDED", full)
    (cached,) = cache.children(NS, "bot").pods
    assert "spec" not in cached and "spec" in full
    assert children.pod_facts(cached) == children.pod_facts(full)
    assert children.pod_failed_at(cached) == children.pod_failed_at(full) is not None


def test_a_late_event_older_than_a_writes_answer_does_not_set_a_child_back() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("bot", rv="10"))
    token = cache.begin()
    cache.read(token, "services", obj("bot", rv="30"))  # the switch's answer
    cache.finish(token)
    cache.event("services", "MODIFIED", obj("bot", rv="20"))  # an edit before the switch, late
    assert names(cache.children(NS, "bot")) == {"services": ["bot@30"]}
    cache.event("services", "MODIFIED", obj("bot", rv="30"))
    cache.event("services", "MODIFIED", obj("bot", rv="100"))  # compared as numbers, not text
    assert names(cache.children(NS, "bot")) == {"services": ["bot@100"]}


def test_the_late_delete_of_a_child_a_create_replaced_does_not_remove_the_new_one() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("bot", rv="10"))
    token = cache.begin()
    cache.read(token, "services", obj("bot", rv="40"))  # recreated after a delete by hand
    cache.finish(token)
    cache.event("services", "DELETED", obj("bot", rv="25"))  # that delete's event, late
    assert names(cache.children(NS, "bot")) == {"services": ["bot@40"]}
    cache.event("services", "DELETED", obj("bot", rv="41"))
    assert names(cache.children(NS, "bot")) == {}


def test_children_whose_versions_are_not_comparable_follow_the_order_of_arrival() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("bot", rv="b"))
    cache.event("services", "MODIFIED", obj("bot", rv="a"))
    assert names(cache.children(NS, "bot")) == {"services": ["bot@a"]}


def test_cached_objects_share_their_field_names_and_short_strings() -> None:
    text = json.dumps(obj("a", rv="1") | {"spec": {"selector": {"ploy.dev/color": "blue"}}})
    cache = ChildCache()
    cache.event("services", "ADDED", json.loads(text))
    cache.event("services", "ADDED", json.loads(text.replace('"a"', '"b"')))
    first, second = cache.children(NS, "bot").services
    original = json.loads(text)
    del original["metadata"]["managedFields"]
    assert first == original, "the content is kept as it was decoded"
    key_a = next(k for k in first["spec"]["selector"])
    key_b = next(k for k in second["spec"]["selector"])
    assert key_a == key_b == "ploy.dev/color" and key_a is key_b, "one string for the field name"
    assert first["spec"]["selector"][key_a] is second["spec"]["selector"][key_b], "one string for 'blue'"


# --- the namespace's prime -----------------------------------------------------------------------------


def prime_namespace(cache: ChildCache, token: int, pages: dict[str, list[list[JSON]]], ns: str = NS) -> None:
    """Apply a namespace's priming LIST (pages per plural; a plural left out listed nothing) and end it."""
    listed: dict[str, set[str]] = {}
    for plural in ("deployments", "pods", "services", "configmaps", "jobs"):
        listed[plural] = set()
        for page in pages.get(plural, []):
            listed[plural] |= cache.seed_listed(token, plural, ns, page)
    cache.seed_namespace(token, ns, listed)


def test_a_namespace_prime_covers_every_tradingbot_there_one_created_later_included() -> None:
    cache = ChildCache()
    token = cache.begin()
    prime_namespace(
        cache,
        token,
        {
            "deployments": [[obj("bot-blue"), obj("other-blue", owner="other")], [obj("bot-green")]],
            "pods": [[pod("bot-blue-1")]],
        },
    )
    cache.finish(token)
    assert cache.namespace_primed(NS)
    assert cache.primed(NS, "bot") and cache.primed(NS, "other") and cache.primed(NS, "created-later")
    assert not cache.primed("elsewhere", "bot"), "a prime covers its own namespace only"
    assert names(cache.children(NS, "bot")) == {
        "deployments": ["bot-blue@1", "bot-green@1"],
        "pods": ["bot-blue-1@1"],
    }
    cache.event("services", "ADDED", obj("created-later", owner="created-later"))
    assert names(cache.children(NS, "created-later")) == {"services": ["created-later@1"]}


def test_a_namespace_prime_removes_what_its_list_no_longer_shows_but_keeps_newer_events() -> None:
    cache = ChildCache()
    cache.event("services", "ADDED", obj("gone"))
    cache.event("services", "ADDED", obj("gone-too", owner="other"))
    cache.event("services", "ADDED", obj("bot", ns="elsewhere"))
    token = cache.begin()
    cache.event("services", "ADDED", obj("new-during-list", rv="9"))
    cache.event("deployments", "DELETED", obj("bot-green", rv="5"))
    prime_namespace(cache, token, {"deployments": [[obj("bot-blue"), obj("bot-green", rv="4")]]})
    cache.finish(token)
    assert names(cache.children(NS, "bot")) == {
        "deployments": ["bot-blue@1"],
        "services": ["new-during-list@9"],
    }
    assert names(cache.children(NS, "other")) == {}
    assert names(cache.children("elsewhere", "bot")) == {"services": ["bot@1"]}


def test_a_tradingbot_found_wrong_lists_its_own_until_the_namespace_is_primed_again() -> None:
    cache = ChildCache()
    token = cache.begin()
    prime_namespace(cache, token, {})
    cache.finish(token)
    cache.unprime(NS, "bot")
    assert not cache.primed(NS, "bot") and cache.primed(NS, "other")
    assert cache.namespace_primed(NS)
    own = cache.begin()
    cache.seed(own, NS, "bot", empty())
    cache.finish(own)
    assert cache.primed(NS, "bot")
    cache.unprime(NS, "bot")
    assert not cache.primed(NS, "bot")
    token = cache.begin()
    prime_namespace(cache, token, {})
    cache.finish(token)
    assert cache.primed(NS, "bot")


def test_a_tradingbot_found_wrong_while_the_namespace_list_runs_is_not_covered_by_it() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.unprime(NS, "bot")
    prime_namespace(cache, token, {})
    cache.finish(token)
    assert not cache.primed(NS, "bot")
    assert cache.primed(NS, "other")


@pytest.mark.parametrize("during", [True, False], ids=["during the list", "after it"])
def test_a_listing_event_drops_the_namespace_prime(during: bool) -> None:
    cache = ChildCache()
    token = cache.begin()
    if during:
        cache.event("pods", None, pod("p"))
    prime_namespace(cache, token, {})
    cache.finish(token)
    cache.event("jobs", "ADDED", obj("x"))  # an ordinary event keeps the prime
    cache.event("tradingbots", None, obj("bot", owner=None, rv="3"))  # so does a TradingBot's listing
    assert cache.primed(NS, "bot") is not during
    cache.event("deployments", None, obj("bot-blue", owner="third"))
    assert not cache.primed(NS, "bot")
    assert not cache.namespace_primed(NS)


def test_a_namespace_prime_expires_after_max_age_and_unprime_all_drops_it() -> None:
    clock = Clock()
    cache = ChildCache(max_age_seconds=300.0, clock=clock)
    token = cache.begin()
    prime_namespace(cache, token, {})
    cache.finish(token)
    clock.now += 299.0
    assert cache.primed(NS, "bot")
    clock.now += 2.0
    assert not cache.primed(NS, "bot")
    assert not cache.namespace_primed(NS)
    token = cache.begin()
    prime_namespace(cache, token, {})
    cache.finish(token)
    cache.unprime_all()
    assert not cache.primed(NS, "bot")
    assert not cache.namespace_primed(NS)


def test_a_page_of_a_finished_read_and_an_unnamed_item_are_not_applied() -> None:
    cache = ChildCache()
    token = cache.begin()
    assert cache.seed_listed(token, "services", NS, [{"metadata": {}}, obj("bot")]) == {"bot"}
    cache.event("deployments", "DELETED", obj("bot-blue", rv="5"))
    cache.finish(token)  # the LIST failed; its other kinds' pages must not land after this
    assert cache.seed_listed(token, "deployments", NS, [obj("bot-blue", rv="4")]) == set()
    assert names(cache.children(NS, "bot")) == {"services": ["bot@1"]}


def test_a_namespace_list_sent_before_the_watches_paused_does_not_prime_after_it() -> None:
    cache = ChildCache()
    token = cache.begin()
    cache.unprime_all()  # peering paused the watches (and resumed them) while the LIST ran
    prime_namespace(cache, token, {})
    cache.finish(token)
    assert not cache.namespace_primed(NS)
    assert not cache.primed(NS, "bot")


def test_a_deleted_tradingbot_leaves_nothing_behind_and_its_name_is_covered_again() -> None:
    cache = ChildCache()
    token = cache.begin()
    prime_namespace(cache, token, {})
    cache.finish(token)
    cache.unprime(NS, "bot")
    assert not cache.primed(NS, "bot")
    cache.forget_owner(NS, "bot")  # deleted: a TradingBot created again under its name starts clean
    assert cache.primed(NS, "bot")
