"""The charts' alerts fired by real faults of real pods, observed through a real Prometheus.

Both charts are installed on the real node; prometheus-operator turns their ServiceMonitors and
PrometheusRule into the configuration of a local Prometheus (tests/support/prometheus.py), which scrapes
the bot pods and the operator pod on the node's bridge. Test values shorten the alerts' waits
(``alerts.botDownMinutes`` 0.25 = 15 s, 2 s scrapes). One release goes through, in order:

1. a promotion (epoch 1 -> 2): at no scrape do two pods report ``ploy_role_active == 1``, and
   ``ploy_daily_pnl_usd`` exists only for the active pod (the standby has no series);
2. an automatic rollback (the promoted pod loses its database): ``PloyRolloutRolledBack``;
3. a stale pod fenced: the TradingBot's ``status.epoch`` is set back by one (a stale or tampered role;
   the failed color is already scaled to 0), the active pod tries to take the fence under that epoch
   and PostgreSQL refuses: ``PloyFencedWrites`` for that pod;
4. the active pod gone (``replicas: 0``): ``PloyTradingBotDown``.

A second release shows ``PloyFencedWrites`` on a stale pod (the bot pods on the real node place no
orders, the replayed market never offers an edge, so the refused write is the fence's refusal of a
stale acquisition): the first color is promoted while it cannot reach PostgreSQL, so it keeps retrying
to take the fence under epoch 1; it is cut off from the API server too, so it never learns that the
next version was promoted under epoch 2. When PostgreSQL is back, its acquisition under epoch 1 is
refused by the fence: ``PloyFencedWrites`` for that pod.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ploy_localcluster.prometheus import LocalPrometheus
from tests.support.noderelease import BOT, Release, installed_release
from tests.support.postgres import PostgresServer
from tests.support.prometheus import alerts_named, overlapping_runs, wait_scraped
from tests.support.realnode import NODE_IP, E2ECluster, wait_for

pytestmark = [pytest.mark.node, pytest.mark.prometheus]
SCRAPE = {"metrics.serviceMonitor.interval": "2s", "metrics.serviceMonitor.scrapeTimeout": "2s"}
OPERATOR_VALUES = {"metrics.serviceMonitor.enabled": "true", **SCRAPE}
BOT_VALUES = {"alerts.botDownMinutes": "0.25", **{k: f'"{v}"' for k, v in SCRAPE.items()}}  # JSON values


def test_alerts_on_real_faults(
    node_cluster: E2ECluster, pod_postgres: PostgresServer, node_prometheus: LocalPrometheus
) -> None:
    # One operator release at a time: the chart's cluster-scoped objects are named after the release.
    with installed_release(node_cluster, pod_postgres, OPERATOR_VALUES, BOT_VALUES) as release:
        phases: dict[str, float] = {}
        try:
            for name, phase in (
                ("promotion", _promotion),
                ("rollback", _rollback),
                ("down", _active_pod_gone),
            ):
                t0 = time.monotonic()
                phase(release, node_prometheus, pod_postgres)
                phases[name] = round(time.monotonic() - t0, 1)
        except AssertionError:
            print(release.diagnostics())
            print(json.dumps(node_prometheus.alerts(), indent=1))
            raise
        finally:
            print(f"phase durations (s): {phases}")


def _sel(release: Release) -> str:
    return f'namespace="{release.bot_ns}", tradingbot="{BOT}"'


def _series(prom: LocalPrometheus, promql: str) -> list[dict[str, Any]]:
    return prom.query(promql)


def _active_color(prom: LocalPrometheus, release: Release) -> Callable[[], str | None]:
    """The color of the one pod Prometheus last saw report ``ploy_role_active == 1`` (None: 0 or 2+)."""

    def read() -> str | None:
        active = _series(prom, f"ploy_role_active{{{_sel(release)}}} == 1")
        pods = {s["metric"]["pod"]: s["metric"]["color"] for s in active}
        return next(iter(pods.values())) if len(pods) == 1 else None

    return read


def _promotion(release: Release, prom: LocalPrometheus, _pg: PostgresServer) -> None:
    release.install_bot(release.tag)
    first = wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("epoch") == 1 and s,
        "first rollout Healthy under epoch 1", 180,
    )  # fmt: skip
    blue = first["activeColor"]
    # The ServiceMonitors select the targets: the bot's (both colors' Services) and the operator's.
    bot_targets = wait_scraped(prom, f"serviceMonitor/{release.bot_ns}/{BOT}/0")
    assert {t["labels"]["color"] for t in bot_targets} == {blue}
    wait_scraped(prom, f"serviceMonitor/{release.op_ns}/ploy-ploy-operator/0")
    read_active = _active_color(prom, release)
    wait_for(lambda: read_active() == blue, f"Prometheus sees {blue} active", 60)

    start = time.time()
    next_tag = f"{release.tag}-next"
    release.cluster.tag(f"{release.repository}:{release.tag}", f"{release.repository}:{next_tag}")
    release.install_bot(next_tag)
    promoted = wait_for(
        lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") != blue and s,
        "promotion of the new version (epoch 2)", 180,
    )  # fmt: skip
    green = promoted["activeColor"]
    wait_for(lambda: read_active() == green, f"Prometheus sees {green} active", 60)
    # Both pods are scraped now; the standby reports 0 and no daily PnL series at all.
    wait_for(
        lambda: len(_series(prom, f'ploy_role_active{{{_sel(release)}, color="{blue}"}} == 0')) == 1,
        f"the {blue} standby scraped with ploy_role_active 0", 30,
    )  # fmt: skip
    end = time.time()
    # From the raw scrapes: the pods reported ploy_role_active 1 in turns, never both in one stretch.
    both = overlapping_runs(prom, f"ploy_role_active{{{_sel(release)}}}", start, end, value=1)
    assert not both, f"two pods reported ploy_role_active 1 over the same time: {both}"
    daily = wait_for(
        lambda: (s := _series(prom, f"ploy_daily_pnl_usd{{{_sel(release)}}}")) and len(s) == 1 and s,
        "ploy_daily_pnl_usd of the active pod", 30,
    )  # fmt: skip
    assert daily[0]["metric"]["color"] == green
    reporters = overlapping_runs(prom, f"ploy_daily_pnl_usd{{{_sel(release)}}}", start, time.time())
    assert not reporters, f"two pods reported ploy_daily_pnl_usd over the same time: {reporters}"


def _rollback(release: Release, prom: LocalPrometheus, pg: PostgresServer) -> None:
    green = release.status()["activeColor"]
    green_pod = wait_for(lambda: release.ready_pod(green), f"a Ready {green} pod", 30)
    assert not alerts_named(prom, "PloyRolloutRolledBack", namespace=release.bot_ns, tradingbot=BOT)
    with release.cluster.reject_tcp(green_pod["status"]["podIP"], pg.port):
        wait_for(
            lambda: (release.status().get("lastRollout") or {}).get("result") == "RolledBack",
            "automatic rollback after the promoted pod lost its database", 120,
        )  # fmt: skip
        wait_for(
            lambda: alerts_named(prom, "PloyRolloutRolledBack", namespace=release.bot_ns, tradingbot=BOT),
            "PloyRolloutRolledBack firing", 60,
        )  # fmt: skip


def _active_pod_gone(release: Release, prom: LocalPrometheus, _pg: PostgresServer) -> None:
    wait_for(lambda: _active_color(prom, release)() is not None, "an active pod scraped", 60)
    wait_for(
        lambda: not alerts_named(prom, "PloyTradingBotDown", "pending")
        and not alerts_named(prom, "PloyTradingBotDown"),
        "PloyTradingBotDown neither pending nor firing while a pod is active", 60,
    )  # fmt: skip
    release.bot_values["replicas"] = "0"
    release.install_bot(release.tag)
    wait_for(
        lambda: not release.cluster.pods(release.bot_ns, f"ploy.dev/tradingbot={BOT}"), "bot pods gone", 120
    )
    wait_for(
        lambda: alerts_named(prom, "PloyTradingBotDown", namespace=release.bot_ns, tradingbot=BOT),
        "PloyTradingBotDown firing", 90,
    )  # fmt: skip


@contextlib.contextmanager
def api_server_unreachable_from(release: Release, pod_ip: str) -> Iterator[None]:
    """Reject every packet from ``pod_ip`` to the API server (the kubernetes Service's endpoint, which
    kube-proxy DNATs the Service address to) for the duration of the block."""
    endpoints = json.loads(
        release.kubectl("-n", "default", "get", "endpoints", "kubernetes", "-o", "json").stdout
    )
    subset = endpoints["subsets"][0]
    ip, port = subset["addresses"][0]["ip"], subset["ports"][0]["port"]
    rule = [
        "INPUT",
        "-s",
        pod_ip,
        "-d",
        ip,
        "-p",
        "tcp",
        "--dport",
        str(port),
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ]
    subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)


def test_fenced_writes_alert_when_a_stale_pod_is_fenced(
    node_cluster: E2ECluster, pod_postgres: PostgresServer, node_prometheus: LocalPrometheus
) -> None:
    manual = {**BOT_VALUES, "rollout.autoPromote": "false"}
    with installed_release(node_cluster, pod_postgres, OPERATOR_VALUES, manual) as release:
        try:
            _stale_acquisition_fenced(release, node_prometheus, pod_postgres)
        except AssertionError:
            print(release.diagnostics())
            print(json.dumps(node_prometheus.alerts(), indent=1))
            raise


def _stale_acquisition_fenced(release: Release, prom: LocalPrometheus, pg: PostgresServer) -> None:
    release.install_bot(release.tag)
    pod = wait_for(lambda: release.ready_pod("blue"), "the first color's pod Ready (standby)", 180)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    wait_scraped(prom, f"serviceMonitor/{release.bot_ns}/{BOT}/0")
    with release.cluster.reject_tcp(ip, pg.port):
        # Promoted while kubelet still has it Ready (probe every 5 s, 2 failures): told active under
        # epoch 1, it cannot reach the fence and retries.
        release.kubectl(
            "-n", release.bot_ns, "annotate", "tb", BOT, f"ploy.dev/promote={uuid.uuid4().hex[:8]}"
        )
        wait_for(lambda: release.status().get("epoch") == 1, "blue promoted under epoch 1", 60)
        wait_for(
            lambda: _series(prom, f'ploy_epoch{{{_sel(release)}, pod="{name}"}} == 1'),
            "blue saw epoch 1", 30,
        )  # fmt: skip
        with api_server_unreachable_from(release, ip):
            release.bot_values["rollout.autoPromote"] = "true"
            next_tag = f"{release.tag}-stale"
            release.cluster.tag(f"{release.repository}:{release.tag}", f"{release.repository}:{next_tag}")
            release.install_bot(next_tag)
            wait_for(
                lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") == "green",
                "green promoted under epoch 2 (the fence moves on)", 180,
            )  # fmt: skip
            wait_for(
                lambda: _series(prom, f'ploy_role_active{{{_sel(release)}, color="green"}} == 1'),
                "green holds the fence", 60,
            )  # fmt: skip
            assert not alerts_named(prom, "PloyFencedWrites", namespace=release.bot_ns, tradingbot=BOT)
            pg_back = time.monotonic()
            # Leaving the inner block restores nothing yet: PostgreSQL comes back below, the API stays cut.
            _restore_database(ip, pg.port)
            fired = wait_for(
                lambda: alerts_named(prom, "PloyFencedWrites", namespace=release.bot_ns, tradingbot=BOT),
                "PloyFencedWrites firing for the stale pod", 90,
            )  # fmt: skip
            print(f"PloyFencedWrites firing {time.monotonic() - pg_back:.1f}s after PostgreSQL came back")
    assert {(a["labels"]["pod"], a["labels"]["color"]) for a in fired} == {(name, "blue")}, fired
    assert "fenced off" in release.logs(pod)


def _restore_database(pod_ip: str, port: int) -> None:
    """Delete the rule of ``reject_tcp`` early (its own exit then finds nothing)."""
    rule = ["INPUT", "-s", pod_ip, "-d", NODE_IP, "-p", "tcp", "--dport", str(port),
            "-j", "REJECT", "--reject-with", "tcp-reset"]  # fmt: skip
    subprocess.run(["iptables", "-D", *rule], check=True, timeout=30)
