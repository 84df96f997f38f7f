"""Generate the TradingBot CustomResourceDefinition from the pydantic models (the one source of truth).

``python -m tradingbot_operator.crd --write`` writes the YAML to the chart and to ``manifests/``;
``--check`` exits 1 when either file differs from what the models generate. The schema is pydantic's
JSON schema made structural (apiextensions.k8s.io/v1): ``$ref`` inlined, ``anyOf [T, null]`` reduced
to ``T``, titles and ``additionalProperties: false`` dropped (the API server prunes unknown fields and
rejects them under strict field validation), and no defaults under ``status``.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from trading_config.rules import PLAIN_JSON_SCHEMA
from tradingbot_operator.model import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    TradingBotSpec,
    TradingBotStatus,
)
from tradingbot_operator.model.common import Rule, cel_matches

CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_FILES = (
    Path("charts/ploy-operator/crds") / f"{CRD_NAME}.yaml",
    Path("manifests/crds") / f"{CRD_NAME}.yaml",
)

# Child names are derived from the TradingBot's name: the Service `<name>` must be a DNS-1035 label and
# the Job `<name>-migrate-<revision>` (19 more characters) must fit a 63-character label value.
MAX_NAME_LENGTH = 40
NAME_RE = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

NAME_RULES = (
    Rule(
        cel=f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
        message=f"metadata.name must be at most {MAX_NAME_LENGTH} characters: the operator derives child "
        "names such as <name>-migrate-<revision> from it",
        check=lambda name: len(name) <= MAX_NAME_LENGTH,
    ),
    Rule(
        cel=cel_matches(NAME_RE, "self.metadata.name"),
        message="metadata.name must start with a lowercase letter and contain only lowercase letters, digits "
        "and '-': it names the bot's Service",
        check=lambda name: re.fullmatch(NAME_RE, name) is not None,
    ),
)


# Transition rules (``oldSelf``) have no Python side: they compare an update with the stored object,
# which only the API server sees. On the root, so removing ``status`` or ``status.epoch`` is caught too.
EPOCH_NEVER_DECREASES = {
    "rule": "!has(oldSelf.status) || !has(oldSelf.status.epoch) || "
    "(has(self.status) && has(self.status.epoch) && self.status.epoch >= oldSelf.status.epoch)",
    "message": "status.epoch must never decrease (nor be removed): it is the fencing token that decides "
    "which color may trade, and a lower value would hand out a token another color already held",
}


def inline_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A copy of JSON-schema ``node`` with its ``$ref`` (into ``defs``, pydantic's ``$defs``) replaced
    by the definition; the node's own keys (description, default) win over the definition's."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None:
        return node
    target: dict[str, Any] = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
    target.update(node)
    return target


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline ``$ref``s and make one JSON-schema node structural."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = inline_ref(node, defs)
    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        non_null = [option for option in any_of if option != {"type": "null"}]
        if len(non_null) == 1 and len(non_null) < len(any_of):
            del node["anyOf"]
            inner = _resolve(non_null[0], defs)
            node = {**inner, **node}
    node.pop("title", None)
    node.pop(PLAIN_JSON_SCHEMA, None)  # the CEL rules say it to the API server, with their messages
    if "const" in node:  # a one-value Literal: OpenAPI v3.0 (and the API server) knows enum, not const
        const = node.pop("const")
        node.setdefault("enum", [const])
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if "default" in node and node["default"] is None:
        del node["default"]
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            result[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _resolve(value, defs)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _strip_defaults(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_defaults(item) for item in node]
    if isinstance(node, dict):
        return {key: _strip_defaults(value) for key, value in node.items() if key != "default"}
    return node


def structural_schema(model: type[TradingBotSpec] | type[TradingBotStatus]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model`` (camelCase), ``$ref``-free."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    return schema


def openapi_schema() -> dict[str, Any]:
    """The whole ``openAPIV3Schema`` of the TradingBot resource."""
    return {
        "type": "object",
        "description": "A trading bot run by Ploy: blue-green rollouts gated by the bot's health probes, "
        "with automatic rollback and a fencing epoch so that only one color can ever trade.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": structural_schema(TradingBotSpec),
            "status": _strip_defaults(structural_schema(TradingBotStatus)),
        },
        "x-kubernetes-validations": [*(rule.to_schema() for rule in NAME_RULES), EPOCH_NEVER_DECREASES],
    }


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition ``tradingbots.ploy.dev`` as a mapping."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "ploy-operator", "app.kubernetes.io/part-of": "ploy"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Active",
                            "type": "string",
                            "jsonPath": ".status.activeColor",
                            "description": "Color allowed to trade.",
                        },
                        {
                            "name": "Revision",
                            "type": "string",
                            "jsonPath": ".status.activeRevision",
                            "description": "Revision of the active color.",
                        },
                        {
                            "name": "Phase",
                            "type": "string",
                            "jsonPath": ".status.phase",
                            "description": "Calculated rollout phase.",
                        },
                        {
                            "name": "Epoch",
                            "type": "integer",
                            "jsonPath": ".status.epoch",
                            "description": "Fencing epoch.",
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


HEADER = (
    "# Generated by `python -m tradingbot_operator.crd --write` from operator/tradingbot_operator/model/\n"
    "# and bot/trading_config/ (the trading block).\n"
    "# Do not edit.\n"
)


def render() -> str:
    """The CRD as YAML text, with a do-not-edit header."""
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=120, allow_unicode=True)


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``), compare (``--check``) or print the CRD YAML; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tradingbot_operator.crd", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write the CRD files in the repository")
    group.add_argument("--check", action="store_true", help="exit 1 when the CRD files are out of date")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root or _repo_root()
    text = render()
    if args.write:
        for relative in CRD_FILES:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        stale = [
            str(p) for p in CRD_FILES if not (root / p).is_file() or (root / p).read_text("utf-8") != text
        ]
        for path in stale:
            print(f"{path} is out of date: run python -m tradingbot_operator.crd --write", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
