"""The GitHub workflows, dependabot and pre-commit configuration: actions pinned by full commit SHA,
minimal permissions, every script a workflow calls exists, and the YAML pre-commit would check parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.tools import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_delivery_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"charts.yaml", "image.yaml", "release.yaml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(path: Path) -> None:
    for step in _steps(_load(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert SHA_PIN.match(uses), f"{path.name}: {uses} is not pinned by a full commit SHA"
    for line in path.read_text().splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"# v\d", line), f"{path.name}: say which version the SHA is: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_minimal(path: Path) -> None:
    workflow = _load(path)
    assert workflow.get("permissions") == {"contents": "read"}, f"{path.name}: top-level permissions"
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert granted != "write-all"
        writes = {scope for scope, level in granted.items() if level == "write"}
        if path.name != "release.yaml":
            assert not writes, f"{path.name}:{name} writes {writes}"
        else:
            assert writes <= {"packages"}, f"{path.name}:{name} writes {writes}"


# ci.yaml is the lead's skeleton; the delivery workflows never need the checkout's token afterwards.
DELIVERY_WORKFLOWS = [p for p in WORKFLOWS if p.name != "ci.yaml"]


@pytest.mark.parametrize("path", DELIVERY_WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_keep_credentials(path: Path) -> None:
    for step in _steps(_load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_scripts_the_workflows_run_exist(path: Path) -> None:
    for step in _steps(_load(path)):
        for script in re.findall(r"\b((?:scripts|argocd)/[\w./-]+\.(?:sh|py))", step.get("run", "")):
            assert (ROOT / script).is_file(), f"{path.name} runs missing {script}"


def test_dependabot_covers_python_actions_and_docker() -> None:
    config = _load(ROOT / ".github" / "dependabot.yml")
    assert config["version"] == 2
    assert {u["package-ecosystem"] for u in config["updates"]} >= {"uv", "github-actions", "docker"}


def _precommit_hooks() -> dict[str, dict[str, Any]]:
    config = _load(ROOT / ".pre-commit-config.yaml")
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_precommit_has_lint_types_and_secret_scanning() -> None:
    hooks = _precommit_hooks()
    assert {"ruff-check", "ruff-format", "mypy", "gitleaks", "check-yaml"} <= set(hooks)
    config = _load(ROOT / ".pre-commit-config.yaml")
    for repo in config["repos"]:
        if repo["repo"] != "local":
            assert re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"]), repo


def test_yaml_that_check_yaml_covers_parses() -> None:
    exclude = re.compile(_precommit_hooks()["check-yaml"]["exclude"])
    checked = 0
    tracked = [p for p in ROOT.rglob("*.y*ml") if not {".venv", ".git", "node_modules"} & set(p.parts)]
    for path in tracked:
        relative = path.relative_to(ROOT).as_posix()
        if exclude.search(relative):
            assert "/templates/" in relative
            continue
        list(yaml.safe_load_all(path.read_text()))
        checked += 1
    assert checked > 20
    assert exclude.search("charts/tradingbot/templates/tradingbot.yaml")
    assert not exclude.search("charts/tradingbot/values.yaml")
