"""The operator SIGKILLed at every rollout phase resumes from the objects and their status alone.

Each run: ``ploy-operator run`` as a subprocess drives a TradingBot into one phase, is killed
with SIGKILL at a seeded random moment inside it, stays dead for a seeded random while (the cluster
moves on: pods turn Ready or fail), then a fresh operator process takes over. The run passes when the
rollout ends where it must (no stuck rollout), the epoch never went backwards and ends at the exact
value (no double promotion or rollback), and the active Service selects ``status.activeColor``.

Phases: Migrating, Progressing, Baking, Verifying (post-promotion window), RollingBack (the promoted
color fails inside its window, around the kill) and ScalingDown (the warm previous color waits for its
scale-down). Each run has its own namespace. Per seed, the phases are shared out over a few chains
that run concurrently; within a chain, each replacement process has finished its imports before the
process it replaces is killed (on a busy 2-core machine the imports alone take seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient

from tests.operator.operator_harness import (
    JSON,
    BotView,
    OperatorProcess,
    create_db_secret,
    eventually,
    install_crd,
    new_view,
    operator_subprocess,
    rollout_spec,
    tradingbot,
)
from tests.support.cluster import ClusterHandle

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

ALL_PHASES = ("Migrating", "Progressing", "Baking", "Verifying", "RollingBack", "ScalingDown")
# PLOY_KILL_PHASES=Baking,Verifying narrows the runs while debugging.
PHASES = tuple(p for p in os.environ.get("PLOY_KILL_PHASES", ",".join(ALL_PHASES)).split(",") if p)
SEEDS = (1, 2, 3, 4)
# Independent chains of operator processes per test; each runs its share of the phases in turn.
CHAINS = 3
IMAGE_1 = "registry.example/ploy-bot:1.0.0"
IMAGE_2 = "registry.example/ploy-bot:2.0.0"
# The deadline is long on purpose: a replacement operator on a busy 2-core machine can take many
# seconds to come up, and a deadline passing while no operator runs is a legitimate rollback.
ROLLOUT = rollout_spec(
    bakeSeconds=3, progressDeadlineSeconds=180, postPromotionSeconds=6, scaleDownDelaySeconds=8
)


@dataclass
class Samples:
    """What a background poller saw: (epoch, activeColor, active Service color) over time."""

    seen: list[tuple[int, str | None, str | None]] = field(default_factory=list)


async def _sample(view: BotView, samples: Samples, stop: asyncio.Event) -> None:
    while not stop.is_set():
        body = await view.kube.get_tradingbot(view.namespace, view.name)
        status: JSON = (body or {}).get("status") or {}
        samples.seen.append(
            (int(status.get("epoch", 0)), status.get("activeColor"), await view.service_color())
        )
        await asyncio.sleep(0.2)


def _in_phase(phase: str, status: JSON) -> bool:
    if phase in ("Verifying", "RollingBack"):
        return bool(status.get("phase") == "Verifying")
    if phase == "ScalingDown":
        return status.get("phase") == "Healthy" and "standby" in status and status.get("epoch") == 2
    return bool(status.get("phase") == phase)


def _second_revision(phase: str) -> JSON:
    spec: JSON = {"image": IMAGE_2}
    if phase == "Migrating":
        spec["rollout"] = {**ROLLOUT, "migration": {"enabled": True, "args": ["migrate"]}}
    if phase == "Progressing":
        # Progressing must last long enough for a poll to see it on a loaded machine: green's pod
        # becomes Ready 5 s after it starts.
        spec["podTemplate"] = {"annotations": {"ploy.dev/ready-after": "5s"}}
    if phase == "RollingBack":
        # Verifying must last long enough for a poll to see it on a loaded machine: green fails 5 s
        # after its promotion (bake 3 s + 5 s), well inside a 20 s post-promotion window.
        spec["rollout"] = {**ROLLOUT, "postPromotionSeconds": 20, "scaleDownDelaySeconds": 20}
        spec["podTemplate"] = {
            "labels": {"ploy.dev/fault": "ready-then-fail"},
            "annotations": {"ploy.dev/fail-after": "8s"},
        }
    return {"spec": spec}


def _finished(phase: str, status: JSON) -> bool:
    if phase == "RollingBack":
        return (
            status.get("activeColor") == "blue"
            and status.get("lastRollout", {}).get("result") == "RolledBack"
        )
    return (
        status.get("phase") == "Healthy"
        and status.get("activeColor") == "green"
        and "rollout" not in status
        and "standby" not in status
    )


async def _one_run(
    cluster: ClusterHandle,
    api: ApiClient,
    namespace: str,
    phase: str,
    seed: int,
    first: OperatorProcess,
    second: OperatorProcess,
) -> str:
    """Drive one TradingBot into ``phase`` under ``first``, SIGKILL it, let ``second`` take over."""
    rng = random.Random(f"{phase}/{seed}")
    cluster.kubectl("create", "namespace", namespace)
    create_db_secret(cluster, namespace)
    view = new_view(api, namespace, "killme")
    samples = Samples()
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample(view, samples, stop))
    try:
        manifest = tradingbot("killme", image=IMAGE_1, rollout=dict(ROLLOUT))
        await view.create(manifest)
        await view.wait_status(
            lambda s: s.get("phase") == "Healthy" and s.get("epoch") == 1, "first rollout", within=90
        )
        await view.patch(_second_revision(phase))
        await view.wait_status(lambda s: _in_phase(phase, s), f"phase {phase}", within=90)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        first.kill()
        killed_at = (await view.status()).get("phase")
        await asyncio.sleep(rng.uniform(0.0, 3.0))  # the cluster moves on while no operator runs
        second.go()
        status = await view.wait_status(lambda s: _finished(phase, s), f"resume after {phase}", within=120)
        expected_epoch = 3 if phase == "RollingBack" else 2
        assert status["epoch"] == expected_epoch, status
        active: str = status["activeColor"]

        async def service_follows() -> bool:
            return await view.service_color() == active

        await eventually(service_follows, "active Service selects status.activeColor", within=20)
        idle = "blue" if active == "green" else "green"
        await view.wait_replicas(idle, 0, within=30)
        assert await view.replicas(active) == 1
    finally:
        stop.set()
        await sampler
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    epochs = [epoch for epoch, _, _ in samples.seen]
    assert epochs == sorted(epochs), f"epoch went backwards: {epochs}"
    # The Service follows the status write of a switch (status first, then selector), so a sample may
    # catch it one switch behind (or, as status and Service are two reads, one ahead); never further.
    active_by_epoch = {epoch: color for epoch, color, _ in samples.seen if color is not None}
    for epoch, _, service in samples.seen:
        if service in ("blue", "green") and epoch in active_by_epoch:
            nearby = {active_by_epoch.get(e) for e in (epoch - 1, epoch, epoch + 1)}
            assert service in nearby, f"Service selected {service} at epoch {epoch}: {active_by_epoch}"
    return f"{phase}: killed in {killed_at}"


async def _chain(
    cluster: ClusterHandle, api: ApiClient, prefix: str, phases: tuple[str, ...], seed: int, log: Path
) -> list[str]:
    """Runs one after another, each operator process handing over to a warm replacement.

    Every process watches the namespaces ``<prefix>-*``; the replacement has finished its imports
    (seconds on a busy machine) before the one it replaces is killed.
    """
    pattern = f"{prefix}-*"
    results: list[str] = []
    with contextlib.ExitStack() as stack:
        current = stack.enter_context(operator_subprocess(cluster, pattern, log))
        current.go()
        for index, phase in enumerate(phases):
            warm = stack.enter_context(operator_subprocess(cluster, pattern, log))
            namespace = f"{prefix}-{index}-{phase.lower()}"
            results.append(await _one_run(cluster, api, namespace, phase, seed, current, warm))
            current = warm
    return results


def _chain_logs(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace")[-4000:] for p in sorted(directory.glob("chain*.log"))}


@pytest.mark.parametrize("seed", SEEDS)
async def test_operator_killed_at_every_phase_resumes(
    cluster: ClusterHandle, k8s_api: ApiClient, tmp_path: Path, seed: int
) -> None:
    if cluster.kind != "local":
        pytest.skip("fault injection needs the kwok stages of the local control plane")
    install_crd(cluster)
    tag = random.Random(seed).randrange(16**6)
    groups = [PHASES[i::CHAINS] for i in range(CHAINS)]
    chains = [
        _chain(cluster, k8s_api, f"kill-{seed}-{tag:06x}-{i}", group, seed, tmp_path / f"chain{i}.log")
        for i, group in enumerate(groups)
        if group
    ]
    results: list[Any] = await asyncio.gather(*chains, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        logs = _chain_logs(tmp_path)
        raise AssertionError(f"runs failed: {failures!r}\nlogs: {logs}")
    runs = [run for chain in results for run in chain]
    assert len(runs) == len(PHASES), runs
