"""Building blocks of the TradingBot models that only Kubernetes needs (int-or-string, preserved unknown
fields, schema replacement). The validation rules and the base model live in the trading-config contract
(:mod:`trading_config.rules`, which the bot imports too) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from trading_config.rules import VALIDATIONS, Checked, CrdModel, Rule, cel_matches, cel_quote

# Extension keys of the Kubernetes structural schema (apiextensions.k8s.io/v1).
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"

# Object defaults must be written into the schema explicitly: the API server only applies the
# defaults of nested fields when the parent object exists. `default: {}` makes it exist; objects with
# CEL rules get their full default instead, because the API server checks a default against the rules
# before nested defaults apply.
EMPTY_OBJECT_DEFAULT: dict[str, Any] = {"default": {}}

__all__ = [
    "EMPTY_OBJECT_DEFAULT",
    "INT_OR_STRING",
    "PRESERVE_UNKNOWN",
    "VALIDATIONS",
    "Checked",
    "CrdModel",
    "Rule",
    "SchemaExtra",
    "cel_matches",
    "cel_quote",
]


@dataclass(frozen=True)
class SchemaExtra:
    """``Annotated`` marker: replace a field's JSON schema by ``schema`` (e.g. int-or-string)."""

    schema: dict[str, Any]

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return dict(self.schema)
