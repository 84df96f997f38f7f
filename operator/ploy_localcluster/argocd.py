"""Real ArgoCD beside a :class:`LocalCluster`: redis, repo-server, application-controller,
applicationset-controller and (optionally) argocd-server as local processes on loopback.

The one ``argocd`` binary comes from ``scripts/build-argocd.sh`` (``<cache>/bin/argocd-v*``: the
binary, ``git-verify-wrapper.sh``, and the module's base config manifests in ``config/``);
``redis-server`` from Debian (``scripts/bootstrap.sh``). The processes run outside any pod, so
``ARGOCD_FAKE_IN_CLUSTER=true`` makes the in-cluster destination (``https://kubernetes.default.svc``)
use ``$KUBECONFIG`` (the cluster's admin kubeconfig), and the settings a pod would read from
argocd-cmd-params-cm come as flags/env: the reconciliation period (``ARGOCD_RECONCILIATION_TIMEOUT``,
also the repo-server's ls-remote cache expiry) and no jitter.

Every child runs in its own session and, unless ``detach``, dies with the Python process that started
it (``PR_SET_PDEATHSIG``); :meth:`LocalArgoCD.stop` terminates all of them, also after a failed
:meth:`LocalArgoCD.start`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ploy_localcluster.launcher import cache_dir
from ploy_localcluster.processes import (
    Proc,
    ProcessGroup,
    free_port,
    http_ok,
    port_open,
    spawn,
)

NAMESPACE = "argocd"
BASE_CONFIG = ("argocd-cm.yaml", "argocd-cmd-params-cm.yaml", "argocd-rbac-cm.yaml", "argocd-secret.yaml")
CRD_FILES = ("argocd-application-crd.yaml", "argocd-applicationset-crd.yaml", "argocd-appproject-crd.yaml")


class ArgoCDError(RuntimeError):
    """Raised when a binary is missing, a process dies, or one does not become ready in time."""


def argocd_bin_dir() -> Path:
    """The ArgoCD build: ``$PLOY_ARGOCD_BIN``, else the newest ``<cache>/bin/argocd-v*`` that
    scripts/build-argocd.sh wrote (a path that does not exist when nothing was built)."""
    if env := os.environ.get("PLOY_ARGOCD_BIN"):
        return Path(env)
    found = sorted((cache_dir() / "bin").glob("argocd-v*"))
    return found[-1] if found else cache_dir() / "bin" / "argocd-missing"


@dataclass
class LocalArgoCD(ProcessGroup):
    """ArgoCD for the cluster behind ``kubeconfig``, its scratch files and logs under ``workdir``.

    ``tools_dir`` holds the ``helm`` (and ``kubectl``) the repo-server and :meth:`install` use.
    ``reconcile_seconds`` is the poll period of git and of the cluster state (ArgoCD's default is
    120 s plus up to 60 s jitter). ``server`` starts argocd-server (for the CLI, resource actions and
    the UI) at ``http://127.0.0.1:<server_port>``; ``disable_auth`` turns its authentication off (tests
    and the demo only: anyone on this machine may then act on the cluster through it).
    ``timeout`` bounds :meth:`start` in seconds. ``detach`` lets the processes outlive this Python
    process (the demo; stop them by the ids :meth:`pids` returns).
    """

    error: ClassVar[type[Exception]] = ArgoCDError

    workdir: Path
    kubeconfig: Path
    tools_dir: Path
    bin_dir: Path = field(default_factory=argocd_bin_dir)
    reconcile_seconds: int = 30
    server: bool = True
    disable_auth: bool = True
    timeout: float = 120.0
    detach: bool = False
    log: Callable[[str], None] = field(default=lambda _msg: None)
    ports: dict[str, int] = field(default_factory=dict)
    _procs: list[Proc] = field(default_factory=list)

    @property
    def binary(self) -> Path:
        """The ``argocd`` binary; raises ArgoCDError when it was not built."""
        path = self.bin_dir / "argocd"
        if not path.is_file():
            raise ArgoCDError(f"argocd not found in {self.bin_dir}; run scripts/build-argocd.sh")
        return path

    @property
    def server_address(self) -> str:
        """``127.0.0.1:<port>`` of argocd-server (plaintext HTTP/gRPC)."""
        return f"127.0.0.1:{self.ports['server']}"

    # -- cluster objects -------------------------------------------------------------------------

    def install(self, cm_patches: Sequence[Path] = ()) -> None:
        """Create namespace ``argocd``, apply the build's own ArgoCD CRDs (``<bin_dir>/crds``,
        server-side: they are large) and the base config (argocd-cm, -cmd-params-cm, -rbac-cm,
        -secret), then merge-patch argocd-cm with each of ``cm_patches``.

        Raises ArgoCDError when kubectl fails."""
        self.kubectl(
            "apply", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
        )
        crds = [arg for name in CRD_FILES for arg in ("-f", str(self.bin_dir / "crds" / name))]
        self.kubectl("apply", "--server-side", "--force-conflicts", *crds)
        names = [f"crd/{kind}.argoproj.io" for kind in ("applications", "applicationsets", "appprojects")]
        deadline = time.monotonic() + 60
        while True:  # kubectl wait fails outright while a new CRD has no status.conditions yet
            try:
                self.kubectl("wait", "--for=condition=Established", "--timeout=10s", *names)
                break
            except ArgoCDError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        config = [arg for name in BASE_CONFIG for arg in ("-f", str(self.bin_dir / "config" / name))]
        self.kubectl("-n", NAMESPACE, "apply", *config)
        for patch in cm_patches:
            self.kubectl("-n", NAMESPACE, "patch", "configmap", "argocd-cm", "--patch-file", str(patch))

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        """Run kubectl against the cluster; returns stdout. Raises ArgoCDError (with kubectl's stderr)
        when it fails, TimeoutExpired after ``timeout`` seconds."""
        result = subprocess.run(
            [str(self.tools_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise ArgoCDError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The ``argocd`` CLI against this argocd-server (plaintext, its own config file).

        Raises CalledProcessError when ``check`` and it fails, TimeoutExpired after ``timeout`` s."""
        env = {**self._env(), "ARGOCD_BINARY_NAME": "argocd"}
        common = [
            "--server",
            self.server_address,
            "--plaintext",
            "--config",
            str(self.workdir / "cli-config"),
        ]
        return subprocess.run(
            [str(self.binary), *args, *common],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start redis and the ArgoCD processes and wait until each serves its port.

        On any failure everything already started is stopped before ArgoCDError is raised."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        redis = shutil.which("redis-server")
        if redis is None:
            raise ArgoCDError(
                "redis-server not found on PATH; run scripts/bootstrap.sh (Debian redis-server)"
            )
        self.binary  # noqa: B018 - raises when missing
        for sub in ("tmp", "tls", "ssh", "gpg/source", "gpg/keys"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "gpg/keys").chmod(0o700)
        names = [
            *("redis", "repo", "repo-metrics", "controller-metrics", "appset-metrics", "appset-probe"),
            *("appset-webhook", "server", "server-metrics"),
        ]
        self.ports = {name: free_port() for name in names}
        p = self.ports
        deadline = time.monotonic() + self.timeout
        redis_args = ["--bind", "127.0.0.1", "--port", str(p["redis"]), "--save", "", "--appendonly", "no"]
        self._spawn("redis", [redis, *redis_args], {})
        self._wait_port(p["redis"], deadline, "redis")
        redis_addr = f"127.0.0.1:{p['redis']}"
        repo_addr = f"127.0.0.1:{p['repo']}"
        repo = ["--port", str(p["repo"]), "--metrics-port", str(p["repo-metrics"]), "--redis", redis_addr]
        repo += ["--address", "127.0.0.1", "--metrics-address", "127.0.0.1"]
        self._spawn("argocd-repo-server", [str(self.binary), *repo], {})
        self._wait_port(p["repo"], deadline, "argocd-repo-server")
        controller = ["--namespace", NAMESPACE, "--redis", redis_addr, "--repo-server", repo_addr]
        # The controller has no --metrics-address: its metrics port listens on all interfaces.
        controller += ["--metrics-port", str(p["controller-metrics"]), "--persist-resource-health"]
        controller += ["--status-processors", "4", "--operation-processors", "2"]
        self._spawn("argocd-application-controller", [str(self.binary), *controller], {})
        self._wait_port(p["controller-metrics"], deadline, "argocd-application-controller")
        appset = ["--namespace", NAMESPACE, "--argocd-repo-server", repo_addr]
        appset += [
            "--metrics-addr",
            f"127.0.0.1:{p['appset-metrics']}",
            "--probe-addr",
            f"127.0.0.1:{p['appset-probe']}",
        ]
        appset += ["--webhook-addr", f"127.0.0.1:{p['appset-webhook']}"]
        self._spawn("argocd-applicationset-controller", [str(self.binary), *appset], {})
        self._wait_port(p["appset-probe"], deadline, "argocd-applicationset-controller")
        if self.server:
            server = [
                "--namespace",
                NAMESPACE,
                "--redis",
                redis_addr,
                "--repo-server",
                repo_addr,
                "--insecure",
            ]
            server += ["--address", "127.0.0.1", "--port", str(p["server"])]
            server += ["--metrics-address", "127.0.0.1", "--metrics-port", str(p["server-metrics"])]
            server += ["--disable-auth"] if self.disable_auth else []
            self._spawn("argocd-server", [str(self.binary), *server], {})
            self._wait(lambda: http_ok(f"http://{self.server_address}/healthz"), deadline, "argocd-server")

    # -- internals -------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        w = self.workdir
        path = os.pathsep.join(
            [str(self.bin_dir), str(self.tools_dir), os.environ.get("PATH", "/usr/bin:/bin")]
        )
        period = f"{self.reconcile_seconds}s"
        return {
            **os.environ,
            "PATH": path,
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_RECONCILIATION_TIMEOUT": period,
            "ARGOCD_RECONCILIATION_JITTER": "0",
            "ARGOCD_TLS_DATA_PATH": str(w / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(w / "ssh"),
            "ARGOCD_GNUPGHOME": str(w / "gpg/keys"),
            "ARGOCD_GPG_DATA_PATH": str(w / "gpg/source"),
            "ARGOCD_GPG_ENABLED": "false",
            "TMPDIR": str(w / "tmp"),
            "HOME": str(w),
        }

    def _spawn(self, name: str, argv: Sequence[str], extra_env: dict[str, str]) -> None:
        env = {**self._env(), "ARGOCD_BINARY_NAME": name, **extra_env}
        self._started(spawn(self.workdir, name, argv, env, detach=self.detach))

    def _wait_port(self, port: int, deadline: float, what: str) -> None:
        self._wait(lambda: port_open(port), deadline, what)
