"""The demo's replay market: ``ws_market_burst.json`` with its NO token offered cheaper (derived, not
a capture).

The recorded market never lets the complete-set strategy trade: token B's book is the mirror of
token A's, so the best asks sum to ``1 + spread`` (1.011 at the tightest recorded step), and real
markets seldom offer a complete set below 1 USD. So that ``make demo`` can show the bot trading, one
fence token after another, this module derives a stream in which token B's book is its recorded
mirror with every price lowered by :data:`NO_DISCOUNT` (levels that would fall to 0 USD or below are
left out). The asks then sum to ``1 + spread - 0.06``, below ``1 - minEdge`` only while the recorded
spread is tight (30 of the 96 book updates of one pass with ``minEdge`` 0.01). Token A's messages
are unchanged; token B gets its own (derived) ``book`` snapshot right after A's first one, and its
``price_change`` entries lose their ``hash``, ``best_bid`` and ``best_ask``, which describe the
recorded book and no longer this one (the bot's checks count them as absent, never as matches).

``python -m tradingbot.market.demo_recording OUT`` writes the file shipped as
``tradingbot/data/demo_market_derived.json``; a test checks the two agree.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

NO_DISCOUNT = Decimal("0.06")
"""USD per share taken off every price of token B's book (60 of the market's 0.001 ticks)."""

SOURCE = "ws_market_burst.json"
DERIVED = "demo_market_derived.json"
TOKEN_B = "54179564009642723353355316176091991063553046330768303687769988635499280029688"
ONE = Decimal(1)


def _lower(price: str) -> str:
    return str(Decimal(price) - NO_DISCOUNT)


def _mirror(levels: list[dict[str, str]]) -> list[dict[str, str]]:
    """Token B's levels for token A's ``levels``: price ``1 - p`` lowered, levels at or below 0 dropped."""
    mirrored = ({"price": _lower(str(ONE - Decimal(lvl["price"]))), "size": lvl["size"]} for lvl in levels)
    return [lvl for lvl in mirrored if Decimal(lvl["price"]) > 0]


def derive(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The derived stream from the recorded ``ws_market_burst.json`` messages (pure; new objects).

    Raises ``ValueError`` when the first message is not token A's ``book`` snapshot."""
    first = messages[0]
    if first.get("event_type") != "book" or first.get("asset_id") == TOKEN_B:
        raise ValueError("the recording must start with token A's book snapshot")
    # Token A's bids are token B's asks at 1 - p and vice versa (tradingbot.market.book.complement_book).
    b_book = {
        "market": first["market"],
        "asset_id": TOKEN_B,
        "timestamp": first["timestamp"],
        "bids": _mirror(first["asks"]),
        "asks": _mirror(first["bids"]),
        "tick_size": first["tick_size"],
        "event_type": "book",
        "last_trade_price": first["last_trade_price"],
    }
    out: list[dict[str, Any]] = [json.loads(json.dumps(first)), b_book]
    for original in messages[1:]:
        msg = json.loads(json.dumps(original))
        if "price_changes" in msg:
            entries = []
            for entry in msg["price_changes"]:
                if entry["asset_id"] == TOKEN_B:
                    entry["price"] = _lower(entry["price"])
                    if Decimal(entry["price"]) <= 0:
                        continue  # a level below 0 USD cannot exist
                    for claim in ("hash", "best_bid", "best_ask"):
                        entry.pop(claim, None)
                entries.append(entry)
            msg["price_changes"] = entries
        out.append(msg)
    return out


def render(messages: list[dict[str, Any]]) -> str:
    """The file's text: one message per line inside a JSON array."""
    return "[\n" + ",\n".join(json.dumps(m, separators=(",", ":")) for m in messages) + "\n]\n"


def main(argv: list[str]) -> int:
    """Write the derived recording to ``argv[0]`` from the embedded source recording."""
    from tradingbot.market.replay import embedded_recording, load_recording

    source = [m for m in load_recording(embedded_recording(SOURCE)) if isinstance(m, dict)]
    Path(argv[0]).write_text(render(derive(source)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
