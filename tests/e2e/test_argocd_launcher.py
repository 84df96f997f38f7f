"""The ArgoCD launcher leaves nothing behind: a start that fails midway (the application-controller
cannot read its kubeconfig) stops the processes it had already started (redis, repo-server)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ploy_localcluster import default_bin_dir
from ploy_localcluster.argocd import ArgoCDError, LocalArgoCD, argocd_bin_dir
from tests.delivery.tools import required

pytestmark = pytest.mark.argocd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_failed_start_stops_what_it_started(tmp_path: Path) -> None:
    if not (argocd_bin_dir() / "argocd").is_file() or shutil.which("redis-server") is None:
        message = "argocd (scripts/build-argocd.sh) or redis-server (scripts/bootstrap.sh) missing"
        if required("argocd"):
            pytest.fail(message)
        pytest.skip(message)
    started: list[str] = []
    argocd = LocalArgoCD(
        workdir=tmp_path,
        kubeconfig=tmp_path / "no-such.kubeconfig",
        tools_dir=default_bin_dir(),
        log=started.append,
    )
    with pytest.raises(ArgoCDError, match="argocd-application-controller exited"):
        argocd.start()
    pids = {
        m.group(1): int(m.group(2)) for m in (re.match(r"started (\S+) \(pid (\d+)", s) for s in started) if m
    }
    assert set(pids) == {"redis", "argocd-repo-server", "argocd-application-controller"}
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert argocd.pids() == {}
