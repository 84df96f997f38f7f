"""The metric analysis gate on the real stack: a version whose probes pass but whose market data goes
stale is rolled back by analysis, before and after promotion.

Both charts are installed on the real node; the operator pod queries the real Prometheus (prometheus-
operator's configuration from the charts' ServiceMonitors, scraping the bot pods every 2 s) on the
bridge address (``analysis.prometheusUrl``). The gate is one query, the new color's market data age
(``ploy_market_data_age_seconds``, labelled by the bot's ServiceMonitor with ``namespace``,
``tradingbot``, ``color`` and ``pod``), which must stay <= 5 s: stricter than readiness, which fails only
past ``maxDataAgeSeconds`` (30 s), so a pod whose data goes stale stays Ready and only the metric gate
can catch it. The new versions read the market channel from local servers the test controls
(tests/support/ws_market.py); a "hushed" server sends the recording and then nothing at all (no
repeated snapshot, no ``PONG``), so the bot's data age grows while the connection stays open.

One release goes through, in order:

1. blue (the replayed demo market, trading) is rolled out without analysis;
2. before promotion: the next version reads a hushed server (stale from its first snapshot). It
   becomes Ready, its bake measures the data age growing past 5 s: ``AnalysisFailed``, never promoted
   (epoch 1, the Service on blue, blue keeps placing orders), the sick pod Ready throughout;
3. after promotion: a third version reads a live server and passes its bake (fresh data), is promoted
   (epoch 2); then the server is hushed inside the post-promotion window: rolled back by analysis
   (epoch 3, the Service on blue again), the sick pod Ready throughout.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from ploy_localcluster.prometheus import LocalPrometheus
from tests.support.mainjob import TOKENS
from tests.support.noderelease import BOT, Release, installed_release
from tests.support.postgres import PostgresServer
from tests.support.prometheus import wait_scraped
from tests.support.realnode import E2ECluster, wait_for
from tests.support.ws_market import RecordingServer, recording_server
from tradingbot.market.replay import embedded_recording, load_recording

pytestmark = [pytest.mark.node, pytest.mark.prometheus]

THRESHOLD = 5.0
# The revision label keeps a previous rollout's pod of the same color out: its last sample stays in
# Prometheus for a while after the pod is gone (CI measured a fresh green at 8.1 s from the stale one).
QUERY = (
    'max(ploy_market_data_age_seconds{namespace="{{namespace}}",tradingbot="{{name}}",'
    'color="{{color}}",revision="{{revision}}"})'
)
ANALYSIS = [
    {
        "name": "market-data-age",
        "query": QUERY,
        "successCondition": {"op": "<=", "value": f"{THRESHOLD:g}"},
        "intervalSeconds": 2,
        "failureLimit": 0,
        "onInconclusive": "Wait",
    }
]
SCRAPE = {"metrics.serviceMonitor.interval": '"2s"', "metrics.serviceMonitor.scrapeTimeout": '"2s"'}
GATE = {
    "rollout.analysis": json.dumps(ANALYSIS),
    # The bake outlasts the 5 s threshold plus a scrape and a measurement interval (about 9 s) with room
    # for a loaded machine: a stale version must fail in its bake, not in the window.
    "rollout.bakeSeconds": "20",
    "rollout.postPromotionSeconds": "60",
}
TRADING = {"trading.strategy.maxOrderSize": "5", "trading.risk.maxExposureUsd": "100000"}
REPLAY = {**TRADING, "feed.type": "replay", "feed.recording": "demo_market_derived.json"}
MEASURED = re.compile(r"measured ([0-9.e+-]+), not <= 5")


def live(url: str) -> dict[str, str]:
    """Chart values of a version reading the market channel at ``url``."""
    return {**TRADING, "feed.type": "polymarket-ws", "feed.url": url, "feed.recording": ""}


def test_stale_market_data_rolled_back_by_analysis_before_and_after_promotion(
    node_cluster: E2ECluster, pod_postgres: PostgresServer, node_prometheus: LocalPrometheus
) -> None:
    operator_values = {"analysis.prometheusUrl": node_prometheus.url_on(node_cluster.host_ip)}
    recording = load_recording(embedded_recording("ws_market_burst.json"))
    host = node_cluster.host_ip
    with (
        recording_server(recording, host, hushed=True) as stale,
        recording_server(recording, host) as fresh,
        installed_release(node_cluster, pod_postgres, operator_values, SCRAPE) as release,
    ):
        phases: dict[str, float] = {}
        try:
            t0 = time.monotonic()
            _first(release, node_prometheus)
            phases["first"] = round(time.monotonic() - t0, 1)
            t0 = time.monotonic()
            _before_promotion(release, stale)
            phases["before promotion"] = round(time.monotonic() - t0, 1)
            t0 = time.monotonic()
            _after_promotion(release, fresh)
            phases["after promotion"] = round(time.monotonic() - t0, 1)
        except AssertionError:
            print(release.diagnostics())
            raise
        finally:
            print(f"phase durations (s): {phases}")
        subscription = {"assets_ids": TOKENS, "type": "market"}
        for server in (stale, fresh):
            assert server.subscriptions and server.subscriptions[0] == subscription


def _first(release: Release, prom: LocalPrometheus) -> None:
    release.install_bot(release.tag, REPLAY)
    wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("activeColor") == "blue" and s,
        "blue rolled out and Healthy under epoch 1", 180,
    )  # fmt: skip
    wait_scraped(prom, f"serviceMonitor/{release.bot_ns}/{BOT}/0")
    # The labels the ServiceMonitor's scrape gives the series are the ones the query is written against.
    series = wait_for(
        lambda: prom.query(f'ploy_market_data_age_seconds{{namespace="{release.bot_ns}"}}'),
        "blue's market data age scraped", 60,
    )  # fmt: skip
    labels = series[0]["metric"]
    assert (labels["namespace"], labels["tradingbot"], labels["color"]) == (release.bot_ns, BOT, "blue")
    assert labels["pod"].startswith(f"{BOT}-blue"), labels


def _orders_of(release: Release, pod: str) -> int:
    """Orders in the ledger under the fence tokens ``pod`` held."""
    return int(
        release.sql(
            "SELECT count(*) FROM orders o JOIN fence_holders h ON h.token = o.token "
            "WHERE h.holder LIKE :'pod' || '/%'",
            pod=pod,
        )[0][0]
    )


class ReadyWatch:
    """Polls the new color's pod: its name, and whether it was ever seen not Ready after its first Ready
    (a kubelet probe failure would show as such, or as an ``Unhealthy`` Event, see :meth:`check`)."""

    def __init__(self, release: Release, color: str) -> None:
        self.release, self.color = release, color
        self.pod: str | None = None
        self.ready_since = ""  # RFC 3339 UTC, as the API server writes it (compares as text)
        self.not_ready: list[str] = []
        self.restarts = 0  # the highest container restartCount seen on that pod (it is gone by the check)

    def poll(self) -> None:
        pods = [p for p in self.release.color_pods(self.color) if not p["metadata"].get("deletionTimestamp")]
        for pod in pods:
            conditions = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}
            ready = conditions.get("Ready", {}).get("status") == "True"
            if ready and self.pod is None:
                self.pod = pod["metadata"]["name"]
                self.ready_since = conditions["Ready"]["lastTransitionTime"]
            elif pod["metadata"]["name"] == self.pod and not ready:
                self.not_ready.append(time.strftime("%H:%M:%S"))
            if pod["metadata"]["name"] == self.pod:
                counts = [
                    c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", [])
                ]
                self.restarts = max([self.restarts, *counts])

    def check(self) -> None:
        """Assert the pod was Ready at every poll since its first Ready, never restarted, and had no
        readiness or liveness probe failure (``Unhealthy`` Event) in a later second.

        Restarts are read while polling: a rolled-back pod is deleted by the time of the check.
        Refused probes while it starts are expected. Both timestamps have whole-second resolution and
        kubelet probes a not-yet-ready container again on each status sync, besides its period, so a
        startup failure can share the second of the Ready transition: only later seconds count."""
        assert self.pod is not None, f"no Ready {self.color} pod seen"
        assert not self.not_ready, f"{self.pod} seen not Ready at {self.not_ready}"
        assert not self.restarts, f"{self.pod} restarted: restartCount {self.restarts}"
        events = json.loads(
            self.release.kubectl(
                "-n", self.release.bot_ns, "get", "events", "-o", "json",
                f"--field-selector=involvedObject.name={self.pod},reason=Unhealthy",
            ).stdout
        )["items"]  # fmt: skip
        late = [e for e in events if (e.get("lastTimestamp") or e.get("eventTime") or "") > self.ready_since]
        assert not late, [(e["message"], e.get("lastTimestamp"), self.ready_since) for e in late]


def _wait_watching(watch: ReadyWatch, predicate: Any, what: str, timeout: float) -> Any:
    def step() -> Any:
        watch.poll()
        return predicate()

    return wait_for(step, what, timeout, interval=1.0)


def _measured(text: str) -> float:
    match = MEASURED.search(text)
    assert match, f"no measured value in {text!r}"
    return float(match.group(1))


def _events(release: Release, reason: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        release.kubectl(
            "-n", release.bot_ns, "get", "events", "-o", "json", f"--field-selector=reason={reason}"
        ).stdout
    )["items"]  # fmt: skip
    return items


def _before_promotion(release: Release, stale: RecordingServer) -> None:
    blue_pod = wait_for(lambda: release.ready_pod("blue"), "a Ready blue pod", 30)["metadata"]["name"]
    watch = ReadyWatch(release, "green")
    release.bot_values.update(GATE)
    release.install_bot(f"{release.tag}", live(stale.url))
    t0 = time.monotonic()
    _wait_watching(watch, lambda: watch.pod, "the stale version's green pod Ready", 120)
    ready_at = time.monotonic()
    status = _wait_watching(
        watch,
        lambda: (s := release.status()).get("lastRollout", {}).get("reason") == "AnalysisFailed" and s,
        "AnalysisFailed during the bake", 90,
    )  # fmt: skip
    failed_at = time.monotonic()
    watch.check()
    assert status["activeColor"] == "blue" and status["epoch"] == 1, "never promoted"
    last = status["lastRollout"]
    assert last["result"] == "RolledBack" and "after promotion" not in last["message"], last
    value = _measured(last["message"])
    assert value > THRESHOLD
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "AnalysisFailed" and _measured(degraded["message"]) == value
    events = [e for e in _events(release, "AnalysisFailed") if MEASURED.search(e["message"])]
    assert events and events[-1]["type"] == "Warning", events
    measurement = status["analysis"]["measurements"][0]
    assert (status["analysis"]["color"], measurement["result"]) == ("green", "Failed"), status["analysis"]
    assert release.selector_color() == "blue"
    wait_for(lambda: not release.color_pods("green"), "the stale green pod scaled to 0", 90)
    # Blue keeps trading: new orders under its token after the failed rollout.
    before = _orders_of(release, blue_pod)
    wait_for(lambda: _orders_of(release, blue_pod) > before, "blue placing orders after the failure", 60)
    assert release.status()["activeColor"] == "blue"
    print(
        f"before promotion: green {watch.pod} Ready {ready_at - t0:.1f}s after the upgrade, "
        f"AnalysisFailed {failed_at - ready_at:.1f}s after Ready (bake 20 s), measured {value:g} s "
        f"after {measurement['count']} measurements: {last['message']!r}"
    )


def _after_promotion(release: Release, fresh: RecordingServer) -> None:
    watch = ReadyWatch(release, "green")
    release.install_bot(f"{release.tag}", live(fresh.url))
    t0 = time.monotonic()
    promoted = _wait_watching(
        watch,
        lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") == "green" and s,
        "the fresh version promoted (epoch 2) after passing its bake", 150,
    )  # fmt: skip
    promoted_at = time.monotonic()
    baked = promoted["analysis"]["measurements"][0]
    assert baked["result"] == "Successful" and float(baked["value"]) <= THRESHOLD, baked
    assert promoted["phase"] == "Verifying", promoted
    wait_for(lambda: release.selector_color() == "green", "the Service on green", 30)
    fresh.hush()  # the promoted version's market data goes stale inside its window
    hushed_at = time.monotonic()
    status = _wait_watching(
        watch, lambda: (s := release.status()).get("epoch") == 3 and s, "rolled back by analysis", 60
    )
    rolled_back_at = time.monotonic()
    watch.check()
    assert status["activeColor"] == "blue"
    last = status["lastRollout"]
    assert (last["result"], last["reason"]) == ("RolledBack", "AnalysisFailed"), last
    assert "after promotion" in last["message"], last
    value = _measured(last["message"])
    assert value > THRESHOLD
    events = [e for e in _events(release, "RolledBack") if "after promotion" in e["message"]]
    assert events and _measured(events[-1]["message"]) == value, events
    wait_for(lambda: release.selector_color() == "blue", "the Service back on blue", 30)
    print(
        f"after promotion: green {watch.pod} promoted {promoted_at - t0:.1f}s after the upgrade "
        f"(bake measured {baked['value']} s, {baked['count']} measurements); rolled back "
        f"{rolled_back_at - hushed_at:.1f}s after the feed went quiet, measured {value:g} s: "
        f"{last['message']!r}"
    )
