"""The generated CRD: committed files match the models, and the schema is structural and documented."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import ClusterHandle
from tradingbot_operator.crd import CRD_FILES, CRD_NAME, crd, main, openapi_schema, render
from tradingbot_operator.model import RolloutSpec, TradingBotSpec

ROOT = Path(__file__).resolve().parents[2]

# Keys a structural schema (apiextensions.k8s.io/v1) may carry; anything else means a conversion gap.
ALLOWED_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node`` with its dotted path (``[]`` for items, ``{}`` for map values)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("relative", CRD_FILES, ids=str)
def test_committed_crd_matches_the_models(relative: Path) -> None:
    committed = (ROOT / relative).read_text(encoding="utf-8")
    assert committed == render(), f"{relative} is stale: run python -m tradingbot_operator.crd --write"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--write", "--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / CRD_FILES[0]).write_text(render().replace("bakeSeconds", "bake"), encoding="utf-8")
    assert main(["--check", "--root", str(tmp_path)]) == 1


def test_schema_is_structural() -> None:
    problems = []
    for path, node in walk(openapi_schema()):
        if "type" not in node and not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{path}: no type")
        unknown = set(node) - ALLOWED_KEYS
        if unknown:
            problems.append(f"{path}: non-structural keys {sorted(unknown)}")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties together")
        open_object = node.get("x-kubernetes-preserve-unknown-fields") or path == ".metadata"
        has_fields = "properties" in node or "additionalProperties" in node
        if node.get("type") == "object" and not has_fields and not open_object:
            problems.append(f"{path}: object without properties")
        for name in node.get("required", []):
            if name not in node.get("properties", {}):
                problems.append(f"{path}: required {name} is not a property")
    assert problems == []


def test_preserve_unknown_fields_only_for_affinity() -> None:
    preserved = [
        path for path, node in walk(openapi_schema()) if node.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert preserved == [".spec.podTemplate.affinity"]


def test_every_field_has_a_description() -> None:
    schema = openapi_schema()
    missing = [
        path
        for part in ("spec", "status")
        for path, node in walk(schema["properties"][part], f".{part}")
        if not node.get("description") and not path.endswith(("[]", "{}"))
    ]
    assert missing == []


def test_every_validation_rule_has_a_message() -> None:
    rules = [
        (path, rule)
        for path, node in walk(openapi_schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 20
    assert all(rule.get("message") and rule.get("rule") for _, rule in rules)


def test_object_defaults_produce_the_model_defaults() -> None:
    spec = openapi_schema()["properties"]["spec"]
    rollout = spec["properties"]["rollout"]
    assert RolloutSpec.model_validate(rollout["default"]) == RolloutSpec()
    defaults = {name: node["default"] for name, node in rollout["properties"].items()}
    assert RolloutSpec.model_validate(defaults) == RolloutSpec()
    assert spec["properties"]["podTemplate"]["default"] == {}


def test_status_has_no_defaults() -> None:
    status = openapi_schema()["properties"]["status"]
    assert [path for path, node in walk(status) if "default" in node] == []


def test_crd_names_and_columns() -> None:
    document = crd()
    names = document["spec"]["names"]
    assert (document["metadata"]["name"], names["kind"], names["shortNames"]) == (
        CRD_NAME,
        "TradingBot",
        ["tb"],
    )
    version = document["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Active": ".status.activeColor",
        "Revision": ".status.activeRevision",
        "Phase": ".status.phase",
        "Epoch": ".status.epoch",
        "Age": ".metadata.creationTimestamp",
    }


def test_rendered_yaml_round_trips() -> None:
    assert yaml.safe_load(render()) == crd()


def test_spec_schema_required_fields() -> None:
    spec = openapi_schema()["properties"]["spec"]
    assert sorted(spec["required"]) == ["database", "image", "trading"]
    assert set(spec["properties"]) == {
        TradingBotSpec.model_fields[name].alias or name for name in TradingBotSpec.model_fields
    }


@pytest.mark.cluster
def test_kubectl_explain_reads_well(cluster: ClusterHandle) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=render())
    cluster.wait_crd_established(CRD_NAME)
    # The OpenAPI document is republished shortly after the CRD is Established: poll for it.
    deadline = time.monotonic() + 60
    while True:
        result = cluster.kubectl("explain", "tradingbot.spec.rollout", check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.returncode == 0, result.stderr
    explained = " ".join(result.stdout.split())
    assert "bakeSeconds" in explained
    assert "Seconds the new color must stay Ready" in explained
    assert "progressDeadlineSeconds" in explained
