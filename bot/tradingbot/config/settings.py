"""Bot settings: the mounted YAML config file (``PLOY_CONFIG``) overridden by ``PLOY_*`` environment.

Precedence, highest first: environment variables, the YAML file, the embedded default
(``default.yaml``, the recorded replay market). ``load_settings`` validates everything at startup and
raises ``ConfigError`` whose message is one line a person can act on.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from trading_config import TradingSpec
from tradingbot.config.errors import ConfigError, describe_validation_error
from tradingbot.ledger.dsn import DsnError, parse_dsn

CONFIG_PATH_ENV = "PLOY_CONFIG"

BIGINT_MAX = 2**63 - 1
"""Largest PostgreSQL ``bigint`` (the type of the fence and order epochs)."""

MAX_GRACE_SECONDS = 3600.0
"""Upper bound of ``shutdownGraceSeconds``: an hour is far beyond any pod's termination grace period,
and timers far in the future overflow the event loop."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


YAML_KEYS: dict[str, str] = {
    "trading": "trading",
    "feed": "feed",
    "replaySpeed": "replay_speed",
    "replayLoop": "replay_loop",
    "replayRecording": "replay_recording",
    "polymarketWsUrl": "polymarket_ws_url",
    "polymarketRestUrl": "polymarket_rest_url",
    "role": "role",
    "epoch": "epoch",
    "botId": "bot_id",
    "color": "color",
    "httpHost": "http_host",
    "httpPort": "http_port",
    "shutdownGraceSeconds": "shutdown_grace_seconds",
    "fenceTimeoutSeconds": "fence_timeout_seconds",
    "roleConfirmSeconds": "role_confirm_seconds",
}
"""Top-level keys of the YAML config file -> Settings field. Anything else in the file is an error;
``PLOY_DATABASE_URL``, the TradingBot identity and the kubeconfig path come only from the environment."""


class Settings(BaseSettings):
    """Validated bot settings.

    ``role`` is ``standalone`` (always active, fencing epoch ``epoch``) or ``cluster`` (active iff the
    TradingBot ``tradingbot_namespace/tradingbot_name`` has ``status.activeColor == color``). When
    ``role`` is not given it is ``cluster`` if ``PLOY_TRADINGBOT_NAME`` is set, else ``standalone``.
    ``database_url`` comes only from the environment (``PLOY_DATABASE_URL`` or ``DATABASE_URL``): the
    config file is a ConfigMap and must never hold a credential. Each field's environment variable is
    its ``validation_alias``; ``YAML_KEYS`` names its key in the config file.
    """

    model_config = SettingsConfigDict(
        extra="forbid", case_sensitive=False, validate_default=True, populate_by_name=True
    )

    trading: TradingSpec = Field(validation_alias=_env("PLOY_TRADING"))
    database_url: SecretStr | None = Field(
        default=None, validation_alias=_env("PLOY_DATABASE_URL", "DATABASE_URL"), repr=False
    )
    feed: Literal["replay", "polymarket-ws"] = Field(default="replay", validation_alias=_env("PLOY_FEED"))
    replay_speed: float = Field(
        default=10.0, gt=0, le=1e6, allow_inf_nan=False, validation_alias=_env("PLOY_REPLAY_SPEED")
    )
    replay_loop: bool = Field(default=True, validation_alias=_env("PLOY_REPLAY_LOOP"))
    replay_recording: str = Field(
        default="ws_market_burst.json",
        pattern=r"^[A-Za-z0-9_.-]+\.json$",
        validation_alias=_env("PLOY_REPLAY_RECORDING"),
        description="The recording the replay feed plays: a file name in tradingbot/data (see its README).",
    )
    polymarket_ws_url: str = Field(
        default="wss://ws-subscriptions-clob.polymarket.com/ws/market",
        validation_alias=_env("PLOY_POLYMARKET_WS_URL"),
    )
    polymarket_rest_url: str = Field(
        default="https://clob.polymarket.com", validation_alias=_env("PLOY_POLYMARKET_REST_URL")
    )
    role: Literal["standalone", "cluster"] | None = Field(default=None, validation_alias=_env("PLOY_ROLE"))
    # The fence's epoch column is a PostgreSQL bigint: a larger epoch could never be written.
    epoch: int = Field(default=1, ge=1, le=BIGINT_MAX, validation_alias=_env("PLOY_EPOCH"))
    bot_id: str | None = Field(default=None, min_length=1, validation_alias=_env("PLOY_BOT_ID"))
    color: Literal["blue", "green"] | None = Field(default=None, validation_alias=_env("PLOY_COLOR"))
    tradingbot_name: str | None = Field(default=None, validation_alias=_env("PLOY_TRADINGBOT_NAME"))
    tradingbot_namespace: str | None = Field(default=None, validation_alias=_env("PLOY_TRADINGBOT_NAMESPACE"))
    kubeconfig: Path | None = Field(default=None, validation_alias=_env("PLOY_KUBECONFIG"))
    http_host: str = Field(default="0.0.0.0", validation_alias=_env("PLOY_HTTP_HOST"))
    http_port: int = Field(default=8080, ge=1, le=65535, validation_alias=_env("PLOY_HTTP_PORT"))
    kill_switch: bool | None = Field(default=None, validation_alias=_env("PLOY_KILL_SWITCH"))
    shutdown_grace_seconds: float = Field(
        default=20.0,
        gt=0,
        le=MAX_GRACE_SECONDS,
        allow_inf_nan=False,
        validation_alias=_env("PLOY_SHUTDOWN_GRACE_SECONDS"),
    )

    role_confirm_seconds: float = Field(
        default=30.0,
        ge=3,
        le=3600,
        allow_inf_nan=False,
        validation_alias=_env("PLOY_ROLE_CONFIRM_SECONDS"),
        description="In a cluster, /health/ready fails when the role was not confirmed from the API "
        "within this many seconds (the watch re-reads it every third of it).",
    )
    fence_timeout_seconds: float = Field(
        default=15.0,
        ge=1.0,
        le=600.0,
        allow_inf_nan=False,
        validation_alias=_env("PLOY_FENCE_TIMEOUT_SECONDS"),
        description="PostgreSQL idle-in-transaction timeout of the bot's sessions; every venue deadline "
        "is derived from it (execution.FenceTiming).",
    )
    pod_name: str | None = Field(default=None, validation_alias=_env("PLOY_POD_NAME"))
    pod_uid: str | None = Field(default=None, validation_alias=_env("PLOY_POD_UID"))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then init kwargs (the YAML file): the environment overrides the file."""
        return (env_settings, init_settings)

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        """Parsed as libpq would (URL or key=value) so a bad string fails at startup, in one line that
        never quotes it."""
        if value is not None:
            try:
                parse_dsn(value.get_secret_value())
            except DsnError as exc:
                raise PydanticCustomError(
                    "database_url", str(exc).replace("{", "(").replace("}", ")")
                ) from None
        return value

    @field_validator("polymarket_ws_url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if re.fullmatch(r"wss?://[^\s/?#]+(/\S*)?", value) is None:
            raise PydanticCustomError(
                "websocket_url",
                "must be a WebSocket URL (ws:// or wss://, a host, an optional path)",
            )
        return value

    @field_validator("replay_recording")
    @classmethod
    def _recording_embedded(cls, value: str) -> str:
        names = sorted(
            p.name
            for p in resources.files("tradingbot").joinpath("data").iterdir()
            if p.name.endswith(".json")
        )
        if value not in names:
            raise PydanticCustomError(
                "replay_recording",
                "no embedded recording {value}; choose one of: {names}",
                {"value": value, "names": ", ".join(names)},
            )
        return value

    @model_validator(mode="after")
    def _role_complete(self) -> Settings:
        if self.role is None:
            self.role = "cluster" if self.tradingbot_name else "standalone"
        if self.role == "cluster":
            for value, env in (
                (self.color, "PLOY_COLOR"),
                (self.tradingbot_name, "PLOY_TRADINGBOT_NAME"),
                (self.tradingbot_namespace, "PLOY_TRADINGBOT_NAMESPACE"),
            ):
                if not value:
                    raise PydanticCustomError(
                        "role_env", 'role "cluster" needs {env} to be set', {"env": env}
                    )
        if self.kill_switch is not None and self.kill_switch != self.trading.risk.kill_switch:
            risk = self.trading.risk.model_copy(update={"kill_switch": self.kill_switch})
            self.trading = self.trading.model_copy(update={"risk": risk})
        return self

    @property
    def effective_bot_id(self) -> str:
        """The fence row's key: ``namespace/name`` of the TradingBot in a cluster, else ``bot_id``."""
        if self.role == "cluster":
            return f"{self.tradingbot_namespace}/{self.tradingbot_name}"
        return self.bot_id or "standalone"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML config file at ``path`` into a mapping.

    Raises ``ConfigError`` (one line) when the file is missing, unreadable, not YAML or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config_text(text, source=str(path))


def parse_config_text(text: str, source: str) -> dict[str, Any]:
    """Parse YAML ``text`` (named ``source`` in messages); raise ``ConfigError`` if not a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "syntax error"
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return {str(key): value for key, value in data.items()}


def default_config_text() -> str:
    """The embedded default config (the recorded replay market), as YAML text."""
    return resources.files("tradingbot.config").joinpath("default.yaml").read_text(encoding="utf-8")


def load_settings(config_path: Path | None = None, *, for_migration: bool = False) -> Settings:
    """Build validated settings from ``config_path`` (else ``$PLOY_CONFIG``, else the embedded default).

    ``for_migration``: the caller only migrates the schema, so the trading role is irrelevant; the
    operator's migration Job runs with the TradingBot's name but no color, which would otherwise be an
    incomplete "cluster" role.

    Raises ``ConfigError`` with a one-line message on any problem.
    """
    if config_path is None and os.environ.get(CONFIG_PATH_ENV):
        config_path = Path(os.environ[CONFIG_PATH_ENV])
    if config_path is None:
        data = parse_config_text(default_config_text(), source="embedded default config")
    else:
        data = read_config_file(config_path)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in YAML_KEYS:
            raise ConfigError(f"{key}: unknown field (check the spelling)")
        kwargs[YAML_KEYS[key]] = value
    if for_migration and not os.environ.get("PLOY_ROLE"):
        kwargs["role"] = "standalone"
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, _source_name)) from None


def _source_name(name: str) -> str:
    """Name a top-level error location as the person wrote it: the environment variable if it is set,
    else the config file's key."""
    to_yaml = {field: key for key, field in YAML_KEYS.items()}
    for field_name, info in Settings.model_fields.items():
        choices = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else []
        env_names = [c for c in choices if isinstance(c, str)]
        if name != field_name and name not in env_names:
            continue
        for env_name in env_names:
            if env_name in os.environ:
                return env_name
        return to_yaml.get(field_name, env_names[0] if env_names else name)
    return name
