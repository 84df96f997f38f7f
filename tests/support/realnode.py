"""The ``node`` tier's building blocks: a local control plane with a real node (containerd, kubelet,
kube-proxy; :mod:`ploy_localcluster.node`), the project image built by
scripts/build-images.sh, and PostgreSQL reachable from pods on the node's bridge."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ploy_localcluster import LocalCluster
from ploy_localcluster.node import NODE_IP, NODE_NAME, RealNode
from tests.support.cluster import ClusterHandle

REPO = Path(__file__).resolve().parents[2]


class NodeUnavailable(RuntimeError):
    """Raised when the real node cannot run here (not root, packages or kubelet missing)."""


def build_images(timeout: float = 1200) -> Path:
    """Run scripts/build-images.sh (≈0 s when its inputs are unchanged) and return its index file.
    Raises NodeUnavailable when the script fails or exceeds ``timeout`` seconds."""
    try:
        result = subprocess.run(
            ["bash", str(REPO / "scripts" / "build-images.sh")],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NodeUnavailable(f"scripts/build-images.sh took over {timeout}s") from exc
    if result.returncode != 0:
        raise NodeUnavailable(f"scripts/build-images.sh failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def check_prerequisites(bin_dir: Path) -> None:
    """Raise NodeUnavailable naming what is missing for a real node on this machine."""
    if os.geteuid() != 0:
        raise NodeUnavailable("the real node needs root")
    for name in ("kubelet", "kube-proxy", "pause"):
        if not (bin_dir / name).is_file():
            raise NodeUnavailable(f"{name} not found in {bin_dir}; run scripts/build-control-plane.sh")
    for tool in ("/usr/bin/containerd", "/usr/sbin/runc", "/usr/bin/buildah", "/usr/lib/cni/bridge"):
        if not Path(tool).exists():
            raise NodeUnavailable(f"{tool} missing; run scripts/ensure-node-packages.sh")


@dataclass(frozen=True)
class NodeCluster:
    """A running control plane with the real node :data:`NODE_NAME` (the kwok node is cordoned, so
    every pod runs for real) and the images of scripts/build-images.sh imported into its containerd."""

    handle: ClusterHandle
    local: LocalCluster
    images: dict[str, Any]

    @property
    def node(self) -> RealNode:
        return self.local.node

    @property
    def bot_image(self) -> str:
        """The project image built from the Dockerfile, e.g. ``localhost/ploy:0.1.0-<hash>``."""
        return str(self.images["bot"]["name"])

    def tag(self, source: str, target: str) -> None:
        """Give an imported image a second name in the node's containerd (a new "version")."""
        self.node.ctr("images", "tag", "--force", source, target)

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching ``selector`` in ``namespace``."""
        out = self.handle.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items


def start_node_cluster(workdir: Path, bin_dir: Path, log: Callable[[str], None] | None = None) -> NodeCluster:
    """Build (or reuse) the images, start the control plane with the real node and cordon the kwok
    node. Raises NodeUnavailable or ClusterError; the caller stops ``local`` when done."""
    check_prerequisites(bin_dir)
    index = build_images()
    local = LocalCluster(workdir=workdir, bin_dir=bin_dir, real_node=True, images=index, timeout=420)
    if log is not None:
        local.log = log
    local.start()
    try:
        local.kubectl("cordon", "kwok-node-0")
        handle = ClusterHandle(kubeconfig=local.kubeconfig, server=local.server, bin_dir=bin_dir)
        return NodeCluster(handle=handle, local=local, images=json.loads(index.read_text()))
    except BaseException:
        local.stop()
        raise


def unavailable(tier: str, message: str) -> NoReturn:
    """Fail (``tier`` listed in ``PLOY_REQUIRE_TIERS``, as ``make test`` sets it) or skip the test."""
    required = {t.strip() for t in os.environ.get("PLOY_REQUIRE_TIERS", "").split(",")}
    if tier in required:
        pytest.fail(f"{tier} tier required but unavailable: {message}")
    pytest.skip(message)


def wait_for(predicate: Any, what: str, timeout: float, interval: float = 0.5) -> Any:
    """Poll ``predicate()`` until it returns a truthy value (returned); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


__all__ = [
    "NODE_IP",
    "NODE_NAME",
    "NodeCluster",
    "NodeUnavailable",
    "start_node_cluster",
    "unavailable",
    "wait_for",
]
