"""Helpers to read the recordings embedded in tradingbot/data (copies of shared/data/polymarket)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradingbot.market.replay import embedded_recording, load_recording

BURST_MARKET = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
TOKEN_A = "76670567130917723816490572615540605537878462672464291990940067659127658071111"
TOKEN_B = "54179564009642723353355316176091991063553046330768303687769988635499280029688"


def raw(name: str) -> list[dict[str, Any]]:
    """The JSON objects of an embedded recording."""
    objs = load_recording(embedded_recording(name))
    assert all(isinstance(o, dict) for o in objs)
    return [o for o in objs if isinstance(o, dict)]


def levels(entries: list[dict[str, str]]) -> list[tuple[Decimal, Decimal]]:
    """Recorded ``[{"price", "size"}]`` as (price, size) Decimal pairs, order kept."""
    return [(Decimal(e["price"]), Decimal(e["size"])) for e in entries]
