"""The Dockerfile, checked statically (no Docker engine here): pinned bases, no remote ADD, a numeric
non-root USER, the locked dependencies, a HEALTHCHECK without curl, and both entry points present in
pyproject's [project.scripts] and importable."""

from __future__ import annotations

import fnmatch
import importlib
import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.delivery.tools import ROOT, host_tool, run

DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
EXACT_TAG_RE = re.compile(r":\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: upper-case ``keyword`` and its argument text (continuations joined)."""

    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile, comments dropped and ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        full = (buffer + line).strip()
        buffer = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


DOCKERFILE = parse((ROOT / "Dockerfile").read_text())


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in DOCKERFILE:
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _stage_names() -> set[str]:
    names = set()
    for instruction in DOCKERFILE:
        if instruction.keyword == "FROM":
            parts = instruction.args.split()
            if len(parts) == 3 and parts[1].upper() == "AS":
                names.add(parts[2])
    return names


def _pinned(image: str) -> bool:
    return bool(DIGEST_RE.search(image) or EXACT_TAG_RE.search(image)) and ":latest" not in image


def test_parser_reads_multi_stage_build() -> None:
    assert len(_stages()) >= 2, "a multi-stage build keeps build tools out of the runtime image"


def test_every_base_image_is_pinned() -> None:
    stages = _stage_names()
    for instruction in DOCKERFILE:
        if instruction.keyword == "FROM":
            image = next(p for p in instruction.args.split() if not p.startswith("--"))
            assert image in stages or _pinned(image), f"unpinned base image {image}"
        if instruction.keyword == "COPY":
            for option in re.findall(r"--from=(\S+)", instruction.args):
                assert option in stages or _pinned(option), f"unpinned COPY --from={option}"


def test_no_add_from_urls() -> None:
    for instruction in DOCKERFILE:
        if instruction.keyword == "ADD":
            assert not re.search(r"(https?://|git@|\.git\b)", instruction.args), instruction.args


def test_runtime_runs_as_numeric_non_root_user() -> None:
    users = [i.args for i in _stages()[-1] if i.keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]} is not numeric (Kubernetes runAsNonRoot cannot check a name)"
    assert int(match[1]) != 0 and (match[2] is None or int(match[2]) != 0)


def test_dependencies_come_from_the_lock_with_a_pinned_uv() -> None:
    runs = " ".join(i.args for i in DOCKERFILE if i.keyword == "RUN")
    assert re.search(r"uv==\d+\.\d+\.\d+", runs), "uv must be pinned"
    syncs = re.findall(r"uv sync[^&;]*", runs)
    assert syncs and all("--frozen" in s for s in syncs)


def test_healthcheck_probes_liveness_without_curl() -> None:
    (check,) = [i.args for i in DOCKERFILE if i.keyword == "HEALTHCHECK"]
    assert "urllib.request" in check and "curl" not in check and "wget" not in check
    env = " ".join(i.args for i in _stages()[-1] if i.keyword == "ENV")
    assert "PLOY_HEALTHCHECK_URL=http://127.0.0.1:8080/health/live" in env


def _scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scripts: dict[str, str] = project["project"]["scripts"]
    return scripts


@pytest.mark.parametrize("entry_point", ["ploy-bot", "ploy-operator"])
def test_entry_points_exist_and_import(entry_point: str) -> None:
    target = _scripts()[entry_point]
    module, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_default_command_is_the_bot() -> None:
    (cmd,) = [i.args for i in _stages()[-1] if i.keyword == "CMD"]
    assert cmd.startswith("[") and '"ploy-bot"' in cmd
    assert "ploy-bot" in _scripts()


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_copied_sources_exist_and_are_not_ignored() -> None:
    ignored = _dockerignore()
    for instruction in DOCKERFILE:
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        *sources, _destination = shlex.split(instruction.args)
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY source {source} does not exist"
            assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f"{source} is ignored"


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set(_dockerignore())
    assert {".git", ".venv", "tests", "**/__pycache__"} <= ignored


def test_build_stage_commands_install_both_entry_points(tmp_path: Path) -> None:
    """Replays the build stage's COPY and ``uv sync`` steps outside Docker, then runs the result."""
    uv = host_tool("uv", "scripts/bootstrap.sh installs it")
    build = _stages()[0]
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    synced = 0
    for instruction in build:
        if instruction.keyword == "COPY" and "--from=" not in instruction.args:
            *sources, destination = shlex.split(instruction.args)
            for source in sources:
                # Docker copies a directory's contents into the destination directory.
                origin = ROOT / source.rstrip("/")
                if origin.is_dir():
                    shutil.copytree(
                        origin,
                        src / destination,
                        ignore=shutil.ignore_patterns("__pycache__"),
                        dirs_exist_ok=True,
                    )
                else:
                    shutil.copy(origin, src / destination)
        elif instruction.keyword == "RUN" and "uv sync" in instruction.args:
            command = instruction.args.replace("uv sync", f"{uv} sync", 1)
            run("bash", "-c", command, cwd=src, env=env)
            synced += 1
    assert synced == 2
    for entry_point in ("ploy-bot", "ploy-operator"):
        assert "Usage" in run(str(venv / "bin" / entry_point), "--help").stdout
    probe = "import importlib.util as u; print(u.find_spec('pytest') is None, u.find_spec('mypy') is None)"
    result = run(str(venv / "bin" / "python"), "-c", probe)
    assert result.stdout.split() == ["True", "True"], "test and lint groups must stay out of the image"
    assert list(venv.glob("lib/python3*/site-packages/tradingbot/data/*.json")), "embedded recordings missing"
