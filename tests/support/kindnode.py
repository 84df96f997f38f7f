"""The ``node`` tier's e2e tests on kind (GitHub's ``kind`` job): a kind cluster made by the workflow,
the project image built there from the Dockerfile and loaded with ``kind load image-archive``.

Selected by ``PLOY_NODE_CLUSTER=kind``; ``PLOY_KIND_CLUSTER`` names the cluster (default ``ploy``),
``PLOY_NODE_IMAGE`` the loaded image, ``KUBECONFIG`` the kubeconfig kind wrote. Pods reach this host
at the gateway of Docker's ``kind`` network; kind masquerades their connections to it behind the node
container's address, so PostgreSQL trusts that network, and a pod's packets are rejected in the node
container's FORWARD chain, where they still carry the pod's address. Not run on this machine (no
Docker here): written against kind's documented defaults (one node ``<cluster>-control-plane``,
containerd namespace ``k8s.io``, Docker network ``kind``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cluster import ClusterHandle
from tests.support.realnode import NodeUnavailable, pods_of


def _docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise NodeUnavailable(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


@dataclass(frozen=True)
class KindCluster:
    """A kind cluster given to the test session (see the module docstring); implements E2ECluster."""

    handle: ClusterHandle
    cluster: str
    image: str
    network: ipaddress.IPv4Network
    gateway: str

    @property
    def bot_image(self) -> str:
        """``PLOY_NODE_IMAGE``, loaded into the node by ``kind load image-archive``."""
        return self.image

    @property
    def node_name(self) -> str:
        """kind's single node: ``<cluster>-control-plane``."""
        return f"{self.cluster}-control-plane"

    @property
    def host_ip(self) -> str:
        """The gateway of Docker's ``kind`` network: this host, as the node container sees it."""
        return self.gateway

    @property
    def pod_sources(self) -> str:
        """Docker's ``kind`` network: pods' connections to the host leave masqueraded behind the node."""
        return str(self.network)

    def tag(self, source: str, target: str) -> None:
        """Tag an image in the node's containerd (namespace ``k8s.io``, where kubelet's images are)."""
        _docker("exec", self.node_name, "ctr", "-n", "k8s.io", "images", "tag", "--force", source, target)

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching ``selector`` in ``namespace``."""
        return pods_of(self.handle, namespace, selector)

    @contextlib.contextmanager
    def reject_tcp(self, pod_ip: str, port: int) -> Iterator[None]:
        """Reject (TCP reset) ``pod_ip``'s packets to the host's ``port`` in the node's FORWARD chain."""
        rule = ["FORWARD", "-s", pod_ip, "-d", self.gateway, "-p", "tcp", "--dport", str(port),
                "-j", "REJECT", "--reject-with", "tcp-reset"]  # fmt: skip
        _docker("exec", self.node_name, "iptables", "-I", *rule)
        try:
            yield
        finally:
            with contextlib.suppress(NodeUnavailable):
                _docker("exec", self.node_name, "iptables", "-D", *rule)

    def stop(self) -> None:
        """Nothing: the workflow made the cluster and deletes it."""


def start_kind_cluster() -> KindCluster:
    """The kind cluster the environment names; NodeUnavailable when docker, kubectl or the image is
    missing."""
    for tool in ("docker", "kubectl", "helm"):
        if shutil.which(tool) is None:
            raise NodeUnavailable(f"{tool} not on PATH (needed for PLOY_NODE_CLUSTER=kind)")
    image = os.environ.get("PLOY_NODE_IMAGE", "")
    if not image:
        raise NodeUnavailable("PLOY_NODE_IMAGE must name the image loaded into kind")
    cluster = os.environ.get("PLOY_KIND_CLUSTER", "ploy")
    kubeconfig = Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))
    handle = ClusterHandle(kubeconfig=kubeconfig, server="", bin_dir=Path("/nonexistent"), kind="kind")
    configs = json.loads(_docker("network", "inspect", "kind", "--format", "{{json .IPAM.Config}}"))
    for config in configs:
        with contextlib.suppress(KeyError, ValueError):
            network = ipaddress.ip_network(config["Subnet"])
            if isinstance(network, ipaddress.IPv4Network):
                return KindCluster(handle, cluster, image, network, str(config["Gateway"]))
    raise NodeUnavailable(f"Docker network kind has no IPv4 subnet with a gateway: {configs}")
