"""The tradingbot chart's values schema: its ``trading`` part is generated from the trading-config
contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tradingbot_operator.values_schema import VALUES_SCHEMA, main, render, trading_values_schema

REPO = Path(__file__).resolve().parents[2]


def test_committed_values_schema_matches_the_contract() -> None:
    current = (REPO / VALUES_SCHEMA).read_text("utf-8")
    assert current == render(current), "run python -m tradingbot_operator.values_schema --write"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    target = tmp_path / VALUES_SCHEMA
    target.parent.mkdir(parents=True)
    shutil.copy(REPO / VALUES_SCHEMA, target)
    assert main(["--check", "--root", str(tmp_path)]) == 0
    target.write_text(target.read_text("utf-8").replace('"maximum": 3600', '"maximum": 86400'), "utf-8")
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--write", "--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("properties", "risk", "properties", "maxDataAgeSeconds"), {"type": "integer", "minimum": 1}),
        (
            ("properties", "strategy", "properties", "minEdge"),
            {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        ),
        (("properties", "markets", "items", "properties", "tokens"), {"minItems": 2, "maxItems": 2}),
        (("properties", "mode"), {"enum": ["paper"]}),
    ],
)
def test_rules_become_plain_json_schema(path: tuple[str, ...], expected: dict[str, object]) -> None:
    node: dict[str, object] = trading_values_schema()
    for key in path:
        child = node[key]
        assert isinstance(child, dict)
        node = child
    assert expected.items() <= node.items()
    assert not any(key.startswith("x-") for key in node), "no CEL or private extension in a Helm schema"
