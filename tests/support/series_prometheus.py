"""A real Prometheus process on loopback for tests, scraping a loopback target whose series the test sets.

``SeriesTarget`` serves ``/metrics`` in the Prometheus text format from a dict the test changes;
``PrometheusProcess`` runs the Prometheus the ``prometheus`` tier uses (v3.5.0, built by
``scripts/build-prometheus.sh``) with a temporary configuration scraping that target every second, so
the operator's analysis queries run through the real PromQL engine. Every wait has a timeout; the
process is stopped (SIGTERM, then SIGKILL) by :meth:`PrometheusProcess.stop`.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from ploy_localcluster.processes import free_port
from ploy_localcluster.prometheus import prometheus_bin_dir

__all__ = ["PrometheusProcess", "SeriesTarget", "free_port", "prometheus_scraping"]

SCRAPE_INTERVAL = "1s"


def prometheus_binary() -> Path:
    """The ``prometheus`` executable scripts/build-prometheus.sh builds (one version for every tier)."""
    return prometheus_bin_dir() / "prometheus"


class SeriesTarget:
    """``/metrics`` on 127.0.0.1 with the series in :attr:`series` (``{'name{labels}': value}``)."""

    def __init__(self) -> None:
        self.series: dict[str, float] = {}
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with target._lock:
                    body = "".join(f"{key} {value!r}\n" for key, value in target.series.items()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="series-target", daemon=True)

    def set(self, key: str, value: float | None) -> None:
        """Serve ``key`` (a series, e.g. ``x{a="b"}``) with ``value``; None stops serving it."""
        with self._lock:
            if value is None:
                self.series.pop(key, None)
            else:
                self.series[key] = value

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class PrometheusProcess:
    """``prometheus`` on 127.0.0.1:<free port> scraping ``target`` every second; :attr:`url` its base URL."""

    def __init__(self, workdir: Path, target: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL}\n"
            f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
            "scrape_configs:\n"
            "  - job_name: series\n"
            f"    scrape_interval: {SCRAPE_INTERVAL}\n"
            f"    scrape_timeout: {SCRAPE_INTERVAL}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, within: float = 60.0) -> None:
        """Start (with a fresh TSDB) and wait until ``/-/ready`` answers 200 and a scrape has landed."""
        self.runs += 1
        data = self.workdir / f"data-{self.runs}"
        log = (self.workdir / f"prometheus-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(prometheus_binary()),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}; see {self.workdir}")
            try:
                ready = httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
                if ready and self.value("up") == 1.0:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {within}s; see {self.workdir}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def value(self, promql: str) -> float | None:
        """The single value of ``promql`` now (None: no series)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=2.0).json()
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, promql: str, expected: float | None, within: float = 15.0) -> None:
        """Wait until ``promql`` evaluates to ``expected`` (a scrape or two after a change)."""
        deadline = time.monotonic() + within
        seen: float | None = None
        while time.monotonic() < deadline:
            seen = self.value(promql)
            if seen == expected:
                return
            time.sleep(0.2)
        raise AssertionError(f"{promql} is {seen}, expected {expected}")


@contextmanager
def prometheus_scraping(workdir: Path) -> Iterator[tuple[PrometheusProcess, SeriesTarget]]:
    """A started :class:`SeriesTarget` and a started :class:`PrometheusProcess` scraping it."""
    if not prometheus_binary().is_file():
        raise FileNotFoundError(f"{prometheus_binary()} is missing: run scripts/build-prometheus.sh")
    target = SeriesTarget()
    target.start()
    prometheus = PrometheusProcess(workdir, target.address)
    try:
        prometheus.start()
        yield prometheus, target
    finally:
        prometheus.stop()
        target.stop()
