#!/usr/bin/env python3
"""Generate each chart's README.md from Chart.yaml and the ``# --`` comments in values.yaml.

Usage: ``scripts/helm-docs.py [--check] [CHART_DIR ...]`` (default: every ``charts/*/Chart.yaml``).
``--check`` writes nothing and exits 1 when a README is out of date or a value lacks a comment.

The comment convention is helm-docs' (github.com/norwoodj/helm-docs): a ``# -- text`` comment,
optionally continued by further ``#`` lines, documents the key on the line below it. A documented
mapping key documents its whole subtree (e.g. ``resources``); every other leaf value needs its own
comment. Keys below list items (e.g. the fields of one market) belong to the list's row.
An optional ``README.intro.md`` next to Chart.yaml is copied in before the values table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KEY_RE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+|\"[^\"]+\"|'[^']+'):(?:\s|$)")
DOC_START = "# --"
MISSING = object()


@dataclass(frozen=True)
class Row:
    """One documented value: dotted ``key``, its ``type`` and ``default`` as shown, its description."""

    key: str
    type: str
    default: str
    description: str


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "object"


def _leaves(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every value that is not a non-empty mapping (lists and empty maps are leaves)."""
    if isinstance(data, dict) and data:
        found: list[tuple[str, ...]] = []
        for key, value in data.items():
            found.extend(_leaves(value, (*prefix, str(key))))
        return found
    return [prefix]


def parse_values(text: str) -> tuple[list[Row], list[str]]:
    """The documented rows of a values.yaml, and the dotted keys of leaves nobody documented.

    Raises ``yaml.YAMLError`` when ``text`` is not YAML and ``ValueError`` when it is not a mapping.
    """
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError("values.yaml must be a mapping")
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    rows: list[Row] = []
    documented: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(DOC_START):
            pending = [stripped[len(DOC_START) :].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            pending = None
            continue
        match = KEY_RE.match(line)
        if match is None:
            pending = None
            continue
        indent = len(match["indent"])
        key = match["key"].strip("\"'")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        path = tuple(k for _, k in stack)
        value = _lookup(data, path)
        if pending is not None and value is not MISSING:
            rows.append(
                Row(
                    key=".".join(path),
                    type=_type_name(value),
                    default=json.dumps(value, separators=(",", ":"), ensure_ascii=False),
                    description=" ".join(part for part in pending if part),
                )
            )
            documented.add(path)
        pending = None
    missing = [
        ".".join(leaf)
        for leaf in _leaves(data)
        if leaf and not any(leaf[:n] in documented for n in range(1, len(leaf) + 1))
    ]
    return rows, missing


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_readme(chart_dir: Path) -> tuple[str, list[str]]:
    """The README text of ``chart_dir`` and the undocumented value keys found on the way."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    rows, missing = parse_values((chart_dir / "values.yaml").read_text())
    out = [
        f"# {chart['name']}",
        "",
        chart.get("description", "").strip(),
        "",
        f"Version: {chart['version']} · AppVersion: {chart.get('appVersion', '-')} · "
        f"Type: {chart.get('type', 'application')}"
        + (f" · Kubernetes: `{chart['kubeVersion']}`" if chart.get("kubeVersion") else ""),
        "",
        "<!-- Generated by scripts/helm-docs.py from Chart.yaml, README.intro.md and the `# --` comments in "
        "values.yaml. Do not edit by hand. -->",
        "",
    ]
    intro = chart_dir / "README.intro.md"
    if intro.is_file():
        out += [intro.read_text().strip(), ""]
    out += [
        "## Values",
        "",
        "| Key | Type | Default | Description |",
        "|-----|------|---------|-------------|",
    ]
    for row in rows:
        out.append(f"| `{_cell(row.key)}` | {row.type} | `{_cell(row.default)}` | {_cell(row.description)} |")
    return "\n".join(out) + "\n", missing


def _charts(args: list[str]) -> list[Path]:
    if args:
        return [Path(a) for a in args]
    root = Path(__file__).resolve().parent.parent
    return sorted(p.parent for p in (root / "charts").glob("*/Chart.yaml"))


def main(argv: list[str] | None = None) -> int:
    """CLI entry: returns the exit status (0 current, 1 stale README or undocumented values)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail instead of writing when out of date")
    parser.add_argument("charts", nargs="*", help="chart directories (default: charts/*)")
    ns = parser.parse_args(argv)
    status = 0
    for chart_dir in _charts(ns.charts):
        text, missing = render_readme(chart_dir)
        for key in missing:
            print(f"{chart_dir}/values.yaml: `{key}` has no `# --` comment", file=sys.stderr)
            status = 1
        readme = chart_dir / "README.md"
        current = readme.read_text() if readme.is_file() else None
        if current == text:
            continue
        if ns.check:
            print(f"{readme} is out of date: run scripts/helm-docs.py", file=sys.stderr)
            status = 1
        else:
            readme.write_text(text)
            print(f"wrote {readme}")
    return status


if __name__ == "__main__":
    sys.exit(main())
