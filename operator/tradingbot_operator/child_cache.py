"""The operator's in-memory view of every TradingBot's children, fed by watch events (an informer cache).

A reconcile pass used to LIST five kinds (Deployments, Pods, Services, ConfigMaps, Jobs labelled
``ploy.dev/tradingbot=<name>``) on every pass; with this cache it reads them from memory once the
cache is *primed* for that TradingBot, as client-go's informers do. Pure: no I/O, no clock but the
injected one.

Where the objects come from, and the rules that keep them right:

* **Watch events** (:meth:`ChildCache.event`, from the kopf handlers): ``ADDED``/``MODIFIED`` store
  the object, ``DELETED`` removes it and leaves a *tombstone*. The events of one resource arrive in
  order on one watch stream (kopf may coalesce several events of one object into its latest), so the
  newest event applied for an object is its newest known state. An object without the
  ``ploy.dev/tradingbot`` label is not a child and is dropped (the watches carry that label as a
  server-side selector, so an object losing the label arrives as ``DELETED``).
* **Reads** (a priming LIST, the answer to a create or patch, a GET after a 409): each read takes a
  token from :meth:`ChildCache.begin` *before* its request is sent. Its result is applied to an object
  only when no event (nor a later read) touched that object after the token: an event processed after
  the read began may be newer than the read's result, and a delete seen must not be undone by an older
  read (the tombstone carries when it was seen). So the cached object is never older than the newest
  event applied for it, and any change newer than the cached state still has its event to come: the
  cache lags the API server only by events not yet delivered, which is what a LIST also does. On top
  of that order, an object held is never replaced by an older ``resourceVersion`` of it (integers, a
  larger one newer: KEP-5504, see :mod:`tradingbot_operator.cached_object`): kopf delivered events
  up to 13 s after the answers of the operator's own writes under load, and such a late event would
  set the cache back to before the write (the next pass then redid it, and for a TradingBot saw its
  epoch go back).
* **Priming**: kopf has no "initial listing done" signal for handlers, so the cache does not know by
  itself when it holds everything of a TradingBot. A pass over a TradingBot whose namespace is not
  primed LISTs the children of *every* TradingBot of that namespace (five LISTs, paginated) and
  :meth:`ChildCache.seed_namespace`\\ s the result: from then on :meth:`ChildCache.primed` is True
  for every TradingBot there, one created later included (its children arrive as events), and passes
  read :meth:`ChildCache.children`. At 1,000 TradingBots that is five LISTs where one prime per
  TradingBot took 5,000, each a scan of the namespace's objects by the API server. A TradingBot whose
  own view was found wrong (:meth:`ChildCache.unprime`) is not covered by the namespace's prime any
  more: its next pass LISTs its own children by label and :meth:`ChildCache.seed`\\ s them (the
  same, for one owner). Either way, cached objects the LIST no longer shows are removed, by the same
  token rule. A prime is dropped (the next pass LISTs again) when:
  an event of kopf's own listing arrives (type ``None``: at startup, and after every watch
  restart, e.g. ``410 Gone``, when deletions during the gap were never reported as ``DELETED``);
  it is older than ``max_age_seconds`` (the resync interval: bounds any remaining blind spot, e.g. a
  re-listing of a kind that has no objects left emits no event at all); or the pass's own writes
  found the cache wrong (:meth:`ChildCache.unprime`, on a 409 or 404); or the watches were paused
  (kopf peering: another replica was in charge, :meth:`ChildCache.unprime_all`).

Tombstones live while a read that started before them is still open (:meth:`ChildCache.finish`).

The cache also holds the **TradingBots themselves** (:meth:`ChildCache.tradingbot`): their watch
events, the pass's GET and the answer of its own status write, under the same rules, and only while
their ``resourceVersion`` is comparable (else every pass GETs: an older event replacing the status
write's answer would show the pass its epoch going back). A pass starts from the held TradingBot
instead of a GET. That is safe because nothing is decided on it alone: the status write carries the
body's ``resourceVersion`` (a stale body gets a 409 and the retry GETs, see
:meth:`ChildCache.forget_tradingbot`), the switch of the active Service follows that write in the
same pass, and a status older than an epoch this process wrote is refused
(:mod:`tradingbot_operator.epochs`). A held TradingBot is trusted for ``max_age_seconds`` like a
prime (a TradingBot deleted while a watch was down has no event), and dropped with every prime
when the watches were paused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tradingbot_operator.cached_object import comparable_version, slim
from tradingbot_operator.children import JSON
from tradingbot_operator.names import LABEL_COLOR, LABEL_TRADINGBOT

PLURALS = ("deployments", "pods", "services", "configmaps", "jobs")
"""The watched child resources, in :class:`Children`'s order."""

TRADINGBOTS = "tradingbots"
"""The TradingBots' own plural: held by their name, not as anyone's children."""

Key = tuple[str, str, str]
"""(plural, namespace, name) of a child."""


class Children(NamedTuple):
    """A TradingBot's children by kind, as :func:`tradingbot_operator.snapshot.build_snapshot` takes
    them (pods: only those carrying the color label, as the pass's LIST selects them; from the cache
    without ``spec``, see :func:`~tradingbot_operator.cached_object.slim`)."""

    deployments: list[JSON]
    pods: list[JSON]
    services: list[JSON]
    config_maps: list[JSON]
    jobs: list[JSON]


@dataclass
class _Entry:
    seq: int
    obj: JSON
    owner: str
    at: float = 0.0


@dataclass
class _Prime:
    token: int
    at: float


@dataclass
class ChildCache:
    """Children of all TradingBots by (plural, namespace, name); see the module docstring for the rules.

    ``max_age_seconds``: how long a prime is trusted (seconds of ``clock``, a monotonic clock).
    """

    max_age_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _seq: int = 0
    _entries: dict[Key, _Entry] = field(default_factory=dict)
    _by_owner: dict[tuple[str, str], set[Key]] = field(default_factory=dict)
    _primes: dict[tuple[str, str], _Prime] = field(default_factory=dict)
    _tombs: dict[Key, int] = field(default_factory=dict)
    _open: dict[int, int] = field(default_factory=dict)
    _listing_seq: int = 0
    _namespace_primes: dict[str, _Prime] = field(default_factory=dict)
    # When a TradingBot's own prime was dropped: a namespace prime begun before that does not cover it.
    _unprimed: dict[tuple[str, str], int] = field(default_factory=dict)

    # --- reads ---------------------------------------------------------------------------------------

    def begin(self) -> int:
        """A token for a read about to be sent (LIST, GET, create, patch); pass it to :meth:`seed` or
        :meth:`read` with the result, and to :meth:`finish` in any case."""
        self._seq += 1
        self._open[self._seq] = self._open.get(self._seq, 0) + 1
        return self._seq

    def finish(self, token: int) -> None:
        """The read ``token`` is over (applied or failed): drop tombstones no open read needs."""
        left = self._open.get(token, 0) - 1
        if left > 0:
            self._open[token] = left
        else:
            self._open.pop(token, None)
        oldest = min(self._open, default=self._seq + 1)
        for key in [k for k, seq in self._tombs.items() if seq < oldest]:
            del self._tombs[key]

    def read(self, token: int, plural: str, obj: Mapping[str, Any]) -> None:
        """Apply one object read (a create/patch answer, a GET) under ``token``, unless newer news of it
        arrived meanwhile. Anything but a named object of a watched kind is ignored."""
        meta = obj.get("metadata")
        if (plural not in PLURALS and plural != TRADINGBOTS) or not isinstance(meta, Mapping):
            return
        if "name" in meta and "namespace" in meta:
            self._apply_read(token, (plural, meta["namespace"], meta["name"]), obj)

    def seed(self, token: int, namespace: str, owner: str, listed: Children) -> None:
        """Apply the priming LIST of ``owner``'s children (begun under ``token``) and mark it primed.

        Objects of ``owner`` cached but absent from the list are removed (under the same rule); the
        prime holds only if no kopf listing event arrived since ``token``.
        """
        for plural, items in zip(PLURALS, listed, strict=True):
            names = set()
            for item in items:
                names.add(item["metadata"]["name"])
                self._apply_read(token, (plural, namespace, item["metadata"]["name"]), item)
            for key in [k for k in self._by_owner.get((namespace, owner), ()) if k[0] == plural]:
                if key[2] not in names and self._touched(key) < token:
                    self._store(key, None, token)
        if self._listing_seq < token:
            self._primes[(namespace, owner)] = _Prime(token, self.clock())

    def seed_listed(self, token: int, plural: str, namespace: str, items: list[JSON]) -> set[str]:
        """Apply one page of ``namespace``'s priming LIST of ``plural`` (begun under ``token``, see
        :meth:`seed_namespace`); returns the names it holds. Pages are applied as they come, so the
        namespace's full objects are never all in memory at once. Items without a name are skipped, and
        a page of a read already :meth:`finish`\\ ed is not applied (its tombstones may be gone)."""
        found: set[str] = set()
        if token not in self._open:
            return found
        for item in items:
            name = (item.get("metadata") or {}).get("name")
            if isinstance(name, str):
                found.add(name)
                self._apply_read(token, (plural, namespace, name), item)
        return found

    def seed_namespace(self, token: int, namespace: str, listed: Mapping[str, set[str]]) -> None:
        """Finish the priming LIST of every child of ``namespace`` (begun under ``token``; its pages
        applied by :meth:`seed_listed`): ``listed`` holds the names seen per plural, every one of
        :data:`PLURALS`. Cached children of ``namespace`` it does not show are removed (under the token
        rule), and the namespace is primed unless a kopf listing event arrived since ``token``."""
        for owner_key in [k for k in self._by_owner if k[0] == namespace]:
            for key in list(self._by_owner.get(owner_key, ())):
                if key[2] not in listed[key[0]] and self._touched(key) < token:
                    self._store(key, None, token)
        if self._listing_seq < token:
            self._namespace_primes[namespace] = _Prime(token, self.clock())
            for found in [k for k, seq in self._unprimed.items() if k[0] == namespace and seq < token]:
                del self._unprimed[found]

    def namespace_primed(self, namespace: str) -> bool:
        """True when every TradingBot of ``namespace`` not :meth:`unprime`\\ d since is primed."""
        prime = self._namespace_primes.get(namespace)
        if prime is None:
            return False
        if not self._fresh(prime):
            del self._namespace_primes[namespace]
            return False
        return True

    def primed(self, namespace: str, owner: str) -> bool:
        """True when :meth:`children` of ``namespace/owner`` can stand for a LIST."""
        prime = self._primes.get((namespace, owner))
        if prime is not None and not self._fresh(prime):
            del self._primes[(namespace, owner)]
            prime = None
        if prime is not None:
            return True
        if not self.namespace_primed(namespace):
            return False
        return self._unprimed.get((namespace, owner), 0) < self._namespace_primes[namespace].token

    def unprime(self, namespace: str, owner: str) -> None:
        """Make the next pass over ``namespace/owner`` LIST (the cache was found wrong)."""
        self._primes.pop((namespace, owner), None)
        self._seq += 1  # also past a namespace LIST in flight: it began before the cache was found wrong
        self._unprimed[(namespace, owner)] = self._seq

    def forget_owner(self, namespace: str, owner: str) -> None:
        """The TradingBot ``namespace/owner`` is gone: drop its own prime and what :meth:`unprime`
        remembered of it (its children, if any are left, still come and go with their events)."""
        self._primes.pop((namespace, owner), None)
        self._unprimed.pop((namespace, owner), None)

    def unprime_all(self) -> None:
        """Make the next pass over every TradingBot LIST its children and GET the TradingBot (the
        watches were paused: events were missed)."""
        self._primes.clear()
        self._namespace_primes.clear()
        self._unprimed.clear()
        self._listing_seq = self._seq  # a LIST sent before the pause must not prime after it
        for key in [k for k in self._entries if k[0] == TRADINGBOTS]:
            del self._entries[key]

    def tradingbot(self, namespace: str, name: str) -> JSON | None:
        """The newest TradingBot ``namespace/name`` this process knows (a watch event, a GET, the
        answer of a status write), or None when none is held or it is older than
        ``max_age_seconds``: then ask the API server. A deleted TradingBot is not held."""
        entry = self._entries.get((TRADINGBOTS, namespace, name))
        if entry is None:
            return None
        if self.clock() - entry.at > self.max_age_seconds:
            del self._entries[(TRADINGBOTS, namespace, name)]
            return None
        return entry.obj

    def forget_tradingbot(self, namespace: str, name: str) -> None:
        """Drop the held TradingBot ``namespace/name`` (a write found it stale): the next pass GETs it."""
        self._entries.pop((TRADINGBOTS, namespace, name), None)

    def children(self, namespace: str, owner: str) -> Children:
        """The cached children of the TradingBot ``namespace/owner`` (each list sorted by name)."""
        found: dict[str, list[JSON]] = {p: [] for p in PLURALS}
        for key in sorted(self._by_owner.get((namespace, owner), ())):
            obj = self._entries[key].obj
            if key[0] == "pods" and LABEL_COLOR not in (obj["metadata"].get("labels") or {}):
                continue
            found[key[0]].append(obj)
        return Children(*(found[p] for p in PLURALS))

    # --- events --------------------------------------------------------------------------------------

    def event(self, plural: str, type_: str | None, obj: Mapping[str, Any]) -> None:
        """Apply one watch event: ``type_`` ``ADDED``, ``MODIFIED``, ``DELETED``, or None for an object
        of kopf's (re-)listing, which also drops every prime (see the module docstring)."""
        meta = obj.get("metadata")
        if (plural not in PLURALS and plural != TRADINGBOTS) or not isinstance(meta, Mapping):
            return
        if "namespace" not in meta:
            return
        self._seq += 1
        if type_ is None and plural != TRADINGBOTS:  # a TradingBot's listing event is its state
            self._listing_seq = self._seq
        key = (plural, meta["namespace"], meta["name"])
        if self._older_than_held(key, obj):
            return
        self._store(key, None if type_ == "DELETED" else obj, self._seq)

    @property
    def tombstones(self) -> int:
        """Deletes remembered for reads still in flight."""
        return len(self._tombs)

    def __len__(self) -> int:
        """Objects held."""
        return len(self._entries)

    # --- internals -----------------------------------------------------------------------------------

    def _fresh(self, prime: _Prime) -> bool:
        return prime.token >= self._listing_seq and self.clock() - prime.at <= self.max_age_seconds

    def _touched(self, key: Key) -> int:
        """When ``key`` was last changed by an event or a read (0: never, or long ago)."""
        entry = self._entries.get(key)
        return max(entry.seq if entry is not None else 0, self._tombs.get(key, 0))

    def _apply_read(self, token: int, key: Key, obj: Mapping[str, Any]) -> None:
        if self._touched(key) < token and not self._older_than_held(key, obj):
            self._store(key, obj, token)

    def _older_than_held(self, key: Key, obj: Mapping[str, Any]) -> bool:
        """True when ``obj`` is an older version of the object held for ``key`` (both comparable,
        see :mod:`tradingbot_operator.cached_object`): an event that was on its way while this
        process's own write answered, or a DELETED event of the object a create then replaced."""
        held = self._entries.get(key)
        if held is None:
            return False
        new, old = comparable_version(obj), comparable_version(held.obj)
        return new is not None and old is not None and new < old

    def _store(self, key: Key, obj: Mapping[str, Any] | None, seq: int) -> None:
        if key[0] == TRADINGBOTS:
            self._store_tradingbot(key, obj, seq)
            return
        labels = ((obj.get("metadata") or {}).get("labels") or {}) if obj is not None else {}
        owner = labels.get(LABEL_TRADINGBOT)
        old = self._entries.pop(key, None)
        if old is not None:
            members = self._by_owner.get((key[1], old.owner))
            if members is not None:
                members.discard(key)
                if not members:
                    del self._by_owner[(key[1], old.owner)]
        if obj is None or not owner:
            # Deleted, or not (no longer) a child. The tombstone matters only to reads in flight.
            if self._open:
                self._tombs[key] = seq
            return
        self._tombs.pop(key, None)
        self._entries[key] = _Entry(seq, slim(obj, key[0]), str(owner))
        self._by_owner.setdefault((key[1], str(owner)), set()).add(key)

    def _store_tradingbot(self, key: Key, obj: Mapping[str, Any] | None, seq: int) -> None:
        # A watch event may still be on its way when the answer of this process's own status write
        # arrives: order alone would let that older event replace the answer, and the pass would see
        # its own epoch go back. So a held TradingBot only moves to a newer resourceVersion.
        held = self._entries.get(key)
        if obj is None:
            self._entries.pop(key, None)
            if self._open:
                self._tombs[key] = seq
            return
        version = comparable_version(obj)
        if version is None:
            self._entries.pop(key, None)  # not comparable: hold nothing, every pass GETs
            return
        if held is not None and (comparable_version(held.obj) or 0) >= version:
            return
        self._tombs.pop(key, None)
        self._entries[key] = _Entry(seq, slim(obj), key[2], self.clock())
