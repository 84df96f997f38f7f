"""Config loading: the embedded default, env over YAML, and one-line messages for bad configs."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tradingbot.config.errors import ConfigError
from tradingbot.config.settings import load_settings

BURST_MARKET = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"

GOOD: dict[str, object] = {
    "trading": {
        "mode": "paper",
        "markets": [{"conditionId": "0x" + "ab" * 32, "tokens": ["111", "222"], "feeRate": "0.02"}],
        "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "50"},
        "risk": {"maxExposureUsd": "500", "maxDailyLossUsd": "100", "killSwitch": False},
    }
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def _with(path: str, value: object) -> dict[str, object]:
    """GOOD with the dotted ``path`` set to ``value`` (``...`` deletes the key)."""
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    node = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return dict(doc)


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_embedded_default_is_the_recorded_burst_market() -> None:
    settings = load_settings()
    market = settings.trading.markets[0]
    assert market.condition_id == BURST_MARKET
    assert market.yes_token.startswith("7667") and market.yes_token.endswith("1111")
    assert market.no_token.startswith("5417") and market.no_token.endswith("9688")
    assert settings.role == "standalone" and settings.epoch == 1 and settings.feed == "replay"
    assert settings.http_port == 8080 and settings.database_url is None


def test_good_file_parses_decimals_exactly(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, GOOD))
    assert settings.trading.strategy.min_edge == Decimal("0.01")
    assert settings.trading.markets[0].fee_rate == Decimal("0.02")
    assert settings.trading.risk.max_exposure_usd == Decimal("500")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, {**GOOD, "httpPort": 9000, "epoch": 3})
    monkeypatch.setenv("PLOY_HTTP_PORT", "9100")
    monkeypatch.setenv("PLOY_KILL_SWITCH", "true")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2@db/ploy")
    settings = load_settings(path)
    assert settings.http_port == 9100
    assert settings.epoch == 3
    assert settings.trading.risk.kill_switch is True
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://bot:hunter2@db/ploy"
    assert "hunter2" not in repr(settings)


def test_config_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PLOY_CONFIG", str(_write(tmp_path, _with("trading.markets.0.conditionId", "0x" + "fe" * 32)))
    )
    assert load_settings().trading.markets[0].condition_id == "0x" + "fe" * 32


def test_cluster_role_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOY_TRADINGBOT_NAME", "arb")
    monkeypatch.setenv("PLOY_TRADINGBOT_NAMESPACE", "trading")
    monkeypatch.setenv("PLOY_COLOR", "green")
    settings = load_settings()
    assert settings.role == "cluster"
    assert settings.effective_bot_id == "trading/arb"


NOT_DECIMAL = 'must be a non-negative decimal written as a string, e.g. "0.01"'
BAD_CONFIGS = [
    ("trading.mode", "live", 'trading.mode: must be "paper": live trading is not supported'),
    ("trading", ..., "trading: required field is missing"),
    ("trading.markets", [], "trading.markets: must list at least one market"),
    (
        "trading.markets.0.tokens",
        ["111"],
        "trading.markets[0].tokens: must list exactly 2 token ids: the YES token, then the NO token",
    ),
    (
        "trading.markets.0.tokens",
        ["111", "111"],
        "trading.markets[0].tokens: the YES and NO token ids must differ",
    ),
    ("trading.markets.0.conditionId", ..., "trading.markets[0].conditionId: required field is missing"),
    ("trading.markets.0.feeRate", "1.5", "trading.markets[0].feeRate: must be at least 0 and below 1"),
    (
        "trading.strategy.name",
        "market-making",
        "trading.strategy.name: input should be 'complete-set-arbitrage'",
    ),
    (
        "trading.strategy.minEdge",
        "-0.1",
        "trading.strategy.minEdge: " + NOT_DECIMAL,
    ),
    ("trading.strategy.maxOrderSize", "0", "trading.strategy.maxOrderSize: must be greater than 0"),
    (
        "trading.strategy.maxOrderSize",
        "lots",
        "trading.strategy.maxOrderSize: " + NOT_DECIMAL,
    ),
    (
        "trading.risk.maxExposureUsd",
        500.5,
        "trading.risk.maxExposureUsd: "
        'write decimals as quoted strings (e.g. "500.5"), got the bare number 500.5',
    ),
    (
        "trading.risk.maxDailyLossUsd",
        "-1",
        "trading.risk.maxDailyLossUsd: " + NOT_DECIMAL,
    ),
    ("trading.risk.killswitch", True, "trading.risk.killswitch: unknown field (check the spelling)"),
    ("feed", "carrier-pigeon", "feed: input should be 'replay' or 'polymarket-ws'"),
    (
        "replayRecording",
        "live.json",
        "replayRecording: no embedded recording live.json; choose one of: demo_market_derived.json, "
        "rest_book_empty_ask.json, ws_book_full_depth.json, ws_book_snapshot.json, "
        "ws_market_best_bid_ask_msg.json, ws_market_burst.json, ws_market_last_trade_msg.json, "
        "ws_market_resolved_msg.json, ws_market_tick_size_msg.json",
    ),
    (
        "polymarketWsUrl",
        "https://clob.polymarket.com",
        "polymarketWsUrl: must be a WebSocket URL (ws:// or wss://, a host, an optional path)",
    ),
    ("httpPort", 70000, "httpPort: input should be less than or equal to 65535"),
    ("role", "cluster", 'role "cluster" needs PLOY_COLOR to be set'),
    ("databaseUrl", "postgresql://x", "databaseUrl: unknown field (check the spelling)"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_CONFIGS, ids=[c[2][:40] for c in BAD_CONFIGS])
def test_bad_config_gives_one_clear_line(tmp_path: Path, path: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, _with(path, value)))
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trading: [unclosed\n", "not valid YAML (line 2, column 1)"),
        ("- a\n- b\n", "the top level must be a mapping, got list"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file$"):
        load_settings(tmp_path / "nope.yaml")


def test_bad_env_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOY_EPOCH", "zero")
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, GOOD))
    assert str(caught.value).startswith("PLOY_EPOCH: input should be a valid integer")
