"""The local processes a launcher starts (control plane, real node, ArgoCD), and how they are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Proc:
    """One started process: its ``name``, the ``Popen`` (leader of its own session) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def terminate_all(procs: Sequence[Proc], grace_s: float = 10.0) -> None:
    """SIGTERM every process's session, last started first, then reap each; a process still alive
    after ``grace_s`` seconds gets SIGKILL (and is reaped within another ``grace_s``)."""
    for proc in reversed(procs):
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=grace_s)
