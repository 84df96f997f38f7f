"""Test-side handle on a Kubernetes cluster: the local control plane (default) or kind.

``PLOY_TEST_CLUSTER=kind`` uses pytest-kind when Docker and kind exist (GitHub Actions); otherwise the
local control plane built by ``scripts/build-control-plane.sh`` (its directory in ``PLOY_K8S_BIN``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ploy_localcluster.launcher import cache_dir


def crds_dir() -> Path:
    """Where scripts/fetch-crds.sh puts the ArgoCD and prometheus-operator CRDs."""
    if env := os.environ.get("PLOY_CRDS_DIR"):
        return Path(env)
    return cache_dir() / "crds"


@dataclass(frozen=True)
class ClusterHandle:
    """What a test needs of a cluster: its kubeconfig and the CLIs pointed at it.

    ``kind`` is "local" (kwok fakes pods; failure injection by the ``ploy.dev/fault`` label works) or
    "kind" (real kubelets; failure-injection tests skip themselves).
    """

    kubeconfig: Path
    server: str
    bin_dir: Path
    kind: str = "local"

    def _tool(self, name: str) -> str:
        local = self.bin_dir / name
        if local.is_file():
            return str(local)
        found = shutil.which(name)
        if not found:
            raise FileNotFoundError(f"{name} not found in {self.bin_dir} or on PATH")
        return found

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises CalledProcessError when ``check`` and it fails."""
        return subprocess.run(
            [self._tool("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def kubectl_argv(self, *args: str) -> list[str]:
        """The kubectl command line for ``args`` against this cluster (for a long-running Popen)."""
        return [self._tool("kubectl"), f"--kubeconfig={self.kubeconfig}", *args]

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run helm against this cluster; raises CalledProcessError when ``check`` and it fails."""
        return subprocess.run(
            [self._tool("helm"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def wait_crd_established(self, crd: str, timeout: float = 60) -> None:
        """Wait until a CRD (``<plural>.<group>``) is Established and API discovery serves it.

        kubectl wait errors while status has no conditions yet; and discovery lags behind Established
        (under load by seconds), so a ``kubectl get <plural>`` right after Established can fail with
        "the server doesn't have a resource type". Raises AssertionError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = self.kubectl(
                "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s", check=False
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"CRD {crd} not Established after {timeout}s: {result.stderr}")
            time.sleep(0.2)
        group = crd.split(".", 1)[1]
        while True:
            # --cached=false (the default) asks the server, not kubectl's discovery cache.
            served = self.kubectl("api-resources", f"--api-group={group}", "-o", "name", check=False)
            if served.returncode == 0 and crd in served.stdout.split():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"CRD {crd} Established but not served by discovery after {timeout}s")
            time.sleep(0.2)
