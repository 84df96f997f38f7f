"""The Lua sandbox (tests/delivery/lua.py) checked against real ArgoCD: the same probe of the VM and
the same fixtures through ``argocd admin settings resource-overrides`` (ArgoCD's own Lua VM and
health/action code, reading the shipped argocd-cm patch from a file; no cluster needed)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ploy_localcluster.argocd import argocd_bin_dir
from tests.delivery.lua import PROBE, run_script
from tests.delivery.tools import ARGOCD, DATA, required

pytestmark = pytest.mark.argocd

LUA = ARGOCD / "lua"
FIXTURES = sorted((DATA / "status").glob("*.json"))
ACTIONS = ("promote", "abort", "retry")
PROBE_KIND = {"apiVersion": "probe.ploy.dev/v1", "kind": "Probe", "metadata": {"name": "probe"}}


@pytest.fixture(scope="module")
def argocd() -> Path:
    """The ArgoCD binary built by scripts/build-argocd.sh; skips, or fails when the tier is required."""
    binary = argocd_bin_dir() / "argocd"
    if not binary.is_file():
        message = f"argocd not found in {argocd_bin_dir()}; run scripts/build-argocd.sh"
        if required("argocd"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="module")
def argocd_cm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """argocd-cm holding the shipped patch's data plus a health check running :data:`PROBE`."""
    data = dict(yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())["data"])
    data["resource.customizations.health.probe.ploy.dev_Probe"] = PROBE
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data}
    path = tmp_path_factory.mktemp("argocd-cm") / "argocd-cm.yaml"
    path.write_text(yaml.safe_dump(cm))
    return path


def _overrides(argocd: Path, cm: Path, obj: dict[str, Any], tmp_path: Path, *command: str) -> str:
    """stdout of ``argocd admin settings resource-overrides COMMAND <obj> [ACTION]`` (30 s timeout)."""
    resource = tmp_path / f"resource-{len(list(tmp_path.iterdir()))}.yaml"
    resource.write_text(yaml.safe_dump(obj))
    verb, *rest = command
    argv = [str(argocd), "admin", "settings", "resource-overrides", verb, str(resource), *rest]
    result = subprocess.run(
        [*argv, "--argocd-cm-path", str(cm)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _health(stdout: str) -> dict[str, str]:
    status = re.search(r"^STATUS: (.*)$", stdout, re.M)
    message = re.search(r"^MESSAGE: (.*)$", stdout, re.M)
    assert status and message, stdout
    return {"status": status.group(1), "message": message.group(1)}


def test_the_sandbox_offers_what_argocds_vm_offers(argocd: Path, argocd_cm: Path, tmp_path: Path) -> None:
    real = _health(_overrides(argocd, argocd_cm, PROBE_KIND, tmp_path, "health"))
    assert real == run_script(PROBE, PROBE_KIND)
    assert ";os=date,time;" in real["message"] and ",os," not in real["message"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_health_and_discovery_agree_with_argocd(
    path: Path, argocd: Path, argocd_cm: Path, tmp_path: Path
) -> None:
    obj = json.loads(path.read_text())["object"]
    real = _health(_overrides(argocd, argocd_cm, obj, tmp_path, "health"))
    sandbox = run_script((LUA / "health.lua").read_text(), obj)
    assert real == {"status": sandbox["status"], "message": sandbox["message"]}
    listed = _overrides(argocd, argocd_cm, obj, tmp_path, "list-actions").splitlines()[1:]
    real_actions = {line.split()[0]: line.split()[1] == "true" for line in listed if line.strip()}
    discovered = run_script((LUA / "actions" / "discovery.lua").read_text(), obj)
    assert real_actions == {name: spec["disabled"] for name, spec in discovered.items()}


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_run_in_argocd(action: str, argocd: Path, argocd_cm: Path, tmp_path: Path) -> None:
    obj = json.loads((DATA / "status" / "degraded-aborted.json").read_text())["object"]
    out = _overrides(argocd, argocd_cm, obj, tmp_path, "run-action", action)
    assert re.search(rf'ploy\.dev/{action}: "\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', out), out


def test_without_require_os_argocd_fails_as_the_sandbox_does(argocd: Path, tmp_path: Path) -> None:
    """The bug this tier found: ArgoCD's VM has no global ``os`` (the sandbox fails the same way)."""
    data = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())["data"]
    key = "resource.customizations.actions.ploy.dev_TradingBot"
    data = {key: data[key].replace('local os = require("os")', "")}
    cm = tmp_path / "argocd-cm.yaml"
    cm.write_text(
        yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data}
        )
    )
    resource = tmp_path / "bot.yaml"
    resource.write_text(yaml.safe_dump(json.loads((DATA / "status" / "baking.json").read_text())["object"]))
    argv = [str(argocd), "admin", "settings", "resource-overrides", "run-action", str(resource), "promote"]
    result = subprocess.run(
        [*argv, "--argocd-cm-path", str(cm)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert "attempt to index a non-table object(nil) with key 'date'" in result.stderr + result.stdout
