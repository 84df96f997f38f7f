"""The ``node`` tier's building blocks: a local control plane with a real node (containerd, kubelet,
kube-proxy; :mod:`ploy_localcluster.node`), the project image built by
scripts/build-images.sh, and PostgreSQL reachable from pods on the node's bridge."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

import pytest

from ploy_localcluster import LocalCluster
from ploy_localcluster.node import NODE_IP, NODE_NAME, POD_CIDR, RealNode
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


class E2ECluster(Protocol):
    """What the ``node`` tier's e2e tests need of a cluster whose pods really run the project image:
    this machine's real node (:class:`NodeCluster`) or, on GitHub, kind (``tests.support.kindnode``)."""

    @property
    def handle(self) -> ClusterHandle:
        """kubectl and helm pointed at the cluster."""
        ...

    @property
    def bot_image(self) -> str:
        """The project image built from the Dockerfile, present on the node."""
        ...

    @property
    def node_name(self) -> str:
        """The node the pods run on."""
        ...

    @property
    def host_ip(self) -> str:
        """An address of this host that pods reach (PostgreSQL and test servers listen there)."""
        ...

    @property
    def pod_sources(self) -> str:
        """The CIDR pods' connections to :attr:`host_ip` come from (PostgreSQL trusts it)."""
        ...

    def tag(self, source: str, target: str) -> None:
        """Give an image on the node a second name (a new "version")."""
        ...

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching ``selector`` in ``namespace``."""
        ...

    def reject_tcp(self, pod_ip: str, port: int) -> contextlib.AbstractContextManager[None]:
        """Reject (TCP reset) every packet from ``pod_ip`` to ``host_ip:port`` inside the block."""
        ...

    def stop(self) -> None:
        """Stop what the test session started (nothing for a cluster it was given)."""
        ...


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
        return pods_of(self.handle, namespace, selector)

    @property
    def node_name(self) -> str:
        """:data:`NODE_NAME`."""
        return NODE_NAME

    @property
    def host_ip(self) -> str:
        """The bridge address :data:`NODE_IP`."""
        return NODE_IP

    @property
    def pod_sources(self) -> str:
        """The pod CIDR: pods reach the bridge address unmasqueraded."""
        return POD_CIDR

    @contextlib.contextmanager
    def reject_tcp(self, pod_ip: str, port: int) -> Iterator[None]:
        """Reject (TCP reset) every packet from ``pod_ip`` to the bridge address on ``port``, open
        connections included (this host's INPUT chain: the pods' packets are addressed to it)."""
        rule = ["INPUT", "-s", pod_ip, "-d", NODE_IP, "-p", "tcp", "--dport", str(port),
                "-j", "REJECT", "--reject-with", "tcp-reset"]  # fmt: skip
        subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
        try:
            yield
        finally:
            subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)

    def stop(self) -> None:
        """Stop the control plane and the real node, restoring the machine."""
        self.local.stop()


def pods_of(handle: ClusterHandle, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The pods matching ``selector`` in ``namespace``."""
    out = handle.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout
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
    "E2ECluster",
    "NodeCluster",
    "NodeUnavailable",
    "start_node_cluster",
    "unavailable",
    "wait_for",
]
