"""How the children cache holds one object (pure): what of it is kept, and which of two versions of
it is newer. At 1,000 TradingBots the cache is most of the operator's memory; see
:mod:`tradingbot_operator.child_cache` for the rules it keeps them by.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from tradingbot_operator.children import JSON


def comparable_version(obj: Mapping[str, Any]) -> int | None:
    """``metadata.resourceVersion`` as an integer, or None when it is not one.

    Kubernetes' resourceVersions of one resource are positive integers without leading zeros, a
    larger one being newer (KEP-5504 "Comparable Resource Version", stable in v1.35, which documents
    what etcd-backed API servers always did; apimachinery's ``CompareResourceVersion``). Any other
    form (an API server that does not promise it) is not compared.
    """
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if not text.isdigit() or not text.isascii() or text.startswith("0"):
        return None
    return int(text)


def slim(obj: Mapping[str, Any], plural: str = "") -> JSON:
    """A copy of ``obj`` without ``metadata.managedFields`` (half of a Pod's bytes; nothing reads it),
    and a Pod also without its ``spec`` (most of the rest: containers, probes, volumes): the pass reads
    a Pod's labels, deletion and status only (:func:`tradingbot_operator.children.pod_facts`) and never
    writes one. At 1,000 TradingBots the cache is most of the operator's memory."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    kept = {k: v for k, v in obj.items() if not (plural == "pods" and k == "spec")}
    compacted: JSON = compact({**kept, "metadata": meta})
    return compacted


def compact(value: Any) -> Any:
    """A deep copy of decoded JSON whose keys and short strings are interned: each watch event is
    decoded on its own, so 5,000 cached objects otherwise carry 5,000 copies of every field name."""
    kind = type(value)  # exact types: what json.loads gives, and cheaper than isinstance on an ABC
    if kind is dict:
        return {sys.intern(k): compact(v) for k, v in value.items()}
    if kind is list:
        return [compact(v) for v in value]
    if kind is str and len(value) <= 64:
        return sys.intern(value)
    return value
