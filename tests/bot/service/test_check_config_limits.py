"""``ploy-bot check-config`` refuses values that parse but cannot work: non-finite numbers, integers out
of PostgreSQL's range and absurd decimals. Each bad value gives exactly one line and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradingbot.cli import EXIT_CONFIG, app

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "bot" / "tradingbot" / "config" / "default.yaml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def _config(tmp_path: Path, replace: tuple[str, str] | None = None, append: str = "") -> Path:
    """The embedded default config with one line replaced and/or lines appended (raw YAML text, so
    the test writes exactly what a person would type, e.g. ``.inf``)."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1])
    path = tmp_path / "bot.yaml"
    path.write_text(text + append, encoding="utf-8")
    return path


SIZE = 'maxOrderSize: "50"'
AGE = "killSwitch: false"

# (id, replaced line, appended text, environment, the one line expected on stderr)
BAD: list[tuple[str, tuple[str, str] | None, str, dict[str, str], str]] = [
    (
        "grace-inf",
        None,
        "shutdownGraceSeconds: .inf\n",
        {},
        "shutdownGraceSeconds: input should be a finite number",
    ),
    (
        "grace-nan",
        None,
        "shutdownGraceSeconds: .nan\n",
        {},
        "shutdownGraceSeconds: input should be a finite number",
    ),
    (
        "grace-env-inf",
        None,
        "",
        {"PLOY_SHUTDOWN_GRACE_SECONDS": "inf"},
        "PLOY_SHUTDOWN_GRACE_SECONDS: input should be a finite number",
    ),
    (
        "grace-huge",
        None,
        "shutdownGraceSeconds: 1.0e+300\n",
        {},
        "shutdownGraceSeconds: input should be less than or equal to 3600",
    ),
    ("replay-speed-inf", None, "replaySpeed: .inf\n", {}, "replaySpeed: input should be a finite number"),
    (
        "role-confirm-inf",
        None,
        "",
        {"PLOY_ROLE_CONFIRM_SECONDS": "inf"},
        "PLOY_ROLE_CONFIRM_SECONDS: input should be a finite number",
    ),
    (
        "role-confirm-too-short",
        None,
        "roleConfirmSeconds: 1\n",
        {},
        "roleConfirmSeconds: input should be greater than or equal to 3",
    ),
    (
        "data-age-inf",
        (AGE, AGE + "\n    maxDataAgeSeconds: .inf"),
        "",
        {},
        "trading.risk.maxDataAgeSeconds: input should be a valid integer",
    ),
    (
        "epoch-2^63",
        None,
        "",
        {"PLOY_EPOCH": str(2**63)},
        "PLOY_EPOCH: input should be less than or equal to 9223372036854775807",
    ),
    (
        "epoch-file-2^64",
        None,
        f"epoch: {2**64}\n",
        {},
        "epoch: input should be less than or equal to 9223372036854775807",
    ),
    ("epoch-zero", None, "", {"PLOY_EPOCH": "0"}, "PLOY_EPOCH: input should be greater than or equal to 1"),
    (
        "size-1e999999999",
        (SIZE, "maxOrderSize: 1E+999999999"),
        "",
        {},
        'trading.strategy.maxOrderSize: must be a non-negative decimal written as a string, e.g. "0.01"',
    ),
    (
        "size-quoted-1e12",
        (SIZE, 'maxOrderSize: "1000000000000"'),
        "",
        {},
        "trading.strategy.maxOrderSize: must be below 1E+12 and have at most 12 decimal places",
    ),
    (
        "size-bare-int-huge",
        (SIZE, "maxOrderSize: " + "9" * 50),
        "",
        {},
        'trading.strategy.maxOrderSize: write decimals as quoted strings (e.g. "' + "9" * 37 + '..."), '
        "got the bare number " + "9" * 37 + "...",
    ),
    (
        "size-tiny",
        (SIZE, 'maxOrderSize: "0.0000000000001"'),
        "",
        {},
        "trading.strategy.maxOrderSize: must be below 1E+12 and have at most 12 decimal places",
    ),
    (
        "size-nan",
        (SIZE, 'maxOrderSize: "NaN"'),
        "",
        {},
        'trading.strategy.maxOrderSize: must be a non-negative decimal written as a string, e.g. "0.01"',
    ),
    (
        "size-infinity",
        (SIZE, 'maxOrderSize: "Infinity"'),
        "",
        {},
        'trading.strategy.maxOrderSize: must be a non-negative decimal written as a string, e.g. "0.01"',
    ),
    (
        "exposure-1e999",
        ('maxExposureUsd: "500"', 'maxExposureUsd: "1E+999"'),
        "",
        {},
        'trading.risk.maxExposureUsd: must be a non-negative decimal written as a string, e.g. "0.01"',
    ),
]


SUPPORTED_DSN_KEYWORDS = (
    "application_name, dbname, gsslib, host, krbsrvname, options, passfile, password, port, service, "
    "ssl_max_protocol_version, ssl_min_protocol_version, sslcert, sslcrl, sslkey, sslmode, sslnegotiation, "
    "sslpassword, sslrootcert, target_session_attrs, user"
)
BAD += [
    (
        "dsn-unsupported-keyword",
        None,
        "",
        {"PLOY_DATABASE_URL": "postgresql://u:Zq7pw@h/d?connect_timeout=5"},
        "PLOY_DATABASE_URL: database connection parameter(s) connect_timeout not supported by the bot's "
        f"PostgreSQL driver (asyncpg); supported: {SUPPORTED_DSN_KEYWORDS}",
    ),
    (
        "dsn-garbled",
        None,
        "",
        {"DATABASE_URL": "host=h password=Zq7pw bogus"},
        "DATABASE_URL: the database connection string is neither a valid postgresql:// URL nor a valid "
        "libpq key=value string (in a URL, percent-encode reserved characters of the user and password)",
    ),
]


@pytest.mark.parametrize(("replace", "append", "env", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_check_config_refuses_in_one_line(
    tmp_path: Path, replace: tuple[str, str] | None, append: str, env: dict[str, str], line: str
) -> None:
    result = CliRunner().invoke(app, ["check-config", str(_config(tmp_path, replace, append))], env=env)
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == f"config error: {line}\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("replace", "append", "env"),
    [
        ((SIZE, 'maxOrderSize: "999999999999.999999999999"'), "", {}),  # just inside both bounds
        ((SIZE, 'maxOrderSize: "1.500000000000000000000"'), "", {}),  # trailing zeros are not places
        (None, "shutdownGraceSeconds: 3600\n", {"PLOY_EPOCH": str(2**63 - 1)}),
    ],
    ids=["size-at-bounds", "size-trailing-zeros", "grace-and-epoch-at-max"],
)
def test_check_config_accepts_the_limits(
    tmp_path: Path, replace: tuple[str, str] | None, append: str, env: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["check-config", str(_config(tmp_path, replace, append))], env=env)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "config ok\n", "")
