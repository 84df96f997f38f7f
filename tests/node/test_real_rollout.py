"""The main job on a real node: both charts installed with helm, the operator and the bot running as
real pods of the image built from the Dockerfile, rollouts gated by the bot's real readiness probe.

First rollout Healthy under epoch 1 (the pod learns its role through its own ServiceAccount); a new
version is promoted (epoch 2); then the promoted bot really loses its database (its packets to
PostgreSQL are rejected), its ``/health/ready`` answers 503, kubelet marks it NotReady and the
operator rolls back onto the still-warm previous color (epoch 3); uninstalling the bot's release
garbage-collects every child."""

from __future__ import annotations

import json

import pytest

from tests.support.noderelease import BOT, Release
from tests.support.postgres import PostgresServer
from tests.support.realnode import wait_for

pytestmark = pytest.mark.node


def test_real_blue_green_with_rollback(release: Release, pod_postgres: PostgresServer) -> None:
    try:
        _main_job(release, pod_postgres)
    except AssertionError:
        print(release.diagnostics())
        raise


def _main_job(release: Release, pod_postgres: PostgresServer) -> None:
    # The operator itself runs as a pod of the same image, under the chart's ServiceAccount.
    operator = release.cluster.pods(release.op_ns, "app.kubernetes.io/name=ploy-operator")
    assert [p["spec"]["nodeName"] for p in operator] == [release.cluster.node_name]

    release.install_bot(release.tag)
    first = wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("epoch") == 1 and s,
        "first rollout Healthy under epoch 1", 180,
    )  # fmt: skip
    blue = first["activeColor"]
    pod = wait_for(lambda: release.ready_pod(blue), f"a Ready {blue} pod", 30)
    assert pod["spec"]["nodeName"] == release.cluster.node_name
    # The pod's own ServiceAccount may watch its TradingBot: it learns it is active and trades.
    wait_for(lambda: "trading enabled under epoch 1" in release.logs(pod), "blue trading under epoch 1", 60)
    assert "(403)" not in release.logs(pod) and "Forbidden" not in release.logs(pod)

    next_tag = f"{release.tag}-next"
    release.cluster.tag(f"{release.repository}:{release.tag}", f"{release.repository}:{next_tag}")
    release.install_bot(next_tag)
    promoted = wait_for(
        lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") != blue and s,
        "promotion of the new version (epoch 2)", 180,
    )  # fmt: skip
    green = promoted["activeColor"]
    wait_for(lambda: release.selector_color() == green, f"active Service -> {green}", 15)
    green_pod = wait_for(lambda: release.ready_pod(green), f"a Ready {green} pod", 30)
    wait_for(lambda: "trading enabled under epoch 2" in release.logs(green_pod), "green trading", 60)

    # A real failure inside the post-promotion window: green loses its database, its readiness probe
    # fails (/health/ready 503), kubelet marks it NotReady, the operator rolls back onto warm blue.
    with release.cluster.reject_tcp(green_pod["status"]["podIP"], pod_postgres.port):
        rolled_back = wait_for(
            lambda: ((s := release.status()).get("lastRollout") or {}).get("result") == "RolledBack" and s,
            "automatic rollback after green lost its database", 120,
        )  # fmt: skip
    assert rolled_back["activeColor"] == blue
    assert rolled_back["epoch"] == 3
    assert rolled_back["lastRollout"]["reason"] == "ReadinessLost"
    # kubelet's own record of why: the real probe got 503 from the bot's /health/ready.
    events = json.loads(
        release.kubectl(
            "-n", release.bot_ns, "get", "events", "-o", "json",
            f"--field-selector=involvedObject.name={green_pod['metadata']['name']},reason=Unhealthy",
        ).stdout
    )["items"]  # fmt: skip
    assert any("Readiness probe failed" in e["message"] and "503" in e["message"] for e in events), events
    wait_for(lambda: release.selector_color() == blue, f"active Service back on {blue}", 15)
    blue_pod = wait_for(lambda: release.ready_pod(blue), f"the warm {blue} pod Ready", 30)
    wait_for(lambda: "trading enabled under epoch 3" in release.logs(blue_pod), "blue trading again", 60)

    # Uninstalling the bot's release deletes the TradingBot; its children are garbage-collected.
    release.cluster.handle.helm("uninstall", "bot", "-n", release.bot_ns, "--wait", "--timeout", "120s")

    def children_left() -> bool:
        out = release.kubectl(
            "-n", release.bot_ns, "get", "deployments,services,configmaps,pods",
            "-l", f"ploy.dev/tradingbot={BOT}", "-o", "json",
        ).stdout  # fmt: skip
        return not json.loads(out)["items"]

    wait_for(children_left, "children garbage-collected", 120)
