"""What the bot's role tests on the API server share: the CRD, one TradingBot, kubectl, and status
writes the way the operator makes them (the status subresource, a merge patch)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support.cluster import ClusterHandle
from tests.support.tradingbot import tradingbot_manifest

CRD = Path(__file__).resolve().parents[3] / "manifests" / "crds" / "tradingbots.ploy.dev.yaml"
NAME = "arb"


def kubectl(cluster: ClusterHandle, *args: str, input: str | None = None) -> str:
    """Run kubectl; its stdout. AssertionError with kubectl's stderr when it fails."""
    done = cluster.kubectl(*args, input=input, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def create_tradingbot(cluster: ClusterHandle, namespace: str) -> None:
    """Install the CRD (wait until Established) and apply TradingBot ``namespace/arb`` (no status)."""
    kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.wait_crd_established("tradingbots.ploy.dev")
    manifest = tradingbot_manifest(
        NAME,
        "registry.example/ploy-bot:0.1.0",
        rollout={},
        condition_id="0x" + "ab" * 32,
        tokens=["1001", "1002"],
        namespace=namespace,
    )
    kubectl(cluster, "apply", "-f", "-", input=yaml.safe_dump(manifest))


def set_status(cluster: ClusterHandle, namespace: str, color: str, epoch: int) -> None:
    """Make ``color`` active at ``epoch`` in one status write, as the operator's promotion does."""
    patch = json.dumps({"status": {"activeColor": color, "epoch": epoch}})
    kubectl(cluster, "-n", namespace, "patch", "tradingbots.ploy.dev", NAME, "--subresource=status",
            "--type=merge", "-p", patch)  # fmt: skip
