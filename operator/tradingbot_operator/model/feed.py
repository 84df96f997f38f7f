"""``TradingBot.spec.feed``: where the bot's market data comes from (pydantic, part of the CRD schema).

Two choices, as the bot names them (``tradingbot.config.settings``: ``feed``, ``replayRecording``,
``polymarketWsUrl``): the replay of a recording shipped in the image (the default), or Polymarket's
CLOB WebSocket market channel (docs.polymarket.com, "Market Channel":
``wss://ws-subscriptions-clob.polymarket.com/ws/market``), for a cluster whose network reaches it.
The operator renders these keys into the bot's config file only when ``spec.feed`` is given, so the
config (and the revision) of a TradingBot without it stays what it was.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from tradingbot_operator.model.common import Checked, CrdModel, Rule, cel_matches

WS_URL_RE = r"^wss?://[^\s/?#]+(/[^\s]*)?$"
RECORDING_RE = r"^[A-Za-z0-9_.-]+\.json$"
POLYMARKET_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"


class FeedSpec(CrdModel):
    """The bot's market-data source: ``replay`` (a recording in the image) or ``polymarket-ws``."""

    type: Literal["replay", "polymarket-ws"] = Field(
        default="replay",
        description="replay: the bot replays a recorded market shipped in its image, in a loop (no network "
        "needed). polymarket-ws: live order books from Polymarket's CLOB WebSocket market channel at url.",
    )
    recording: Annotated[
        str | None,
        Field(max_length=128),
        Checked(
            Rule(
                cel=cel_matches(RECORDING_RE),
                message="feed.recording must be the file name of a recording in the bot image, "
                "e.g. ws_market_burst.json",
                check=lambda v: v is None or re.fullmatch(RECORDING_RE, v) is not None,
            )
        ),
    ] = Field(
        default=None,
        description="type replay only: the recording's file name in the image's tradingbot/data "
        "(default ws_market_burst.json, a recorded market; demo_market_derived.json is derived from it "
        "for demos and says so). The bot refuses to start with a name it does not ship.",
    )
    url: Annotated[
        str | None,
        Field(max_length=2048),
        Checked(
            Rule(
                cel=cel_matches(WS_URL_RE),
                message="feed.url must be a WebSocket URL: ws:// or wss://, a host, then an optional "
                f"path, e.g. {POLYMARKET_WS_URL}",
                check=lambda v: v is None or re.fullmatch(WS_URL_RE, v) is not None,
            )
        ),
    ] = Field(
        default=None,
        description=f"type polymarket-ws only: the market channel's URL (default {POLYMARKET_WS_URL}).",
    )

    cel_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="self.type == 'polymarket-ws' || !has(self.url)",
            message="feed.url is only used with feed.type polymarket-ws",
            check=lambda f: f.type == "polymarket-ws" or f.url is None,
            field_path=".url",
        ),
        Rule(
            cel="self.type == 'replay' || !has(self.recording)",
            message="feed.recording is only used with feed.type replay",
            check=lambda f: f.type == "replay" or f.recording is None,
            field_path=".recording",
        ),
    )

    def config_keys(self) -> dict[str, Any]:
        """The bot's config-file keys for this feed: ``feed``, and ``replayRecording`` or
        ``polymarketWsUrl`` when given (the bot's defaults apply otherwise)."""
        keys: dict[str, Any] = {"feed": self.type}
        if self.recording is not None:
            keys["replayRecording"] = self.recording
        if self.url is not None:
            keys["polymarketWsUrl"] = self.url
        return keys
