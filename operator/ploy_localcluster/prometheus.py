"""Real Prometheus beside a :class:`LocalCluster`: prometheus-operator and Prometheus as local processes.

Both come from ``scripts/build-prometheus.sh``. prometheus-operator (``<cache>/bin/prometheus-operator-v*``,
its CRDs in ``crds/``) watches the cluster like in a pod, but with the admin client certificate. It turns
one ``Prometheus`` resource (``replicas: 0``: no pod, only the generated objects) and every
ServiceMonitor and PrometheusRule it selects into its generated configuration Secret
(``prometheus-<name>``, key ``prometheus.yaml.gz``) and rule ConfigMaps (``prometheus-<name>-rulefiles-N``).
A sync thread plays the part of the pod's config-reloader: it copies both into ``workdir``, adjusting only
what differs outside a pod (the API server address and client certificate of each
``kubernetes_sd_configs`` entry, the rule files' directory, the ``$(POD_NAME)`` and ``$(SHARD)`` the
config-reloader substitutes), and asks Prometheus to reload (``POST /-/reload``) when they changed.

Prometheus (``<cache>/bin/prometheus-v*``) is built from its Go module too: Debian's package (2.42) has
no Kubernetes service discovery, which every ServiceMonitor becomes. The resource's ``spec.version``
tells the operator which version to generate configuration for. Prometheus listens on loopback
(and, with ``listen_also``, on one more address on the same port, e.g. the node's bridge address, so
that pods such as the Ploy operator's can query it) and scrapes the targets its ServiceMonitors select:
pods on the real node's bridge are reachable from the host. Its HTTP API is at
:attr:`LocalPrometheus.url` (and :meth:`LocalPrometheus.url_on` the other address).

Every child runs in its own session and dies with the Python process that started it; :meth:`stop`
terminates both (and the sync thread), also after a failed :meth:`start`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ploy_localcluster.launcher import cache_dir
from ploy_localcluster.processes import (
    Proc,
    ProcessGroup,
    free_port,
    http_ok,
    spawn,
)

NAMESPACE = "monitoring"
PROMETHEUS_VERSION = "v3.5.0"  # what scripts/build-prometheus.sh builds (prometheus-operator v0.85's default)
POD_RULES_DIR = "/etc/prometheus/rules/"


class PrometheusError(RuntimeError):
    """Raised when a binary is missing, a process dies, or something does not become ready in time."""


def prometheus_operator_bin_dir() -> Path:
    """The prometheus-operator build: ``$PLOY_PROMETHEUS_OPERATOR_BIN``, else the newest
    ``<cache>/bin/prometheus-operator-v*`` (a path that does not exist when nothing was built)."""
    if env := os.environ.get("PLOY_PROMETHEUS_OPERATOR_BIN"):
        return Path(env)
    found = sorted((cache_dir() / "bin").glob("prometheus-operator-v*"))
    return found[-1] if found else cache_dir() / "bin" / "prometheus-operator-missing"


def prometheus_bin_dir() -> Path:
    """The Prometheus build: ``$PLOY_PROMETHEUS_BIN``, else the newest ``<cache>/bin/prometheus-v*``
    (a path that does not exist when nothing was built)."""
    if env := os.environ.get("PLOY_PROMETHEUS_BIN"):
        return Path(env)
    found = sorted((cache_dir() / "bin").glob("prometheus-v*"))
    return found[-1] if found else cache_dir() / "bin" / "prometheus-missing"


def adjust_config(config: dict[str, Any], server: str, pki_dir: Path, rules_dir: Path) -> dict[str, Any]:
    """The operator's generated configuration (parsed YAML) made to run outside a pod, as a new dict.

    Each ``kubernetes_sd_configs`` entry gets ``api_server`` = ``server`` and the admin client
    certificate of ``pki_dir`` (``ca.crt``, ``admin.crt``, ``admin.key``) instead of the in-cluster
    ServiceAccount; rule files move from ``/etc/prometheus/rules/`` to ``rules_dir``; what the pod's
    config-reloader substitutes from its environment does here too: ``$(POD_NAME)`` becomes ``local``,
    ``$(SHARD)`` (the shard a target's address hashes to is kept) becomes ``0``, the one shard. Nothing
    else changes."""
    text = json.dumps(config).replace("$(POD_NAME)", "local").replace("$(SHARD)", "0")
    out: dict[str, Any] = json.loads(text)
    tls = {
        "ca_file": str(pki_dir / "ca.crt"),
        "cert_file": str(pki_dir / "admin.crt"),
        "key_file": str(pki_dir / "admin.key"),
    }
    for job in out.get("scrape_configs") or []:
        for sd in job.get("kubernetes_sd_configs") or []:
            sd.pop("kubeconfig_file", None)
            sd["api_server"] = server
            sd["tls_config"] = dict(tls)
    out["rule_files"] = [
        str(rules_dir / f[len(POD_RULES_DIR) :]) if f.startswith(POD_RULES_DIR) else f
        for f in out.get("rule_files") or []
    ]
    return out


@dataclass
class LocalPrometheus(ProcessGroup):
    """prometheus-operator and Prometheus for the cluster at ``server`` (``kubeconfig``: its admin
    kubeconfig; ``pki_dir``: its CA and admin client certificate), files and logs under ``workdir``.

    ``interval`` is the scrape and rule evaluation interval (a Prometheus duration); ``timeout``
    bounds :meth:`start` in seconds. ``listen_also`` is an address (e.g. ``10.244.0.1``) Prometheus
    listens on besides loopback, on the same port. The ``Prometheus`` resource ``name`` in namespace
    :data:`NAMESPACE` selects every ServiceMonitor and PrometheusRule in every namespace.
    """

    error: ClassVar[type[Exception]] = PrometheusError
    ready_interval: ClassVar[float] = 0.5

    workdir: Path
    kubeconfig: Path
    server: str
    pki_dir: Path
    kubectl_binary: Path
    bin_dir: Path = field(default_factory=prometheus_operator_bin_dir)
    prometheus_dir: Path = field(default_factory=prometheus_bin_dir)
    name: str = "ploy"
    interval: str = "2s"
    timeout: float = 120.0
    listen_also: str | None = None
    log: Callable[[str], None] = field(default=lambda _msg: None)
    ports: dict[str, int] = field(default_factory=dict)
    last_sync_error: str | None = None
    _procs: list[Proc] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _digest: str = ""

    @property
    def operator_binary(self) -> Path:
        """The prometheus-operator binary; raises PrometheusError when it was not built."""
        path = self.bin_dir / "operator"
        if not path.is_file():
            raise PrometheusError(f"operator not found in {self.bin_dir}; run scripts/build-prometheus.sh")
        return path

    @property
    def prometheus_binary(self) -> Path:
        """The Prometheus binary; raises PrometheusError when it was not built."""
        path = self.prometheus_dir / "prometheus"
        if not path.is_file():
            raise PrometheusError(
                f"prometheus not found in {self.prometheus_dir}; run scripts/build-prometheus.sh"
            )
        return path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of Prometheus (its HTTP API under ``/api/v1``)."""
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def url_on(self, host: str) -> str:
        """``http://<host>:<port>`` of Prometheus; ``host`` must be ``listen_also`` (or 127.0.0.1).
        Raises PrometheusError for an address it does not listen on."""
        if host not in ("127.0.0.1", self.listen_also):
            raise PrometheusError(f"prometheus does not listen on {host} (listen_also={self.listen_also})")
        return f"http://{host}:{self.ports['prometheus']}"

    # -- cluster objects -------------------------------------------------------------------------

    def install(self) -> None:
        """Apply the build's monitoring.coreos.com CRDs (server-side) and wait until they are
        Established, then create namespace :data:`NAMESPACE` and the ``Prometheus`` resource.
        Raises PrometheusError when kubectl fails."""
        crds = sorted((self.bin_dir / "crds").glob("monitoring-*.yaml"))
        if not crds:
            raise PrometheusError(f"no CRDs in {self.bin_dir / 'crds'}; run scripts/build-prometheus.sh")
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", *[a for c in crds for a in ("-f", str(c))]
        )
        names = [f"crd/{c.stem.removeprefix('monitoring-')}.monitoring.coreos.com" for c in crds]
        deadline = time.monotonic() + 60
        while True:  # kubectl wait fails outright while a new CRD has no status.conditions yet
            try:
                self.kubectl("wait", "--for=condition=Established", "--timeout=10s", *names)
                break
            except PrometheusError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([self._namespace(), self._resource()]))

    def _namespace(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}

    def _resource(self) -> dict[str, Any]:
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": {
                # No pod: the local process below runs the generated configuration.
                "replicas": 0,
                "version": PROMETHEUS_VERSION,
                "scrapeInterval": self.interval,
                "evaluationInterval": self.interval,
                "serviceMonitorSelector": {},
                "serviceMonitorNamespaceSelector": {},
                "podMonitorSelector": {},
                "podMonitorNamespaceSelector": {},
                "ruleSelector": {},
                "ruleNamespaceSelector": {},
            },
        }

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        """Run kubectl against the cluster; returns stdout. Raises PrometheusError (with kubectl's
        stderr) when it fails, TimeoutExpired after ``timeout`` seconds."""
        result = subprocess.run(
            [str(self.kubectl_binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise PrometheusError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start prometheus-operator, wait for its first generated configuration, start Prometheus on
        it and the sync thread. On any failure everything started is stopped before the error."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        prometheus = self.prometheus_binary
        self.operator_binary  # noqa: B018 - raises when missing
        (self.workdir / "rules").mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        self.ports = {"operator": free_port(), "prometheus": free_port()}
        deadline = time.monotonic() + self.timeout
        operator = [
            str(self.operator_binary),
            f"--apiserver={self.server}",
            f"--ca-file={self.pki_dir / 'ca.crt'}",
            f"--cert-file={self.pki_dir / 'admin.crt'}",
            f"--key-file={self.pki_dir / 'admin.key'}",
            f"--web.listen-address=127.0.0.1:{self.ports['operator']}",
            f"--prometheus-instance-namespaces={NAMESPACE}",
            "--log-level=info",
        ]
        self._spawn("prometheus-operator", operator)
        self._wait(self.sync, deadline, "the operator's generated configuration")
        # --web.listen-address can be repeated (Prometheus 3: `prometheus --help`).
        hosts = ["127.0.0.1", *([self.listen_also] if self.listen_also else [])]
        self._spawn(
            "prometheus",
            [
                str(prometheus),
                f"--config.file={self.workdir / 'prometheus.yaml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                *[f"--web.listen-address={host}:{self.ports['prometheus']}" for host in hosts],
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
            ],
        )
        self._wait(lambda: http_ok(f"{self.url}/-/ready"), deadline, "prometheus ready")
        self._thread = threading.Thread(target=self._sync_loop, name="prometheus-config-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sync thread and terminate both processes (SIGTERM, SIGKILL after 10 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        super().stop()

    # -- the config-reloader's part ----------------------------------------------------------------

    def sync(self) -> bool:
        """Copy the operator's generated configuration and rule files into ``workdir`` (adjusted, see
        :func:`adjust_config`); when they changed and Prometheus runs, reload it.

        Returns False while the operator has not generated the configuration yet, else True.
        Raises PrometheusError when kubectl fails or Prometheus refuses the reload."""
        secret = self.kubectl(
            "-n", NAMESPACE, "get", "secret", f"prometheus-{self.name}", "-o", "json", "--ignore-not-found"
        )
        if not secret.strip():
            return False
        data = json.loads(secret).get("data") or {}
        if "prometheus.yaml.gz" not in data:
            return False
        config = yaml.safe_load(gzip.decompress(base64.b64decode(data["prometheus.yaml.gz"])))
        selector = f"prometheus-name={self.name},managed-by=prometheus-operator"
        cms = json.loads(self.kubectl("-n", NAMESPACE, "get", "configmaps", "-l", selector, "-o", "json"))[
            "items"
        ]
        rules = {
            f"{cm['metadata']['name']}/{key}": text
            for cm in cms
            for key, text in sorted((cm.get("data") or {}).items())
        }
        rendered = yaml.safe_dump(
            adjust_config(config, self.server, self.pki_dir, self.workdir / "rules"), sort_keys=False
        )
        digest = hashlib.sha256(json.dumps([rendered, rules], sort_keys=True).encode()).hexdigest()
        if digest == self._digest:
            return True
        rules_dir = self.workdir / "rules"
        shutil.rmtree(rules_dir, ignore_errors=True)
        for relative, text in rules.items():
            path = rules_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (self.workdir / "prometheus.yaml").write_text(rendered)
        if "prometheus" in self.ports and any(p.name == "prometheus" for p in self._procs):
            self._reload()
        self._digest = digest
        self.log(
            f"configuration synced ({len(config.get('scrape_configs') or [])} jobs, {len(rules)} rule files)"
        )
        return True

    def _reload(self) -> None:
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")  # noqa: S310 - loopback http only
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback http only
                pass
        except urllib.error.HTTPError as exc:
            raise PrometheusError(
                f"prometheus refused the configuration: {exc.read().decode()[:2000]}"
            ) from exc

    def _sync_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.sync()
                self.last_sync_error = None
            except (PrometheusError, subprocess.TimeoutExpired, OSError) as exc:
                self.last_sync_error = str(exc)
                self.log(f"configuration sync failed: {exc}")

    # -- the HTTP API ----------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` with query ``params``; returns its ``data``. Raises PrometheusError
        when the answer's status is not ``success``, OSError when Prometheus is unreachable."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:  # noqa: S310
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise PrometheusError(f"/api/v1/{path}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` now: ``[{"metric": {labels}, "value": [ts, "v"]}, ...]``."""
        result: list[dict[str, Any]] = self.api("query", query=promql)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: every pending or firing alert (``labels``, ``state``, ``value``, ...)."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def targets(self) -> list[dict[str, Any]]:
        """``/api/v1/targets`` active targets (``labels``, ``scrapePool``, ``health``, ``lastError``)."""
        targets: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return targets

    # -- internals -------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        self._started(spawn(self.workdir, name, argv))
