"""Helpers the cluster benchmarks share: where the control-plane binaries are, kubectl, and latency
summaries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes.aio.client import ApiClient, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.watch import Watch

from ploy_localcluster import LocalCluster, default_bin_dir

__all__ = [
    "ObjectWatch",
    "cpu_seconds",
    "cpu_seconds_by_process",
    "cpu_spent",
    "crd_cluster",
    "default_bin_dir",
    "install_crd",
    "kubectl",
    "summary",
]


def summary(values: list[float]) -> dict[str, float | int]:
    """Count, p50, p99 and max of latency samples in seconds (rounded to ms)."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50_seconds": round(statistics.median(ordered), 3),
        "p99_seconds": round(p99, 3),
        "max_seconds": round(ordered[-1], 3),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat``); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_process(pids: dict[str, int]) -> dict[str, float]:
    """:func:`cpu_seconds` of each named process (e.g. ``LocalCluster.pids()`` plus the operator)."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two :func:`cpu_seconds_by_process` readings, rounded to
    0.1 s, with their ``total``."""
    spent = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    return {**spent, "total": round(sum(spent.values()), 1)}


@contextlib.contextmanager
def crd_cluster(prefix: str, crd: Path, crd_name: str, namespace: str) -> Iterator[LocalCluster]:
    """A local control plane in a temporary directory (named ``prefix``...) with the CRD at ``crd``
    Established and ``namespace`` created; stopped and removed after the block."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir(), timeout=300)
        cluster.start()
        try:
            install_crd(cluster, crd, crd_name)
            kubectl(cluster, "create", "namespace", namespace)
            yield cluster
        finally:
            cluster.stop()


def kubectl(cluster: LocalCluster, *args: str, stdin: str | None = None, timeout: float = 1800) -> None:
    """Run kubectl against ``cluster``; CalledProcessError on failure, TimeoutExpired after ``timeout`` s."""
    subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )


def install_crd(cluster: LocalCluster, path: Path, name: str, timeout: float = 180) -> None:
    """Apply the CRD at ``path`` and wait until ``name`` is Established. ``kubectl wait`` fails at once
    while a new CRD has no conditions yet, so it is retried; TimeoutError after ``timeout`` seconds."""
    kubectl(cluster, "apply", "--server-side", "-f", str(path))
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl(
                cluster, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=10s", timeout=30
            )
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s") from None
            time.sleep(0.2)


class ObjectWatch:
    """The objects of one custom resource in one namespace, kept current by a watch (one LIST, then its
    events; LISTed again whenever the stream ends, at most every ``relist_seconds``), so a benchmark
    can look at all of them every fraction of a second without asking the API server each time (a
    LIST of 1,000 TradingBots costs it about 0.1 s of CPU: once a second, a tenth of its work during
    a converge). ``by_name`` maps each object's name to ``view(object)``.
    """

    def __init__(
        self,
        api: ApiClient,
        resource: tuple[str, str, str],
        namespace: str,
        view: Callable[[Mapping[str, Any]], Any],
        relist_seconds: int = 60,
    ) -> None:
        self._objects = CustomObjectsApi(api)
        self._resource = resource
        self._namespace = namespace
        self._view = view
        self._relist_seconds = relist_seconds
        self.by_name: dict[str, Any] = {}
        self._listed = asyncio.Event()

    async def _follow(self) -> None:
        group, version, plural = self._resource
        while True:
            answer = await self._objects.list_namespaced_custom_object(
                group, version, self._namespace, plural, _request_timeout=60
            )
            listed = cast(dict[str, Any], answer)
            self.by_name = {o["metadata"]["name"]: self._view(o) for o in listed.get("items") or []}
            self._listed.set()
            stream = Watch().stream(
                self._objects.list_namespaced_custom_object,
                group,
                version,
                self._namespace,
                plural,
                resource_version=listed["metadata"]["resourceVersion"],
                timeout_seconds=self._relist_seconds,
                _request_timeout=self._relist_seconds + 30,  # the server ends it first; a hung one not
            )
            try:
                async for event in stream:
                    obj = event["object"]
                    if event["type"] == "DELETED":
                        self.by_name.pop(obj["metadata"]["name"], None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.by_name[obj["metadata"]["name"]] = self._view(obj)
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: the version is too old, LIST again
                    raise

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ObjectWatch]:
        """Follow the objects while in the block (the first LIST done before it is entered)."""
        task = asyncio.create_task(self._follow())
        try:
            listed = asyncio.create_task(self._listed.wait())
            await asyncio.wait((task, listed), timeout=60, return_when=asyncio.FIRST_COMPLETED)
            listed.cancel()
            if task.done():
                task.result()  # raises what stopped it
            if not self._listed.is_set():
                raise TimeoutError("the first LIST took over 60 s")
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
