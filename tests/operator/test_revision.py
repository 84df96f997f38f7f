"""Revision and config hashing: what changes the bot changes the revision, nothing else does."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.plan_world import spec_dict
from tradingbot_operator.model import TradingBotSpec
from tradingbot_operator.revision import config_hash, render_config, revision


def spec_with(**changes: Any) -> TradingBotSpec:
    """``spec_dict()`` with dotted-path changes."""
    data = spec_dict()
    data.setdefault("podTemplate", {})
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return TradingBotSpec.model_validate(data)


BASE = spec_with()


def test_revision_is_ten_lowercase_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{10}", revision(BASE))
    assert re.fullmatch(r"[0-9a-f]{10}", config_hash(BASE))


def test_the_hashes_of_a_fixed_spec_never_change() -> None:
    # A different text or encoding rolls out every bot once: bump REVISION_SCHEME when meant.
    assert (revision(BASE), config_hash(BASE)) == ("2a539cf508", "67abf5e602")
    assert render_config(BASE) == render_config(spec_with())  # a second render, from the memo


def test_revision_is_stable_across_parses_and_key_order() -> None:
    data = spec_dict()
    reordered = dict(reversed(list(data.items())))
    reordered["trading"] = dict(reversed(list(data["trading"].items())))
    assert revision(TradingBotSpec.model_validate(reordered)) == revision(BASE)
    assert revision(TradingBotSpec.model_validate(BASE.model_dump(by_alias=True))) == revision(BASE)


def test_defaults_written_out_give_the_same_revision() -> None:
    explicit = spec_with(**{"trading.markets": [{**spec_dict()["trading"]["markets"][0], "feeRate": "0"}]})
    assert revision(explicit) == revision(BASE)


@pytest.mark.parametrize(
    "changes",
    [
        {"replicas": 0},
        {"paused": True},
        {"rollout.bakeSeconds": 5},
        {"rollout.autoPromote": False},
        {"rollout.migration": {"enabled": True, "args": ["migrate"]}},
    ],
    ids=str,
)
def test_operational_settings_are_not_part_of_the_revision(changes: dict[str, Any]) -> None:
    assert revision(spec_with(**changes)) == revision(BASE)


@pytest.mark.parametrize(
    "changes",
    [
        {"image": "registry.example/ploy-bot:1.0.1"},
        {"trading.strategy.minEdge": "0.02"},
        {"trading.strategy.minEdge": "0.010"},  # the bot reads the string; a different text is a change
        {"trading.risk.killSwitch": True},
        {"podTemplate.labels": {"ploy.dev/fault": "never-ready"}},
        {"podTemplate.annotations": {"ploy.dev/fail-after": "5s"}},
        {"podTemplate.resources": {"limits": {"memory": "256Mi"}}},
        {"database.secretRef": {"name": "other-db", "key": "url"}},
        {"feed": {"type": "polymarket-ws", "url": "ws://10.244.0.1:9000/ws/market"}},
        {"feed": {"type": "replay", "recording": "demo_market_derived.json"}},
    ],
    ids=str,
)
def test_what_changes_the_bot_changes_the_revision(changes: dict[str, Any]) -> None:
    assert revision(spec_with(**changes)) != revision(BASE)


def test_config_hash_follows_the_config_only() -> None:
    assert config_hash(spec_with(image="registry.example/ploy-bot:2.0.0")) == config_hash(BASE)
    assert config_hash(spec_with(**{"trading.strategy.maxOrderSize": "10"})) != config_hash(BASE)


def test_rendered_config_is_the_trading_block_with_decimal_strings() -> None:
    rendered = yaml.safe_load(render_config(BASE))
    assert list(rendered) == ["trading"]
    trading = rendered["trading"]
    assert trading["mode"] == "paper"
    assert trading["strategy"] == {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "50"}
    assert trading["markets"][0]["tokens"] == ["111", "222"]
    assert trading["markets"][0]["feeRate"] == "0"
    assert trading["risk"]["maxExposureUsd"] == "500"
    assert trading["risk"]["killSwitch"] is False
    assert "url" not in render_config(BASE)


def test_rendered_config_holds_no_database_reference() -> None:
    assert "bot-db" not in render_config(BASE)


def test_the_bot_reads_back_what_the_operator_rendered() -> None:
    """Both sides use the trading-config contract: the rendered block parses to the spec's own."""
    from trading_config import TradingSpec

    spec = spec_with(**{"trading.risk.maxDataAgeSeconds": 12})
    parsed = TradingSpec.model_validate(yaml.safe_load(render_config(spec))["trading"])
    assert parsed == spec.trading
    assert str(parsed.strategy.min_edge) == "0.01"
    assert parsed.risk.max_data_age_seconds == 12
    assert parsed.markets[0].tokens == ("111", "222")


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        (
            {"type": "polymarket-ws", "url": "ws://10.244.0.1:9000/ws/market"},
            ("polymarket-ws", "ws://10.244.0.1:9000/ws/market", "ws_market_burst.json"),
        ),
        (
            {"type": "polymarket-ws"},
            ("polymarket-ws", "wss://ws-subscriptions-clob.polymarket.com/ws/market", "ws_market_burst.json"),
        ),
        (
            {"type": "replay", "recording": "demo_market_derived.json"},
            ("replay", "wss://ws-subscriptions-clob.polymarket.com/ws/market", "demo_market_derived.json"),
        ),
        (None, ("replay", "wss://ws-subscriptions-clob.polymarket.com/ws/market", "ws_market_burst.json")),
    ],
    ids=str,
)
def test_the_bot_reads_the_rendered_feed(
    feed: dict[str, str] | None,
    expected: tuple[str, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Contract with the bot: the feed keys rendered from spec.feed are the ones its settings read;
    without spec.feed the config is the trading block alone (no revision change for existing bots)."""
    from tradingbot.config.settings import load_settings

    for name in [n for n in os.environ if n.startswith("PLOY_")]:
        monkeypatch.delenv(name)
    spec = spec_with(feed=feed) if feed is not None else BASE
    path = tmp_path / "config.yaml"
    path.write_text(render_config(spec))
    settings = load_settings(path)
    assert (settings.feed, settings.polymarket_ws_url, settings.replay_recording) == expected
    if feed is None:
        assert list(yaml.safe_load(path.read_text())) == ["trading"]


@pytest.mark.parametrize(
    "text", ["0.010", "0.0000001", "0.000000000001", "50", "0", "0.00", "999999999999.5"]
)
def test_decimals_are_rendered_as_written(text: str) -> None:
    """The revision hashes the rendered config: a decimal must come out exactly as the user wrote it."""
    rendered = yaml.safe_load(render_config(spec_with(**{"trading.risk.maxExposureUsd": text})))
    assert rendered["trading"]["risk"]["maxExposureUsd"] == text
