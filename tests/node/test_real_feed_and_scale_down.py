"""The real bot image on the real node: the old color's SIGTERM at scale-down loses no order, and the
feed chosen in the TradingBot (Polymarket's WebSocket market channel, here a local server serving the
recording) makes a pod Ready.

Scale-down: blue trades on the demo's replay market (``demo_market_derived.json``: the only embedded
market where the complete-set strategy finds trades, derived and labelled so) while green is rolled
out and promoted; at scale-down kubelet stops blue's container (SIGTERM), which exits 0 after its
shutdown, and every order blue persisted is final in the ledger, its fills matching, with the fence
row held by green's later token.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mainjob import TOKENS
from tests.support.noderelease import BOT, Release
from tests.support.realnode import wait_for
from tests.support.ws_market import MALFORMED, recording_server
from tradingbot.market.replay import embedded_recording, load_recording

pytestmark = pytest.mark.node
HELD_BY = "SELECT token FROM fence_holders WHERE holder LIKE :'pod' || '/%'"
FINAL = ("FILLED", "CANCELED", "REJECTED", "FAILED")
DEMO_MARKET = {
    "feed.type": "replay",
    "feed.recording": "demo_market_derived.json",
    "trading.strategy.maxOrderSize": "5",
    "trading.risk.maxExposureUsd": "100000",
    "rollout.postPromotionSeconds": "10",
    "rollout.scaleDownDelaySeconds": "15",
}


@contextlib.contextmanager
def following(release: Release, pod: str, workdir: Path) -> Iterator[tuple[Path, Path]]:
    """Follow ``pod``'s log and its container's state (a watch) into two files, until the block ends;
    yields (log file, state file). The state lines are ``<deleting?>|<exit code>|<reason>``."""
    argv = release.cluster.handle.kubectl_argv
    state_format = (
        "jsonpath={.metadata.deletionTimestamp}|{.status.containerStatuses[0].state.terminated.exitCode}"
        '|{.status.containerStatuses[0].state.terminated.reason}{"\\n"}'
    )
    log_path, state_path = workdir / f"{pod}.log", workdir / f"{pod}.state"
    with log_path.open("wb") as log_out, state_path.open("wb") as state_out:
        procs = [
            subprocess.Popen(argv("-n", release.bot_ns, "logs", "-f", pod), stdout=log_out),
            subprocess.Popen(
                argv("-n", release.bot_ns, "get", "pod", pod, "-w", "-o", state_format), stdout=state_out
            ),
        ]
        try:
            yield log_path, state_path
        finally:
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)  # `logs -f` ends with the container, the watch with the pod
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)


def orders_by_token(release: Release) -> dict[int, dict[str, int]]:
    """{token: {status: orders}} of this release's bot, from the ledger."""
    rows = release.sql(
        "SELECT token, status, count(*) FROM orders WHERE bot_id = :'bot' GROUP BY 1, 2", bot=release.bot_id
    )
    out: dict[int, dict[str, int]] = {}
    for token, status, count in rows:
        out.setdefault(int(token), {})[status] = int(count)
    return out


def test_old_color_sigterm_at_scale_down_loses_no_order(release: Release, tmp_path: Path) -> None:
    try:
        _scale_down(release, tmp_path)
    except AssertionError:
        print(release.diagnostics())
        raise


def _scale_down(release: Release, tmp_path: Path) -> None:
    release.install_bot(release.tag, DEMO_MARKET)
    first = wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("epoch") == 1 and s,
        "first rollout Healthy under epoch 1", 180,
    )  # fmt: skip
    blue = first["activeColor"]
    blue_pod = wait_for(lambda: release.ready_pod(blue), f"a Ready {blue} pod", 30)["metadata"]["name"]

    def blue_orders() -> int:
        tokens = release.sql(HELD_BY, pod=blue_pod)
        by_token = orders_by_token(release)
        return sum(sum(by_token.get(int(t), {}).values()) for (t,) in tokens)

    wait_for(lambda: blue_orders() >= 6, f"{blue} placing orders under epoch 1", 120)
    with following(release, blue_pod, tmp_path) as (log_path, state_path):
        next_tag = f"{release.tag}-next"
        release.cluster.tag(f"{release.repository}:{release.tag}", f"{release.repository}:{next_tag}")
        release.install_bot(next_tag, DEMO_MARKET)
        promoted = wait_for(
            lambda: (s := release.status()).get("epoch") == 2 and s.get("activeColor") != blue and s,
            "promotion of the new version (epoch 2)", 180,
        )  # fmt: skip
        green = promoted["activeColor"]
        green_pod: dict[str, Any] = wait_for(lambda: release.ready_pod(green), f"a Ready {green} pod", 30)
        wait_for(lambda: not release.color_pods(blue), f"{blue}'s pod deleted at scale-down", 120)

    # Blue traded while green warmed up: orders of blue's token after green's pod was created.
    created = green_pod["metadata"]["creationTimestamp"]
    late = release.sql(
        "SELECT count(*) FROM orders o JOIN fence_holders h ON h.token = o.token "
        "WHERE h.holder LIKE :'pod' || '/%' AND o.created_at > :'created'",
        pod=blue_pod,
        created=created,
    )[0][0]
    assert int(late) > 0, "blue placed no order while green was rolled out"

    # kubelet stopped the container (SIGTERM) and it exited 0 after its graceful shutdown.
    events = json.loads(
        release.kubectl(
            "-n", release.bot_ns, "get", "events", "-o", "json",
            f"--field-selector=involvedObject.name={blue_pod},reason=Killing",
        ).stdout
    )["items"]  # fmt: skip
    assert any("Stopping container" in e["message"] for e in events), events
    states = [line.split("|") for line in state_path.read_text().splitlines()]
    terminated = [s for s in states if len(s) == 3 and s[0] and s[1]]
    assert terminated and terminated[-1][1:] == ["0", "Completed"], states
    log = log_path.read_text()
    assert "trading disabled" in log, log[-3000:]  # the role went to green at promotion
    assert "Application shutdown complete" in log and "ploy-bot stopped" in log, log[-3000:]

    # Every order blue persisted is final; a FILLED order's fills add up to its size, others have none.
    blue_tokens = [int(t) for (t,) in release.sql(HELD_BY, pod=blue_pod)]
    by_token = orders_by_token(release)
    statuses: dict[str, int] = {}
    for token in blue_tokens:
        for status, count in by_token.get(token, {}).items():
            statuses[status] = statuses.get(status, 0) + count
    assert sum(statuses.values()) >= 6 and set(statuses) <= set(FINAL), statuses
    mismatched = release.sql(
        "SELECT count(*) FROM orders o WHERE o.bot_id = :'bot' "
        "AND (CASE WHEN o.status = 'FILLED' THEN o.size ELSE 0 END) <> "
        "(SELECT coalesce(sum(f.size), 0) FROM fills f WHERE f.client_order_id = o.client_order_id)",
        bot=release.bot_id,
    )[0][0]
    assert int(mismatched) == 0
    # The fence: the row holds green's token, later than every token blue held.
    [[fence_token, holder, retired]] = release.sql(
        "SELECT token, holder, coalesce(retired_at::text, '') FROM fence_token "
        "WHERE namespace = :'ns' AND name = :'name'",
        ns=release.bot_ns,
        name=BOT,
    )
    assert holder.startswith(f"{green_pod['metadata']['name']}/") and not retired
    assert int(fence_token) > max(blue_tokens)
    print(
        f"blue {blue_pod}: tokens {blue_tokens}, orders {statuses}, {late} after green's pod was created; "
        f"exit {terminated[-1][1]} {terminated[-1][2]}; fence token {fence_token} held by {holder}"
    )


def metric_samples(text: str, name: str) -> dict[str, float]:
    """{label text: value} of the samples of ``name`` in a Prometheus text exposition."""
    out: dict[str, float] = {}
    for match in re.finditer(rf"^{name}(\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.MULTILINE):
        out[match.group(1) or ""] = float(match.group(2))
    return out


def test_live_channel_feed_makes_the_pod_ready(release: Release) -> None:
    recording = load_recording(embedded_recording("ws_market_burst.json"))
    with recording_server(recording, release.cluster.host_ip) as server:
        try:
            _live_channel(release, server.url)
        except AssertionError:
            print(release.diagnostics())
            raise
        assert server.subscriptions and server.subscriptions[0] == {"assets_ids": TOKENS, "type": "market"}


def _live_channel(release: Release, url: str) -> None:
    release.install_bot(release.tag, {"feed.type": "polymarket-ws", "feed.url": url})
    first = wait_for(
        lambda: (s := release.status()).get("phase") == "Healthy" and s.get("epoch") == 1 and s,
        "first rollout Healthy under epoch 1 on the live channel", 180,
    )  # fmt: skip
    pod = wait_for(lambda: release.ready_pod(first["activeColor"]), "a Ready pod", 30)
    assert "feed=polymarket-ws" in release.logs(pod)
    base = f"http://{pod['status']['podIP']}:8080"
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:  # noqa: S310 - a pod on the bridge
        metrics = resp.read().decode()
    malformed = metric_samples(metrics, "ploy_market_malformed_messages_total")
    for reason, _frame in MALFORMED:
        assert malformed.get(f'{{reason="{reason}"}}', 0) >= 1, malformed
    applied = metric_samples(metrics, "ploy_market_messages_total")
    assert applied.get('{event_type="book"}', 0) >= 1 and applied.get('{event_type="price_change"}', 0) >= 49
    assert metric_samples(metrics, "ploy_market_ws_connected") == {"": 1.0}
    print(f"live channel {url}: malformed skipped {malformed}, applied {applied}")
