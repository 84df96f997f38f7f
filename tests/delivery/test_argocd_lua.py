"""The TradingBot health check and resource actions for ArgoCD, run in a real Lua 5.1 interpreter
against TradingBot objects: hand-written realistic statuses (validated by the operator's own status
model), and statuses recorded from the running operator when its tests committed any."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from tests.delivery.lua import PHASE_HEALTH, run_script
from tests.delivery.tools import ARGOCD, DATA, ROOT, run
from tradingbot_operator.model import TradingBotSpec, TradingBotStatus

LUA = ARGOCD / "lua"
HEALTH = (LUA / "health.lua").read_text()
DISCOVERY = (LUA / "actions" / "discovery.lua").read_text()
ACTIONS = ("promote", "abort", "retry")
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
FIXTURES = sorted((DATA / "status").glob("*.json"))
# Where tests record real TradingBot objects written by the running operator.
# tests/delivery/data/recorded_status holds what test_real_operator_runs_under_the_chart_rbac saw live,
# recorded with PLOY_RECORD_STATUS_DIR=tests/delivery/data/recorded_status.
RECORDED_GLOBS = (
    "tests/data/recorded_status/*.json",
    "tests/operator/**/recorded_status/*.json",
    "tests/delivery/data/recorded_status/*.json",
)
NO_RECORDINGS = "the operator tests have not committed recorded TradingBot statuses"


def _fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _recorded() -> list[Path]:
    return sorted({p for pattern in RECORDED_GLOBS for p in ROOT.glob(pattern)})


def test_there_are_fixtures_for_every_phase() -> None:
    phases = {_fixture(p)["object"].get("status", {}).get("phase") for p in FIXTURES}
    assert set(PHASE_HEALTH) <= phases


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_is_a_valid_tradingbot(path: Path) -> None:
    obj = _fixture(path)["object"]
    TradingBotSpec.model_validate(obj["spec"])
    if "status" in obj:
        TradingBotStatus.model_validate(obj["status"])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_health(path: Path) -> None:
    case = _fixture(path)
    result = run_script(HEALTH, case["object"])
    assert result["status"] == case["expected"]["health"], result
    assert case["expected"]["messageContains"].lower() in result["message"].lower(), result


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_action_discovery(path: Path) -> None:
    case = _fixture(path)
    actions = run_script(DISCOVERY, case["object"])
    enabled = {name: not spec["disabled"] for name, spec in actions.items()}
    assert enabled == case["expected"]["actionsEnabled"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("fixture", ["no-status", "baking", "degraded-aborted"])
def test_action_sets_only_its_annotation(action: str, fixture: str) -> None:
    obj = _fixture(DATA / "status" / f"{fixture}.json")["object"]
    result = run_script((LUA / "actions" / f"{action}.lua").read_text(), obj)
    value = result["metadata"]["annotations"][f"ploy.dev/{action}"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value)
    before = dict(obj["metadata"].get("annotations", {}))
    after = dict(result["metadata"]["annotations"])
    after.pop(f"ploy.dev/{action}")
    before.pop(f"ploy.dev/{action}", None)
    assert after == before
    assert {k: v for k, v in result.items() if k != "metadata"} == {
        k: v for k, v in obj.items() if k != "metadata"
    }


def test_health_waits_for_the_new_generation_even_when_degraded() -> None:
    obj = _fixture(DATA / "status" / "degraded-rolled-back.json")["object"]
    obj["metadata"]["generation"] += 1
    assert run_script(HEALTH, obj)["status"] == "Progressing"


def test_degraded_wins_over_paused() -> None:
    obj = _fixture(DATA / "status" / "degraded-rolled-back.json")["object"]
    obj["spec"]["paused"] = True
    assert run_script(HEALTH, obj)["status"] == "Degraded"


def test_sandbox_is_argocds_vm() -> None:
    """No io, no global os (ArgoCD preloads a safe one for ``require``), no string methods."""
    assert run_script("return tostring(io) .. tostring(os) .. tostring(string)", {}) == "nilnilnil"
    assert run_script('local os = require("os"); return os.date("!%Y") == os.date("!%Y", os.time())', {})
    with pytest.raises(LuaError):
        run_script('return ("x"):upper()', {})


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_fail_without_require_os(action: str) -> None:
    """What real ArgoCD answered before the fix: index a nil global ``os``."""
    script = (LUA / "actions" / f"{action}.lua").read_text().replace('local os = require("os")', "")
    with pytest.raises(LuaError, match="attempt to index"):
        run_script(script, {"metadata": {}})


def test_cm_patch_is_generated_from_the_lua_files() -> None:
    run(str(ROOT / ".venv" / "bin" / "python"), str(ARGOCD / "build-cm-patch.py"), "--check")
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    data = patch["data"]
    assert patch["metadata"]["name"] == "argocd-cm"
    assert data["resource.customizations.health.ploy.dev_TradingBot"] == HEALTH
    actions = yaml.safe_load(data["resource.customizations.actions.ploy.dev_TradingBot"])
    assert actions["discovery.lua"] == DISCOVERY
    assert [d["name"] for d in actions["definitions"]] == list(ACTIONS)
    for definition in actions["definitions"]:
        assert definition["action.lua"] == (LUA / "actions" / f"{definition['name']}.lua").read_text()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_shipped_patch_behaves_like_the_files(path: Path) -> None:
    data = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())["data"]
    obj = _fixture(path)["object"]
    shipped = run_script(data["resource.customizations.health.ploy.dev_TradingBot"], obj)
    assert shipped == run_script(HEALTH, obj)


@pytest.mark.parametrize(
    ("child", "expected"),
    [
        ({}, "Progressing"),
        ({"health": {"status": "Healthy"}}, "Healthy"),
        ({"health": {"status": "Degraded"}}, "Degraded"),
    ],
)
def test_application_health_for_sync_waves(child: dict[str, Any], expected: str) -> None:
    script = (LUA / "application-health.lua").read_text()
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "x"},
        "status": child,
    }
    assert run_script(script, app)["status"] == expected


def _recorded_objects() -> list[tuple[str, dict[str, Any]]]:
    objects: list[tuple[str, dict[str, Any]]] = []
    for path in _recorded():
        data = json.loads(path.read_text())
        items = data if isinstance(data, list) else [data]
        for index, item in enumerate(items):
            obj = item.get("object", item) if isinstance(item, dict) else None
            if isinstance(obj, dict) and obj.get("kind") == "TradingBot":
                objects.append((f"{path.relative_to(ROOT)}[{index}]", obj))
    return objects


def _recorded_params() -> list[Any]:
    found = _recorded_objects()
    if not found:
        return [pytest.param("none", {}, marks=pytest.mark.skip(reason=NO_RECORDINGS))]
    return [pytest.param(where, obj, id=where) for where, obj in found]


@pytest.mark.parametrize(("where", "obj"), _recorded_params())
def test_health_of_recorded_operator_statuses(where: str, obj: dict[str, Any]) -> None:
    result = run_script(HEALTH, obj)
    assert result["status"] in HEALTH_STATUSES, where
    status = obj.get("status") or {}
    observed = status.get("observedGeneration") == obj["metadata"].get("generation")
    phase = status.get("phase")
    if observed and phase in PHASE_HEALTH:
        assert result["status"] == PHASE_HEALTH[phase], (where, phase, result)
    actions = run_script(DISCOVERY, obj)
    assert set(actions) == set(ACTIONS)
    enabled = {name for name, spec in actions.items() if not spec["disabled"]}
    if observed and phase == "AwaitingPromotion":
        assert "promote" in enabled and "abort" in enabled, where
    if observed and phase == "Degraded" and (status.get("lastRollout") or {}).get("result") == "RolledBack":
        assert enabled == {"retry"}, where
