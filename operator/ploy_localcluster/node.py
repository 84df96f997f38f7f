"""A real node beside the kwok one: containerd (Debian, its own root, state and socket), the CNI bridge
``ploybr0`` (10.244.0.0/24), kubelet and kube-proxy built by scripts/build-control-plane.sh, and the
images of scripts/build-images.sh imported into that containerd. Pods scheduled on
:data:`NODE_NAME` run for real: real processes, real probes, real restarts.

The node changes the machine (a bridge, iptables chains, mounts, cgroups, network namespaces and a
few kernel sysctls), so :func:`.machine.teardown` undoes all of it from what
:meth:`RealNode.prepare` recorded in the machine-wide :data:`.machine.OWNER_FILE`, after a clean
stop, a failed start, or a crash of the starting process (the next start cleans up first).
Needs root, Linux and the packages of scripts/ensure-node-packages.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ploy_localcluster import machine
from ploy_localcluster.machine import run
from ploy_localcluster.processes import free_port

NODE_NAME = "ploy-node-0"
BRIDGE = "ploybr0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
# Seconds a start waits for another live process's real node on this machine to be torn down.
OWNER_WAIT_SECONDS = 1200.0
CNI_BIN_DIR = Path("/usr/lib/cni")
RUNC = "/usr/sbin/runc"


class NodeError(RuntimeError):
    """Raised when the real node cannot be prepared (not root, a package missing, another node up)."""


@dataclass
class RealNode:
    """One real node: ``workdir`` holds its containerd root/state/socket, the CNI config and IPAM
    state and kubelet's root dir. ``kubeconfig`` and
    ``ca_cert`` are the control plane's admin kubeconfig and CA (kubelet and kube-proxy use both)."""

    workdir: Path
    kubeconfig: Path
    ca_cert: Path
    pause_image: str = "localhost/ploy-pause:missing"

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def address(self) -> str:
        return str(self.socket)

    # -- preparation (run before any process starts) ---------------------------------------------

    def prepare(self, owner_pid: int, deadline: float) -> None:
        """Check the prerequisites, clean up a crashed earlier node, record what the node will change
        (sysctls, iptables chains, network namespaces) in :data:`.machine.OWNER_FILE` claimed for
        ``owner_pid``, create the bridge and write the containerd, CNI and kubelet configs.
        While another live process owns a real node on this machine (one bridge, one pod CIDR),
        waits for it until ``deadline`` (``time.monotonic()`` seconds), so concurrent test sessions
        take turns. Raises NodeError when not root, a package is missing or the wait times out."""
        if os.geteuid() != 0:
            raise NodeError("the real node needs root (containerd, kubelet, iptables)")
        for tool in ("containerd", "containerd-shim-runc-v2", "ctr", "iptables", "ip", "conntrack"):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise NodeError(f"{tool} not found: run scripts/ensure-node-packages.sh")
        if not (CNI_BIN_DIR / "bridge").exists() or not Path(RUNC).exists():
            raise NodeError("runc or the CNI plugins missing: run scripts/ensure-node-packages.sh")
        while True:
            try:
                machine.claim_owner(self.workdir, owner_pid)
                break
            except machine.OwnedElsewhere as exc:
                if time.monotonic() > deadline:
                    raise NodeError(f"{exc}; gave up waiting for it") from exc
                time.sleep(2)
        if run("ip", "link", "show", BRIDGE).returncode == 0:
            raise NodeError(f"bridge {BRIDGE} already exists: another real node runs on this machine")
        machine.record(self.workdir, BRIDGE)
        machine.make_cgroup_parent()
        run("ip", "link", "add", BRIDGE, "type", "bridge", check=True)
        run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE, check=True)
        run("ip", "link", "set", BRIDGE, "up", check=True)
        self._write_configs()

    def _write_configs(self) -> None:
        ctrd = self.workdir / "containerd"
        cni = self.workdir / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        ctrd.mkdir(parents=True, exist_ok=True)
        # restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, so runc could not set the -998 the
        # CRI asks for the sandbox (recipe pitfall 1). runc's state stays under our state dir.
        (ctrd / "config.toml").write_text(f"""version = 2
root = "{ctrd / "root"}"
state = "{ctrd / "state"}"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{ctrd / "containerd.ttrpc.sock"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.pause_image}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{RUNC}"
        Root = "{ctrd / "state" / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni / "net.d"}"
""")
        # No portmap and no ipMasq: no CNI iptables chains; pods reach only the host (NODE_IP).
        conflist = {
            "cniVersion": "0.4.0",
            "name": "ploy-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(cni / "ipam"),
                    },
                }
            ],
        }
        (cni / "net.d" / "10-ploy.conflist").write_text(json.dumps(conflist, indent=1))
        kubelet = self.workdir / "kubelet"
        kubelet.mkdir(parents=True, exist_ok=True)
        (self.workdir / "kubelet-config.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
cgroupDriver: cgroupfs
cgroupRoot: /{machine.CGROUP_PARENT}
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{self.socket}
imageServiceEndpoint: unix://{self.socket}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {self.ca_cert}}}
authorization: {{mode: Webhook}}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 30
serializeImagePulls: false
evictionHard: {{memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
rotateCertificates: false
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
""")

    def use_images(self, index: Path) -> list[Path]:
        """Read scripts/build-images.sh's index file: remember the pause image for containerd and
        return the archives to import. Raises NodeError when the index or an archive is missing."""
        if not index.is_file():
            raise NodeError(f"{index} not found: run scripts/build-images.sh")
        data = json.loads(index.read_text())
        self.pause_image = str(data["pause"]["name"])
        archives = [Path(data[k]["archive"]) for k in ("pause", "base", "bot") if k in data]
        for archive in archives:
            if not archive.is_file():
                raise NodeError(f"{archive} missing: run scripts/build-images.sh")
        return archives

    # -- commands ---------------------------------------------------------------------------------

    def containerd_args(self) -> list[str]:
        return ["--config", str(self.workdir / "containerd" / "config.toml")]

    def kubelet_args(self) -> list[str]:
        return [
            f"--config={self.workdir / 'kubelet-config.yaml'}",
            f"--kubeconfig={self.kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            f"--root-dir={self.workdir / 'kubelet'}",
            f"--cert-dir={self.workdir / 'kubelet' / 'pki'}",
            "--node-labels=type=real",
            "--v=1",
        ]

    def kube_proxy_args(self, metrics_port: int, healthz_port: int) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={POD_CIDR}",
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--iptables-localhost-nodeports=false",
            f"--metrics-bind-address=127.0.0.1:{metrics_port}",
            f"--healthz-bind-address=127.0.0.1:{healthz_port}",
            "--v=1",
        ]

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``ctr`` against this node's containerd in namespace k8s.io; raises CalledProcessError
        on failure and TimeoutExpired after ``timeout`` seconds."""
        return run("ctr", "--address", self.address, "-n", "k8s.io", *args, check=True, timeout=timeout)

    def import_images(self, archives: list[Path]) -> None:
        """Import docker-archive tarballs (unpacked for overlayfs); up to 300 s each. Raises NodeError
        naming the archive when ``ctr`` fails or times out."""
        for archive in archives:
            try:
                self.ctr("images", "import", str(archive), timeout=300)
            except subprocess.CalledProcessError as exc:
                raise NodeError(f"importing {archive} failed: {exc.stderr.strip()}") from exc
            except subprocess.TimeoutExpired as exc:
                raise NodeError(f"importing {archive} took over 300 s") from exc


def apiserver_flags(client_cert: Path, client_key: Path) -> list[str]:
    """kube-apiserver flags for a cluster with a real node: pods reach the API through the
    ``kubernetes`` Service (kube-proxy DNAT to the bridge address, so the API server listens there
    too), and the API server reaches kubelet (logs, exec) on its InternalIP with ``client_cert``."""
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={NODE_IP}",
        "--endpoint-reconciler-type=lease",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={client_cert}",
        f"--kubelet-client-key={client_key}",
    ]


# -- the node's processes, started and stopped by LocalCluster ----------------------------------


class Spawner(Protocol):
    """What :func:`start` needs of LocalCluster: spawn a logged child, wait with liveness checks."""

    def spawn(self, name: str, args: Sequence[str], executable: Path | None = None) -> int: ...

    def wait_until(self, ready: Callable[[], bool], deadline: float, what: str) -> None: ...

    def node_ready(self, name: str) -> bool: ...


def start(node: RealNode, images: Path, cluster: Spawner, deadline: float, detach: bool) -> None:
    """Prepare the machine, start containerd, import the images, start kube-proxy and kubelet, and
    wait until :data:`NODE_NAME` is Ready (by ``deadline``, a ``time.monotonic()`` value, extended by
    the time spent waiting, up to :data:`OWNER_WAIT_SECONDS`, for another process's real node to go).
    The caller tears down with :func:`.machine.teardown` when this raises (NodeError, or the spawner's
    ClusterError)."""
    archives = node.use_images(images)
    # Another session's real node (a test module, the demo) holds the machine for minutes: take turns
    # with it, and do not count the wait against this start's own deadline.
    waited_from = time.monotonic()
    node.prepare(os.getpid(), deadline + OWNER_WAIT_SECONDS)
    deadline += time.monotonic() - waited_from
    containerd = shutil.which("containerd") or "/usr/bin/containerd"
    cluster.spawn("containerd", node.containerd_args(), Path(containerd))

    def containerd_up() -> bool:
        return run("ctr", "--address", node.address, "version", timeout=5).returncode == 0

    cluster.wait_until(containerd_up, deadline, "containerd")
    t0 = time.monotonic()
    node.import_images(archives)
    import_seconds = time.monotonic() - t0
    ports = [free_port(), free_port()]
    cluster.spawn("kube-proxy", node.kube_proxy_args(*ports))
    kubelet_pid = cluster.spawn("kubelet", node.kubelet_args())
    if detach:
        machine.set_owner(node.workdir, kubelet_pid)
    cluster.wait_until(lambda: cluster.node_ready(NODE_NAME), deadline, f"node {NODE_NAME} Ready")
    (node.workdir / "import-seconds").write_text(f"{import_seconds:.1f}\n")
