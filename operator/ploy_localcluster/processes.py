"""The local processes a launcher starts (control plane, real node, ArgoCD, Prometheus): how they are
started, waited for, checked and stopped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

_PR_SET_PDEATHSIG = 1


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick; a race remains)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn``: ask Linux (``prctl(PR_SET_PDEATHSIG)``) to SIGKILL the child when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, or ``(no log)`` when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def spawn(
    workdir: Path,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    detach: bool = False,
) -> Proc:
    """Start ``argv`` in ``workdir`` as the leader of its own session, stdout and stderr appended to
    ``workdir/<name>.log``, stdin closed, ``env`` its whole environment (None: this process's). Unless
    ``detach``, it dies with this process (PR_SET_PDEATHSIG). Raises OSError if it cannot start."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log_file:
        popen = subprocess.Popen(
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=None if env is None else dict(env),
            start_new_session=True,
            preexec_fn=None if detach else die_with_parent,  # noqa: PLW1509 - execs right away
        )
    return Proc(name, popen, log_path)


def raise_if_exited(procs: Sequence[Proc], error: type[Exception]) -> None:
    """Raise ``error`` naming the first of ``procs`` that has exited, with its exit code and the last
    lines of its log."""
    for proc in procs:
        if proc.popen.poll() is not None:
            raise error(f"{proc.name} exited with {proc.popen.returncode}:\n{tail(proc.log)}")


def wait_ready(
    ready: Callable[[], bool],
    deadline: float,
    what: str,
    procs: Sequence[Proc],
    error: type[Exception],
    logs: Path,
    interval: float = 0.25,
) -> None:
    """Poll ``ready`` every ``interval`` seconds until it returns True; raise ``error`` when one of
    ``procs`` exits (:func:`raise_if_exited`) or when ``time.monotonic()`` passes ``deadline`` (the
    message names ``what`` and the ``logs`` directory)."""
    while True:
        raise_if_exited(procs, error)
        if ready():
            return
        if time.monotonic() > deadline:
            raise error(f"timed out waiting for {what} (logs in {logs})")
        time.sleep(interval)


def port_open(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:``port`` succeeds within 1 s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """Whether a GET of the loopback ``url`` answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class ProcessGroup:
    """What a launcher of several local processes (ArgoCD, Prometheus) shares: started processes are
    kept in ``_procs`` and logged; :meth:`stop` terminates them all; a context manager starts and stops.

    Subclasses (dataclasses) provide the fields ``workdir``, ``log`` and ``_procs``, the ``error`` their
    failures raise, and :meth:`start`.
    """

    error: ClassVar[type[Exception]] = RuntimeError
    ready_interval: ClassVar[float] = 0.25  # seconds between readiness polls in :meth:`_wait`
    workdir: Path
    log: Callable[[str], None]
    _procs: list[Proc]

    def start(self) -> None:
        """Start the processes (subclasses)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Terminate every process (SIGTERM to its session, SIGKILL after 10 s) and reap it."""
        terminate_all(self._procs)
        self._procs.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        """Raise :attr:`error` naming a process that has exited, with its log's last lines."""
        raise_if_exited(self._procs, self.error)

    def pids(self) -> dict[str, int]:
        """Process id of each running process by name."""
        return {proc.name: proc.popen.pid for proc in self._procs if proc.popen.poll() is None}

    def rss_mib(self) -> dict[str, float]:
        """Resident set size of each running process in MiB (``VmRSS`` of /proc/<pid>/status)."""
        sizes: dict[str, float] = {}
        for name, pid in self.pids().items():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[name] = int(line.split()[1]) / 1024
        return sizes

    def _started(self, proc: Proc) -> None:
        self._procs.append(proc)
        self.log(f"started {proc.name} (pid {proc.popen.pid}, log {proc.log})")

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        wait_ready(ready, deadline, what, self._procs, self.error, self.workdir, self.ready_interval)
