"""Start and stop a local control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, the way controller-runtime's envtest does it (throwaway PKI, admin client
certificate) plus the two controllers and a fake kubelet so Deployments really roll out.

Every child runs in its own session with ``PR_SET_PDEATHSIG`` so that it dies with the process that
started it unless ``detach=True`` (the demo keeps the cluster after its command exits; ``stop`` then
finds the children through the state file).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ploy_localcluster import machine
from ploy_localcluster import node as realnode
from ploy_localcluster.pki import PkiFiles, generate_pki, write_admin_kubeconfig
from ploy_localcluster.processes import Proc, alive, die_with_parent, free_port, tail, terminate_all

FAKE_NODE_NAME = "kwok-node-0"
_STATE_FILE = "state.json"


def cache_dir() -> Path:
    """Where builds and local clusters live: ``$PLOY_CACHE``, else ``~/.cache/ploy``."""
    return Path(os.environ.get("PLOY_CACHE", Path.home() / ".cache" / "ploy"))


def default_bin_dir() -> Path:
    """The control-plane binaries: ``$PLOY_K8S_BIN``, else the newest ``<cache>/bin/k8s-v*`` that
    scripts/build-control-plane.sh wrote (a path that does not exist when nothing was built)."""
    if env := os.environ.get("PLOY_K8S_BIN"):
        return Path(env)
    found = sorted((cache_dir() / "bin").glob("k8s-v*"))
    return found[-1] if found else cache_dir() / "bin" / "missing"


class ClusterError(RuntimeError):
    """Raised when a control-plane component is missing, dies, or does not become ready in time."""


@dataclass
class LocalCluster:
    """A local control plane rooted at ``workdir`` using the binaries in ``bin_dir``.

    ``start()`` blocks until the API server is ready, the controllers run, the default
    ServiceAccount exists and the fake node is Ready (``timeout`` seconds in all). ``kubeconfig``
    then points at an admin (``system:masters``) client-certificate kubeconfig.
    Raises :class:`ClusterError` when a binary is missing or a component fails.

    ``real_node=True`` adds a real node (:mod:`.node`: containerd, CNI bridge, kubelet, kube-proxy)
    running the images listed in ``images`` (scripts/build-images.sh's index; default
    ``<cache>/images/index.json``); needs root. :meth:`stop` tears it down completely.
    """

    workdir: Path
    bin_dir: Path
    timeout: float = 120.0
    detach: bool = False
    log: Callable[[str], None] = field(default=lambda _msg: None)
    _procs: list[Proc] = field(default_factory=list)
    apiserver_port: int = 0
    real_node: bool = False
    images: Path | None = None

    @property
    def node(self) -> realnode.RealNode:
        """The real node's files (meaningful with ``real_node=True``)."""
        pki = self.workdir / "pki"
        return realnode.RealNode(self.workdir / "node", self.kubeconfig, pki / "ca.crt")

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def binary(self, name: str) -> Path:
        """Path of a control-plane binary; raises ClusterError if it was not built."""
        path = self.bin_dir / name
        if not path.is_file():
            raise ClusterError(f"{name} not found in {self.bin_dir}; run scripts/build-control-plane.sh")
        return path

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        """Start every component and wait until the cluster can run pods.

        Ports are picked free just before use, so another process can take one in between; such a
        start (``address already in use``) is retried from scratch, up to ``attempts`` times.
        """
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return
            except ClusterError as exc:
                if "address already in use" not in str(exc) or attempt == attempts:
                    raise
                self.log(f"port taken while starting ({attempt}/{attempts}); retrying with new ports")
                shutil.rmtree(self.workdir / "etcd", ignore_errors=True)

    def _start_once(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            self.binary(name)
        deadline = time.monotonic() + self.timeout
        pki = generate_pki(self.workdir / "pki")
        try:
            etcd_port = free_port()
            self.spawn(
                "etcd",
                [
                    "--data-dir",
                    str(self.workdir / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{etcd_port}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{etcd_port}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{free_port()}",
                    "--unsafe-no-fsync",
                    "--log-level",
                    "warn",
                ],
            )
            self.apiserver_port = free_port()
            write_admin_kubeconfig(self.kubeconfig, self.server, pki)
            self.spawn("kube-apiserver", self._apiserver_args(pki, etcd_port))
            self.wait_until(lambda: self._get("/readyz") == 200, deadline, "kube-apiserver /readyz")
            self.log(f"kube-apiserver ready at {self.server}")
            self.spawn(
                "kube-controller-manager",
                [
                    *self._controller_args(),
                    f"--service-account-private-key-file={pki.sa_private}",
                    f"--root-ca-file={pki.ca_cert}",
                    f"--cluster-signing-cert-file={pki.ca_cert}",
                    f"--cluster-signing-key-file={pki.ca_key}",
                    "--use-service-account-credentials=false",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
                    "--concurrent-deployment-syncs=10",
                    "--concurrent-replicaset-syncs=10",
                    # Its client's default 20 requests/s (burst 30) makes 1,000 new Deployments wait
                    # minutes for their ReplicaSets and pods, while its CPU stays idle; the controllers
                    # measured beside it should be what limits a rollout, not this rate limiter.
                    "--kube-api-qps=300",
                    "--kube-api-burst=600",
                ],
            )
            self.spawn("kube-scheduler", self._controller_args())
            stages = self.workdir / "kwok-stages.yaml"
            stages.write_text(resources.files("ploy_localcluster").joinpath("stages.yaml").read_text())
            self.spawn(
                "kwok",
                [
                    f"--kubeconfig={self.kubeconfig}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    f"--config={stages}",
                    f"--server-address=127.0.0.1:{free_port()}",
                    "--node-lease-duration-seconds=40",
                    "--cidr=10.0.0.1/16",
                    "--node-ip=10.0.0.1",
                ],
            )
            self._create_fake_node()
            self.wait_until(self._node_ready, deadline, f"node {FAKE_NODE_NAME} Ready")
            self.wait_until(self._default_sa_exists, deadline, "default ServiceAccount")
            if self.real_node:
                images = self.images or cache_dir() / "images" / "index.json"
                try:
                    realnode.start(self.node, images, self, deadline, self.detach)
                except realnode.NodeError as exc:
                    raise ClusterError(str(exc)) from exc
                self.log(f"real node {realnode.NODE_NAME} Ready")
            self._save_state()
            self.log("control plane ready")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate every component (SIGTERM, then SIGKILL after 10 s) and reap it."""
        terminate_all(self._procs)
        self._procs.clear()
        machine.teardown(self.workdir / "node")
        (self.workdir / _STATE_FILE).unlink(missing_ok=True)

    @staticmethod
    def stop_detached(workdir: Path) -> bool:
        """Stop a detached cluster from its state file; returns False when none was running."""
        state_path = workdir / _STATE_FILE
        if not state_path.exists():
            return False
        state = json.loads(state_path.read_text())
        pids: list[int] = [p["pid"] for p in state["processes"]]
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in pids:
            while time.monotonic() < deadline and alive(pid):
                time.sleep(0.1)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        machine.teardown(workdir / "node")
        state_path.unlink(missing_ok=True)
        return True

    def check_alive(self) -> None:
        """Raise ClusterError naming any component that has exited, with its log's last lines."""
        for proc in self._procs:
            if proc.popen.poll() is not None:
                raise ClusterError(f"{proc.name} exited with {proc.popen.returncode}:\n{tail(proc.log)}")

    # -- internals -------------------------------------------------------------------------------

    def _apiserver_args(self, pki: PkiFiles, etcd_port: int) -> list[str]:
        local_flags = [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
        ]
        return [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            *(realnode.apiserver_flags(pki.admin_cert, pki.admin_key) if self.real_node else local_flags),
            f"--secure-port={self.apiserver_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.sa_private}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            "--v=1",
        ]

    def _controller_args(self) -> list[str]:
        """Flags kube-controller-manager and kube-scheduler share: admin kubeconfig for the API and for
        delegated authn/authz, no leader election, serving on a free loopback port."""
        kc = self.kubeconfig
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--v=1",
        ]

    def node_ready(self, name: str) -> bool:
        """Whether node ``name`` reports Ready=True."""
        node = self._get_json(f"/api/v1/nodes/{name}")
        status = node.get("status")
        conditions = status.get("conditions", []) if isinstance(status, dict) else []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def spawn(self, name: str, args: Sequence[str], executable: Path | None = None) -> int:
        """Start a component (``executable``, default the binary ``name`` in ``bin_dir``) logging to
        ``<workdir>/<name>.log``; it is stopped with the cluster. Returns its pid."""
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            [str(executable or self.binary(name)), *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
            preexec_fn=None if self.detach else die_with_parent,  # noqa: PLW1509 - no threads yet at spawn
        )
        log_file.close()
        self._procs.append(Proc(name, popen, log_path))
        self.log(f"started {name} (pid {popen.pid}, log {log_path})")
        return popen.pid

    def pids(self) -> dict[str, int]:
        """The pid of each component started (``etcd``, ``kube-apiserver``, ...) by its name."""
        return {proc.name: proc.popen.pid for proc in self._procs}

    def wait_until(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        """Poll ``ready`` every 0.25 s until true; ClusterError at ``deadline`` (monotonic s) or when a
        component exits."""
        while True:
            self.check_alive()
            try:
                if ready():
                    return
            except (OSError, subprocess.CalledProcessError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}")
            time.sleep(0.25)

    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(  # noqa: S310 - fixed https URL on loopback
                f"{self.server}{path}", context=self._ssl_context(), timeout=5
            ) as resp:
                status: int = resp.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code

    def _get_json(self, path: str) -> dict[str, object]:
        with urllib.request.urlopen(  # noqa: S310 - fixed https URL on loopback
            f"{self.server}{path}", context=self._ssl_context(), timeout=5
        ) as resp:
            data: dict[str, object] = json.loads(resp.read())
            return data

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the cluster's kubectl with its admin kubeconfig; raises CalledProcessError if check."""
        return subprocess.run(
            [str(self.binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def _create_fake_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": FAKE_NODE_NAME,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": FAKE_NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "status": {
                "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "5000"},
                "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "5000"},
            },
        }
        self.wait_until(
            lambda: self.kubectl("apply", "-f", "-", input=yaml.safe_dump(node)).returncode == 0,
            time.monotonic() + 30,
            "fake node creation",
        )

    def _node_ready(self) -> bool:
        return self.node_ready(FAKE_NODE_NAME)

    def _default_sa_exists(self) -> bool:
        return self._get("/api/v1/namespaces/default/serviceaccounts/default") == 200

    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "processes": [{"name": p.name, "pid": p.popen.pid} for p in self._procs],
        }
        (self.workdir / _STATE_FILE).write_text(json.dumps(state, indent=2))
