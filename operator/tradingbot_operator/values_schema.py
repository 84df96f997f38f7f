"""Generate the ``trading`` part of the tradingbot chart's ``values.schema.json`` from the trading-config
contract (:mod:`trading_config`), the models the CRD and the bot use too.

``python -m tradingbot_operator.values_schema --write`` rewrites ``properties.trading`` of
``charts/tradingbot/values.schema.json`` and leaves the rest of the file alone; ``--check`` exits 1 when
it differs from what the models generate. Helm checks values with JSON Schema (draft 7), which has no
CEL: each rule that has a plain JSON Schema form (:attr:`trading_config.rules.Rule.json_schema`, e.g. a
pattern) is written as such; the others (two distinct tokens, unique markets) are left to the CRD's CEL
rules, which the API server checks when the chart's TradingBot is applied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trading_config import TradingSpec
from trading_config.rules import PLAIN_JSON_SCHEMA, VALIDATIONS
from tradingbot_operator.crd import inline_ref

VALUES_SCHEMA = Path("charts/tradingbot/values.schema.json")
_DROPPED = ("title", "default", VALIDATIONS)


def _plain(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with ``$ref``s inlined, rules turned into plain keywords, and no titles or defaults."""
    if isinstance(node, list):
        return [_plain(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = inline_ref(node, defs)
    node.update(node.pop(PLAIN_JSON_SCHEMA, {}))
    return {key: _plain(value, defs) for key, value in node.items() if key not in _DROPPED}


def trading_values_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of the chart's ``trading`` value, a mapping."""
    raw = TradingSpec.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _plain(raw, defs)
    return schema


def render(current: str) -> str:
    """``current`` (the text of values.schema.json) with ``properties.trading`` generated; 2-space JSON."""
    document = json.loads(current)
    document["properties"]["trading"] = trading_values_schema()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``) or compare (``--check``) the chart's values schema; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tradingbot_operator.values_schema", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="rewrite the trading part of the values schema")
    group.add_argument("--check", action="store_true", help="exit 1 when it is out of date")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    path = (args.root or _repo_root()) / VALUES_SCHEMA
    current = path.read_text("utf-8")
    text = render(current)
    if args.write:
        path.write_text(text, encoding="utf-8")
        return 0
    if current != text:
        print(
            f"{path} is out of date: run python -m tradingbot_operator.values_schema --write", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
