"""Helpers the cluster benchmarks share: where the control-plane binaries are, and kubectl."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tradingbot_operator.localcluster import LocalCluster


def default_bin_dir() -> Path:
    """The control-plane binaries (same lookup as the test suite): ``$PLOY_K8S_BIN``, else the newest
    ``$PLOY_CACHE/bin/k8s-v*`` that scripts/build-control-plane.sh wrote."""
    if env := os.environ.get("PLOY_K8S_BIN"):
        return Path(env)
    cache = Path(os.environ.get("PLOY_CACHE", Path.home() / ".cache" / "ploy"))
    found = sorted((cache / "bin").glob("k8s-v*"))
    return found[-1] if found else cache / "bin" / "missing"


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
