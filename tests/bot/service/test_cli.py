"""The ``ploy-bot`` command line: check-config, the missing database URL, and SIGTERM -> exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from tests.support.postgres import free_port
from tradingbot import __version__
from tradingbot.cli import app
from tradingbot.ledger.migrate import load_migrations

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "bot" / "tradingbot" / "config" / "default.yaml"

PLOY_BOT = Path(sys.executable).parent / "ploy-bot"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def _config(tmp_path: Path, mode: str = "paper") -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "trading": {
                    "mode": mode,
                    "markets": [{"conditionId": "0x" + "01" * 32, "tokens": ["1", "2"]}],
                    "strategy": {"name": "complete-set-arbitrage", "minEdge": "0.01", "maxOrderSize": "5"},
                    "risk": {"maxExposureUsd": "50", "maxDailyLossUsd": "10"},
                }
            }
        ),
        encoding="utf-8",
    )
    return path


def test_check_config_ok(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(_config(tmp_path))])
    assert result.exit_code == 0 and result.stdout == "config ok\n"


def test_check_config_names_the_first_problem_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(_config(tmp_path, mode="live"))])
    assert result.exit_code == 2
    assert result.stderr == 'config error: trading.mode: must be "paper": live trading is not supported\n'


def test_check_config_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert result.stderr == f"config error: {tmp_path / 'absent.yaml'}: no such file\n"


def test_run_without_database_url_says_so() -> None:
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert result.stderr.startswith("PLOY_DATABASE_URL is not set: ")
    assert result.stderr.count("\n") == 1


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__


@pytest.mark.db
def test_run_exits_zero_on_sigterm(migrated_dsn: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLOY_")},
        "PLOY_DATABASE_URL": migrated_dsn,
        "PLOY_HTTP_PORT": str(port),
        "PLOY_HTTP_HOST": "127.0.0.1",
        "PLOY_REPLAY_SPEED": "50",
        "PLOY_SHUTDOWN_GRACE_SECONDS": "10",
    }
    log = tmp_path / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(PLOY_BOT), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "ploy-bot stopped" in text
    assert "Traceback" not in text


@pytest.mark.db
def test_migrate_runs_with_the_migration_jobs_environment(
    db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's migration Job names its TradingBot but has no color: migrate must still run."""
    monkeypatch.setenv("PLOY_DATABASE_URL", db_dsn)
    monkeypatch.setenv("PLOY_TRADINGBOT_NAME", "arb")
    monkeypatch.setenv("PLOY_TRADINGBOT_NAMESPACE", "bots")
    monkeypatch.delenv("PLOY_COLOR", raising=False)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("applied ")
    refused = CliRunner().invoke(app, ["check-config", str(DEFAULT_CONFIG)])
    assert refused.exit_code != 0  # running as that pod still needs its color
    assert "PLOY_COLOR" in refused.output


async def test_startup_migration_in_a_cluster_is_best_effort(db_dsn: str) -> None:
    """An in-cluster pod migrates a fresh database at start, and still starts when it cannot."""
    from tradingbot.cli import _migrate_best_effort

    assert await _migrate_best_effort(db_dsn) == [m.version for m in load_migrations()]
    assert await _migrate_best_effort(db_dsn) == []
    unreachable = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nowhere"
    assert await _migrate_best_effort(unreachable, give_up_after=1.0) is None


def test_migrate_applies_once(db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOY_DATABASE_URL", db_dsn)
    first = CliRunner().invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    versions = [m.version for m in load_migrations()]
    expected = f"applied {len(versions)} migration(s): {', '.join(map(str, versions))}"
    assert first.stdout.splitlines()[-1] == expected
    again = CliRunner().invoke(app, ["migrate"])
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "applied 0 migration(s)"
