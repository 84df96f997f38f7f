"""Shared helpers of the delivery tests: the real helm binary, rendering charts, reading YAML streams."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ploy_localcluster import default_bin_dir

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
OPERATOR_CHART = CHARTS / "ploy-operator"
BOT_CHART = CHARTS / "tradingbot"
ARGOCD = ROOT / "argocd"
DATA = Path(__file__).parent / "data"


def required(tier: str) -> bool:
    """Whether ``PLOY_REQUIRE_TIERS`` (set by ``make test``) demands ``tier``: absence then fails."""
    return tier in {t.strip() for t in os.environ.get("PLOY_REQUIRE_TIERS", "").split(",")}


def any_tier_required() -> bool:
    """Whether ``PLOY_REQUIRE_TIERS`` is set at all (``make test``): then missing tools fail, never skip."""
    return bool(os.environ.get("PLOY_REQUIRE_TIERS", "").strip())


def host_tool(name: str, hint: str) -> str:
    """Path of a host tool (promtool, jq, uv) on PATH; skips, or fails when any tier is required."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found on PATH: {hint}"
    if any_tier_required():
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str, tier: str = "cluster") -> str:
    """Path of ``name`` from the control-plane bin dir or PATH; skips (or fails when ``tier`` is required)."""
    local = default_bin_dir() / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found in {default_bin_dir()} or on PATH"
    if required(tier):
        pytest.fail(message)
    pytest.skip(message)


def run(
    *args: str,
    input: str | None = None,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; raises AssertionError with its stderr when ``check`` fails."""
    result = subprocess.run(
        args, input=input, capture_output=True, text=True, check=False, timeout=600, cwd=cwd, env=env
    )
    if check and result.returncode != 0:
        command = " ".join(args)
        raise AssertionError(f"{command} exited {result.returncode}:\n{result.stderr}\n{result.stdout}")
    return result


def helm_template(
    chart: Path,
    *extra: str,
    release: str = "demo",
    namespace: str = "ploy-test",
    values: Path | None = None,
) -> str:
    """``helm template`` of ``chart`` (test hooks included) as one YAML stream."""
    args = [tool("helm"), "template", release, str(chart), "--namespace", namespace]
    if values is not None:
        args += ["--values", str(values)]
    return run(*args, *extra).stdout


def documents(stream: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of ``stream``."""
    return [d for d in yaml.safe_load_all(stream) if d]


def ci_values(chart: Path) -> list[Path]:
    """The chart's ``ci/*-values.yaml`` scenarios (helm's chart-testing convention)."""
    return sorted((chart / "ci").glob("*-values.yaml"))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The documents of one ``kind``."""
    return [d for d in docs if d.get("kind") == kind]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind/name, pod spec)`` of every Pod and pod template in ``docs``."""
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Pod":
            yield name, doc["spec"]
        elif doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
            yield name, doc["spec"]["template"]["spec"]
