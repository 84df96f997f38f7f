"""Test-side helpers for the operator's cluster tests: CRD install, TradingBot manifests, waiting.

Everything talks to the real API server of the ``cluster`` fixture; reads go through the operator's
own raw-JSON client (:class:`tradingbot_operator.kube.Kube`) so the tests see exactly the wire objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.aio.client import ApiClient
from prometheus_client import CollectorRegistry

from tests.support.cluster import ClusterHandle
from tests.support.tradingbot import SECRET_NAME, tradingbot_manifest
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.kube_transport import tradingbot_path
from tradingbot_operator.main import RunOptions, run_operator

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "charts/ploy-operator/crds/tradingbots.ploy.dev.yaml"
CONDITION_ID = "0x" + "ab" * 32

JSON = dict[str, Any]


def install_crd(cluster: ClusterHandle) -> None:
    """Apply the generated TradingBot CRD and wait until the API server serves it."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.wait_crd_established("tradingbots.ploy.dev")


def create_db_secret(cluster: ClusterHandle, namespace: str) -> None:
    """The Secret the TradingBots reference for ``PLOY_DATABASE_URL`` (a dummy URL; kwok runs no bot)."""
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        SECRET_NAME,
        "--from-literal=url=postgresql://bot:secret@db.invalid:5432/bot",
    )


def rollout_spec(**overrides: Any) -> JSON:
    """Short rollout timings for tests (seconds), overridable per field (camelCase keys)."""
    spec: JSON = {
        "autoPromote": True,
        "bakeSeconds": 2,
        "maxRestarts": 0,
        "progressDeadlineSeconds": 20,
        "postPromotionSeconds": 8,
        "scaleDownDelaySeconds": 10,
    }
    spec.update(overrides)
    return spec


def tradingbot(
    name: str,
    *,
    image: str = "registry.example/ploy-bot:1.0.0",
    rollout: JSON | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> JSON:
    """A TradingBot manifest with one market and the test Secret; pod labels/annotations inject faults."""
    return tradingbot_manifest(
        name,
        image,
        condition_id=CONDITION_ID,
        tokens=["111", "222"],
        rollout=rollout or rollout_spec(),
        labels=labels,
        annotations=annotations,
    )


@dataclass
class BotView:
    """One TradingBot under test: reads and writes through the raw client."""

    kube: Kube
    namespace: str
    name: str
    epochs: list[int] = field(default_factory=list)

    async def create(self, manifest: JSON) -> None:
        """Create the TradingBot from ``manifest``."""
        await self.kube.request("POST", tradingbot_path(self.namespace), body=manifest)

    async def get(self) -> JSON:
        """The TradingBot object (AssertionError when it is missing)."""
        body = await self.kube.get_tradingbot(self.namespace, self.name)
        assert body is not None, f"TradingBot {self.namespace}/{self.name} is missing"
        return body

    async def status(self) -> JSON:
        """Its status (empty mapping before the first write); records every epoch seen."""
        status: JSON = (await self.get()).get("status") or {}
        self.epochs.append(int(status.get("epoch", 0)))
        return status

    async def patch(self, patch: JSON) -> None:
        """JSON merge patch of the TradingBot (spec or metadata)."""
        await self.kube.request(
            "PATCH", tradingbot_path(self.namespace, self.name), body=patch, content_type=MERGE_PATCH
        )

    async def set_image(self, image: str, **spec: Any) -> None:
        """A new image (and optionally other spec fields): a new revision."""
        await self.patch({"spec": {"image": image, **spec}})

    async def annotate(self, key: str, value: str | None) -> None:
        """Set (or with None remove) an annotation."""
        await self.patch({"metadata": {"annotations": {key: value}}})

    async def wait_status(self, predicate: Callable[[JSON], bool], what: str, within: float = 40.0) -> JSON:
        """Poll the status until ``predicate`` holds; AssertionError with the last status on timeout."""
        deadline = time.monotonic() + within
        status: JSON = {}
        while time.monotonic() < deadline:
            status = await self.status()
            if predicate(status):
                return status
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; last status: {status}")

    async def replicas(self, color: str) -> int | None:
        """``spec.replicas`` of the color's Deployment, or None when it does not exist."""
        found = await self.deployment(color)
        return None if found is None else int(found["spec"]["replicas"])

    async def wait_replicas(self, color: str, replicas: int | None, within: float = 20.0) -> None:
        """Wait until the color's Deployment has ``replicas`` (None: does not exist)."""
        deadline = time.monotonic() + within
        seen = None
        while time.monotonic() < deadline:
            seen = await self.replicas(color)
            if seen == replicas:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name}-{color} has replicas {seen}, expected {replicas}")

    async def deployment(self, color: str) -> JSON | None:
        """The Deployment of ``color``, or None."""
        return await self.kube.get(
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{self.name}-{color}"
        )

    async def service_color(self, preview: bool = False) -> str | None:
        """The color the active (or preview) Service selects, or None when it does not exist."""
        name = f"{self.name}-preview" if preview else self.name
        service = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/services/{name}")
        if service is None:
            return None
        color: str | None = service["spec"]["selector"].get("ploy.dev/color")
        return color

    async def wait_service(self, color: str, within: float = 15.0) -> None:
        """Wait until the active Service selects ``color`` (it follows the status write of a switch)."""
        deadline = time.monotonic() + within
        seen = None
        while time.monotonic() < deadline:
            seen = await self.service_color()
            if seen == color:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"active Service of {self.name} selects {seen}, expected {color}")

    async def ready_endpoints(self) -> int:
        """Ready endpoints of the active Service, from its EndpointSlices."""
        answer = await self.kube.request(
            "GET",
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices",
            query={"labelSelector": f"kubernetes.io/service-name={self.name}"},
        )
        return sum(
            1
            for item in answer.get("items") or []
            for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is True
        )

    async def events(self) -> list[JSON]:
        """Kubernetes Events about this TradingBot."""
        answer = await self.kube.request(
            "GET",
            f"/api/v1/namespaces/{self.namespace}/events",
            query={"fieldSelector": f"involvedObject.name={self.name},involvedObject.kind=TradingBot"},
        )
        items: list[JSON] = answer.get("items") or []
        return items

    async def assert_one_active(self) -> JSON:
        """The active Service selects ``status.activeColor`` and epochs seen so far never decreased."""
        status = await self.status()
        if status.get("activeColor"):
            await self.wait_service(status["activeColor"])
        assert self.epochs == sorted(self.epochs), f"epoch went backwards: {self.epochs}"
        return status


def phase_is(*phases: str) -> Callable[[JSON], bool]:
    """Predicate: ``status.phase`` is one of ``phases``."""
    return lambda s: s.get("phase") in phases


@contextlib.asynccontextmanager
async def operator_in_process(
    cluster: ClusterHandle,
    *,
    namespaces: tuple[str, ...] = (),
    prometheus_url: str | None = None,
    resync_seconds: float = 30.0,
) -> AsyncIterator[CollectorRegistry]:
    """Run the operator in this process until the block exits; yields its metrics registry.

    ``prometheus_url``: the Prometheus of the metric analysis gate (``--prometheus-url``);
    ``resync_seconds``: ``--resync-seconds`` (also how long the children cache trusts a prime).

    kopf cancels every task created in its event loop after it started (it cannot tell its own
    tasks from others), so it gets a thread with its own loop, as kopf's own test runner does.
    """
    stop = threading.Event()
    ready = threading.Event()
    registry = CollectorRegistry()
    errors: list[BaseException] = []
    options = RunOptions(
        namespaces=namespaces,
        all_namespaces=not namespaces,
        metrics_port=0,
        kubeconfig=str(cluster.kubeconfig),
        resync_seconds=resync_seconds,
        prometheus_url=prometheus_url,
    )

    def main() -> None:
        try:
            asyncio.run(run_operator(options, stop_flag=stop, ready_flag=ready, registry=registry))
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        # kopf cancels its watch streams at shutdown; aiohttp may leave their transports for the
        # garbage collector, which would warn later in whatever test runs then. Collect them here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    thread = threading.Thread(target=main, name="ploy-operator", daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(ready.wait, 60), f"the operator did not start: {errors}"
        yield registry
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the operator did not stop within 30 s"
        real = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
        assert not real, f"the operator failed: {real!r}"


# Imports kopf and the client (seconds on a busy machine), then waits for one line on stdin before
# running ``ploy-operator run``: a test can have a replacement operator warm while the old one runs.
_GATED = (
    "import sys, tradingbot_operator.main, tradingbot_operator.cli as cli; "
    "sys.stdin.readline(); sys.argv = ['ploy-operator', *sys.argv[1:]]; cli.main()"
)


@dataclass
class OperatorProcess:
    """A ``ploy-operator run -n <namespace>`` child process; :meth:`go` starts a gated one."""

    proc: subprocess.Popen[bytes]

    def go(self) -> None:
        """Let a gated process start the operator (it has finished its imports or will soon)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown, exactly like a node loss or OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextlib.contextmanager
def operator_subprocess(
    cluster: ClusterHandle, namespace: str, log: Path, *extra: str
) -> Iterator[OperatorProcess]:
    """``ploy-operator run -n <namespace>`` as a gated child process (KUBECONFIG = the test cluster).

    The process imports everything at once but starts the operator only after :meth:`OperatorProcess.go`.
    ``extra`` are more ``run`` options (default ``--metrics-port 0`` unless ``extra`` names a port).
    """
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    if "--metrics-port" not in extra:
        extra = (*extra, "--metrics-port", "0")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _GATED,
                "run",
                "--namespace",
                namespace,
                "--verbose",
                *extra,
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield OperatorProcess(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        if proc.stdin is not None:
            proc.stdin.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    """Poll ``check`` until it returns True; AssertionError on timeout."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def new_view(api: ApiClient, namespace: str, name: str) -> BotView:
    """A :class:`BotView` on ``namespace/name`` using ``api``."""
    return BotView(kube=Kube(api), namespace=namespace, name=name)
