"""The role watch against the real API server: a pod that may not read its TradingBot is never Ready, and
a watch whose connection freezes (no data, no error) is abandoned, re-listed through a fresh connection
and learns a role change made meanwhile, within a bounded time.

The frozen connection is made by a small TCP proxy on loopback between the client and the API server:
``freeze()`` stops forwarding on every open connection (their sockets stay open, nothing moves), while new
connections are forwarded as before. TLS passes through it untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.bot.service.role_cluster import NAME, create_tradingbot, kubectl, set_status
from tests.support.cluster import ClusterHandle
from tradingbot.health import CheckResult, role_check, timed
from tradingbot.ledger.fence import FenceKey
from tradingbot.role.knowledge import RoleKnowledge
from tradingbot.role.tradingbot_watch import WatchTimings, api_client, watch_tradingbot

pytestmark = pytest.mark.cluster

FAST = WatchTimings(watch_s=2, read_s=3.0, request_s=2.0)


def _kubeconfig_with(
    cluster: ClusterHandle, path: Path, *, server: str | None = None, token: str | None = None
) -> Path:
    """The admin kubeconfig with its server and/or its user (a bearer token) replaced."""
    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    if server is not None:
        for entry in cfg["clusters"]:
            entry["cluster"]["server"] = server
    if token is not None:
        for entry in cfg["users"]:
            entry["user"] = {"token": token}
    path.write_text(yaml.safe_dump(cfg))
    return path


async def _eventually(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.05)


async def _readiness(knowledge: RoleKnowledge, max_unconfirmed_s: float = 30.0) -> CheckResult:
    return await timed("role", role_check(knowledge, max_unconfirmed_s), 1.0)


@dataclass
class Observed:
    """Every (active, epoch) the watch reported, in order."""

    calls: list[tuple[bool, int | None]] = field(default_factory=list)

    async def __call__(self, active: bool, epoch: int | None, key: FenceKey | None) -> None:
        self.calls.append((active, epoch))

    @property
    def last(self) -> tuple[bool, int | None] | None:
        return self.calls[-1] if self.calls else None


@contextlib.asynccontextmanager
async def _watching(
    kubeconfig: Path, namespace: str, knowledge: RoleKnowledge, observed: Observed
) -> AsyncIterator[asyncio.Task[None]]:
    api = await api_client(kubeconfig)
    task = asyncio.create_task(
        watch_tradingbot(api, namespace, NAME, "blue", observed, knowledge=knowledge, timings=FAST)
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await api.close()


async def test_a_pod_that_may_not_read_its_tradingbot_is_not_ready_until_it_may(
    cluster: ClusterHandle, namespace: str, tmp_path: Path
) -> None:
    create_tradingbot(cluster, namespace)
    set_status(cluster, namespace, "blue", 1)
    kubectl(cluster, "-n", namespace, "create", "serviceaccount", "bot")
    token = kubectl(cluster, "-n", namespace, "create", "token", "bot", "--duration=10m").strip()
    kubeconfig = _kubeconfig_with(cluster, tmp_path / "bot.kubeconfig", token=token)
    knowledge, observed = RoleKnowledge(), Observed()
    async with _watching(kubeconfig, namespace, knowledge, observed) as task:
        await _eventually(lambda: knowledge.forbidden, "the watch to be refused")
        result = await _readiness(knowledge)
        assert not result.ok and "forbidden" in result.detail and "403" in result.detail
        assert f"system:serviceaccount:{namespace}:bot" in result.detail  # the API's own message
        assert observed.calls == [] and not task.done()

        # Exactly the rights the bot needs (get/list/watch on its own TradingBot): it recovers.
        kubectl(
            cluster,
            "-n",
            namespace,
            "create",
            "role",
            "bot",
            "--verb=get,list,watch",
            "--resource=tradingbots.ploy.dev",
            f"--resource-name={NAME}",
        )
        kubectl(
            cluster,
            "-n",
            namespace,
            "create",
            "rolebinding",
            "bot",
            "--role=bot",
            f"--serviceaccount={namespace}:bot",
        )
        await _eventually(lambda: observed.last == (True, 1), "the role once allowed")
        assert not knowledge.forbidden and (await _readiness(knowledge)).ok


class FreezingProxy:
    """A TCP proxy on 127.0.0.1 to ``target``; ``freeze()`` stops every connection open at that moment."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connections = 0
        self._pumps: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5)
        self._writers += [writer, up_writer]
        self._pumps += [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

    def freeze(self) -> None:
        """Nothing moves on the connections open now; their sockets stay open (no FIN, no RST)."""
        for task in self._pumps:
            task.cancel()
        self._pumps.clear()

    async def close(self) -> None:
        self.freeze()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)


async def test_a_frozen_watch_is_abandoned_and_a_fresh_list_learns_the_change(
    cluster: ClusterHandle, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradingbot.role.tradingbot_watch")
    create_tradingbot(cluster, namespace)
    set_status(cluster, namespace, "blue", 1)
    api_host, api_port = cluster.server.removeprefix("https://").rsplit(":", 1)
    proxy = FreezingProxy(api_host, int(api_port))
    await proxy.start()
    kubeconfig = _kubeconfig_with(cluster, tmp_path / "proxied.kubeconfig", server=proxy.url)
    knowledge, observed = RoleKnowledge(), Observed()
    try:
        async with _watching(kubeconfig, namespace, knowledge, observed):
            await _eventually(lambda: observed.last == (True, 1), "blue active")
            assert (await _readiness(knowledge)).ok
            await asyncio.sleep(0.5)  # the watch request is open on the proxied connection
            connections = proxy.connections
            proxy.freeze()
            set_status(cluster, namespace, "green", 2)
            frozen_at = time.monotonic()
            # FAST.read_s (3 s) for the frozen request, then a list on a new connection.
            await _eventually(lambda: observed.last == (False, 2), "the change made while frozen", 15.0)
            learned_after = time.monotonic() - frozen_at
            assert proxy.connections > connections  # learned through a fresh connection
            assert "TimeoutError" in caplog.text  # the client timeout, not the server, ended the freeze
            assert (await _readiness(knowledge)).ok
    finally:
        await proxy.close()
    assert learned_after < 15.0
