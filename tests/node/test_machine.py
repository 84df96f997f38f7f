"""A real node that fails to start leaves the machine as it found it: no bridge, no owner file, no new
iptables chain or network namespace, no mount under its directory, the sysctls unchanged.

Runs before the package's node cluster exists, since only one real node can run on a machine: pytest
runs files in name order, so every other module of tests/node that uses the package's node cluster is
named after this one (test_prometheus_alerts, test_real_*); tests/node/conftest.py checks that."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ploy_localcluster import ClusterError, LocalCluster, default_bin_dir, machine
from ploy_localcluster.node import BRIDGE
from tests.support.realnode import NodeUnavailable, build_images, check_prerequisites, unavailable, wait_for

pytestmark = pytest.mark.node


def _snapshot(workdir: Path) -> dict[str, object]:
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    bridge = subprocess.run(["ip", "link", "show", BRIDGE], check=False, capture_output=True, timeout=10)
    return {
        **machine.snapshot(),
        "bridge": bridge.returncode == 0,
        "owner": machine.OWNER_FILE.exists(),
        "mounts": [m for m in mounts if str(workdir) in m],
    }


def _claim(node_dir: Path) -> bool:
    try:
        machine.claim_owner(node_dir, os.getpid())
    except machine.OwnedElsewhere:
        return False
    return True


def test_failed_start_restores_the_machine(tmp_path: Path) -> None:
    bin_dir = default_bin_dir()
    try:
        check_prerequisites(bin_dir)
        index = json.loads(build_images().read_text())
    except NodeUnavailable as exc:
        unavailable("node", str(exc))
    # A bot "image" that containerd cannot import: the start fails after the bridge, containerd and
    # the pause and base images are up, i.e. with most of the machine already changed.
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not an image archive")
    index["bot"]["archive"] = str(broken)
    (tmp_path / "index.json").write_text(json.dumps(index))
    workdir = tmp_path / "cluster"
    # Take the machine's real-node claim first (waiting for another session's node to finish), so
    # nothing else changes the machine between the two snapshots; the start below re-enters it.
    node_dir = workdir / "node"
    wait_for(lambda: _claim(node_dir), "the machine's real-node claim", 420, interval=2)
    try:
        before = _snapshot(workdir)
        local = LocalCluster(workdir=workdir, bin_dir=bin_dir, real_node=True, images=tmp_path / "index.json")
        with pytest.raises(ClusterError):
            local.start()
        after = _snapshot(workdir)
    finally:
        machine.teardown(node_dir)  # releases the claim whatever happened
    assert after.pop("owner") is False  # the failed start released the claim
    before.pop("owner")
    assert after == before
    assert not (workdir / "node" / "containerd").exists()
