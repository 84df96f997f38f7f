"""A second, short-lived control plane proves start/stop leaves no process behind, and that the
ServiceAccount token machinery works (TokenRequest), which the demo relies on."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ploy_localcluster import ClusterError, LocalCluster, default_bin_dir

pytestmark = pytest.mark.cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state to tell.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    bin_dir = default_bin_dir()
    if not (bin_dir / "kube-apiserver").is_file():
        pytest.skip("control-plane binaries not built")
    local = LocalCluster(workdir=tmp_path / "c", bin_dir=bin_dir)
    local.start()
    state = json.loads((tmp_path / "c" / "state.json").read_text())
    pids = [p["pid"] for p in state["processes"]]
    assert {p["name"] for p in state["processes"]} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    try:
        local.kubectl("create", "serviceaccount", "probe")
        token = local.kubectl("create", "token", "probe", "--duration=10m").stdout.strip()
        assert token.count(".") == 2  # a signed JWT from the TokenRequest API
        whoami = subprocess.run(
            [
                str(bin_dir / "kubectl"),
                "--kubeconfig=/dev/null",
                f"--server={local.server}",
                f"--certificate-authority={local.workdir / 'pki' / 'ca.crt'}",
                f"--token={token}",
                "auth",
                "whoami",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
            "system:serviceaccount:default:probe"
        )
    finally:
        local.stop()
    assert not [pid for pid in pids if _alive(pid)]
    assert not (tmp_path / "c" / "state.json").exists()


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    local = LocalCluster(workdir=tmp_path / "c", bin_dir=tmp_path / "empty")
    with pytest.raises(ClusterError, match=r"etcd not found in .*build-control-plane\.sh"):
        local.start()
