"""Benchmark: real pods on the real node (``LocalCluster(real_node=True)``).

Starts its own control plane with the real node (images from scripts/build-images.sh) and PostgreSQL
on the node's bridge, then for each of ``--runs`` bot pods (the project image, the readiness and
liveness probes the operator gives its pods: ``/health/ready`` every 5 s, 2 failures):

* **create → Ready**: ``kubectl apply`` of the pod until its Ready condition is True;
* **database lost → NotReady**: packets from the pod to PostgreSQL are rejected (iptables, TCP reset);
  until Ready is False (the bot's ``/health/ready`` answers 503, kubelet needs 2 failed probes);
* **database back → Ready**: the rule removed, until Ready is True again.

Also reports the cluster start (with the image import), the image build (0 when cached) and the size
of the bot image archive. Polls every ``--poll`` seconds. Prints one JSON object (seconds, MiB).
Usage: ``.venv/bin/python bench/real_node.py [--runs 5] [--poll 0.1]``. Needs root.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchsupport import default_bin_dir, summary  # noqa: E402

from ploy_localcluster.node import POD_CIDR  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.realnode import NODE_IP, NODE_NAME, build_images, start_node_cluster  # noqa: E402

JSON = dict[str, Any]


def bot_pod(name: str, image: str, dsn: str) -> JSON:
    """A bot pod as the operator shapes it (probes, non-root), outside any TradingBot."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE_NAME,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "bot",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "env": [{"name": "PLOY_DATABASE_URL", "value": dsn}],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": "/health/ready", "port": "http"},
                        "periodSeconds": 5,
                        "timeoutSeconds": 2,
                        "failureThreshold": 2,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/health/live", "port": "http"},
                        "periodSeconds": 10,
                        "timeoutSeconds": 2,
                        "failureThreshold": 3,
                    },
                }
            ],
        },
    }


def until(predicate: Callable[[], bool], poll: float, timeout: float = 120) -> float:
    """Seconds until ``predicate()`` holds; RuntimeError after ``timeout`` seconds."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"no change after {timeout}s")
        time.sleep(poll)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.1)
    args = parser.parse_args()

    t0 = time.monotonic()
    index = build_images()
    build_seconds = time.monotonic() - t0
    images = json.loads(index.read_text())
    workdir = Path(tempfile.mkdtemp(prefix="ploy-bench-node-"))
    t0 = time.monotonic()
    cluster = start_node_cluster(workdir, default_bin_dir())
    start_seconds = time.monotonic() - t0
    import_seconds = float((cluster.local.node.workdir / "import-seconds").read_text())
    pg = start_postgres(listen_also=NODE_IP, allow_network=POD_CIDR)
    ready_s: list[float] = []
    not_ready_s: list[float] = []
    back_s: list[float] = []
    try:
        dsn = f"postgresql://postgres@{NODE_IP}:{pg.port}/postgres"
        kubectl = cluster.handle.kubectl
        for run in range(args.runs):
            name = f"bot-{run}"

            def ready(pod: str = name) -> bool | None:
                out = kubectl("get", "pod", pod, "-o", "json", check=False).stdout
                if not out:
                    return None
                conditions = json.loads(out).get("status", {}).get("conditions", [])
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            kubectl("apply", "-f", "-", input=json.dumps(bot_pod(name, cluster.bot_image, dsn)))
            ready_s.append(until(lambda: ready() is True, args.poll))
            ip = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)["status"]["podIP"]
            rule = ["INPUT", "-s", ip, "-d", NODE_IP, "-p", "tcp", "--dport", str(pg.port),
                    "-j", "REJECT", "--reject-with", "tcp-reset"]  # fmt: skip
            subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
            try:
                not_ready_s.append(until(lambda: ready() is False, args.poll))
            finally:
                subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)
            back_s.append(until(lambda: ready() is True, args.poll))
            kubectl("delete", "pod", name, "--wait=false")
    finally:
        pg.destroy()
        cluster.local.stop()
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "image_build_seconds_this_run": round(build_seconds, 1),
                "bot_image_archive_mib": round(Path(images["bot"]["archive"]).stat().st_size / 2**20),
                "cluster_with_node_start_seconds": round(start_seconds, 1),
                "image_import_seconds": import_seconds,
                "pod_create_to_ready": summary(ready_s),
                "database_lost_to_not_ready": summary(not_ready_s),
                "database_back_to_ready": summary(back_s),
            }
        )
    )


if __name__ == "__main__":
    main()
