"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, owned by the test session.

The server runs as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses root),
listens on 127.0.0.1 on a free port with trust authentication, and lives in a temporary directory
that is removed on stop. Tests may stop and start it to simulate an outage.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """Raised when no PostgreSQL server binaries are installed (run ``make test`` to install them)."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(
            "initdb not found under /usr/lib/postgresql/*/bin; apt-get install postgresql"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster; ``dsn`` points at its ``postgres`` database as superuser."""

    root: Path
    port: int
    bindir: Path = field(default_factory=_bin_dir)
    # Extra listen address and client network, e.g. the real node's bridge address and pod CIDR.
    listen_also: str | None = None
    allow_network: str | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def init(self) -> None:
        """Create the cluster (trust auth, fsync off: test data is disposable)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        if self.allow_network:
            with (self.datadir / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.allow_network} trust\n")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        listen = "127.0.0.1" + (f",{self.listen_also}" if self.listen_also else "")
        opts = (
            f"-p {self.port} -c listen_addresses={listen} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` aborts sessions; ``immediate`` simulates a crash)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop then start the server on the same port and data."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(listen_also: str | None = None, allow_network: str | None = None) -> PostgresServer:
    """Initialise and start a fresh server in a new temporary directory; ``listen_also`` adds a listen
    address (e.g. the real node's bridge address) and ``allow_network`` a trusted client CIDR."""
    server = PostgresServer(
        root=Path(tempfile.mkdtemp(prefix="ploy-pg-")),
        port=free_port(),
        listen_also=listen_also,
        allow_network=allow_network,
    )
    server.init()
    server.start()
    return server
