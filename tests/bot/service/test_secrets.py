"""The database password never leaves the process: not in a log line, not in an HTTP response.

The password has every character that used to break masking (``? # @ : / '`` and a space), plus
``%2F``, ``+``, ``&`` and ``=`` to catch a double decode or a form decode. PostgreSQL really checks it:
the test role authenticates with SCRAM through a pg_hba.conf line of its own (the session server
otherwise trusts every connection), so a bot that mangled the password while parsing would not become
ready. The app runs in-process with every log record captured at DEBUG; every endpoint is read while
the database works, while it is unreachable (wrong port) and with a wrong password, so error details
are rendered too. ``ploy-bot migrate`` and ``ploy-bot run`` run as real processes and their whole
output is scanned the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.support.postgres import PostgresServer, free_port
from tradingbot.app import create_app
from tradingbot.config.settings import load_settings
from tradingbot.ledger.dsn import DsnError, parse_dsn

pytestmark = pytest.mark.db

PASSWORD = "Zq7?#@:/ 'Wk9%2F+&=x"
"""Contains ``?#@:/ '``; ``Zq7`` and ``Wk9`` (letters no id or hex string here contains) make a
partial leak visible too."""

WRONG_PASSWORD = "Yv3?#@:/ 'Jm4-wrong"

ENDPOINTS = ("/health", "/health/ready", "/health/live", "/metrics", "/orders", "/positions")

PLOY_BOT = Path(sys.executable).parent / "ploy-bot"


def leaked_forms(password: str) -> list[str]:
    """What must appear nowhere: the password raw, percent-encoded both ways, and distinctive pieces."""
    return [password, quote(password, safe=""), quote_plus(password), password[:3], password[10:13]]


def url_dsn(role: str, password: str, port: int, db: str) -> str:
    return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{port}/{db}"


def keyvalue_dsn(role: str, password: str, port: int, db: str) -> str:
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return f"host=127.0.0.1 port={port} user={role} password='{escaped}' dbname={db}"


DsnBuilder = Callable[[str, str, int, str], str]


@dataclass
class SecretRole:
    """A superuser role that must authenticate with ``PASSWORD`` (SCRAM) on database ``db``."""

    name: str
    port: int
    db: str


@pytest.fixture
async def secret_role(postgres: PostgresServer, migrated_dsn: str) -> AsyncIterator[SecretRole]:
    name = f"ploy_secret_{uuid.uuid4().hex[:8]}"
    db = migrated_dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(postgres.dsn, timeout=10)
    try:
        literal = "'" + PASSWORD.replace("'", "''") + "'"
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD {literal}")
        hba = postgres.datadir / "pg_hba.conf"
        # First match wins: this line makes the server check the password of this role only.
        hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await _until_password_checked(name, postgres.port, db)
    yield SecretRole(name, postgres.port, db)


async def _until_password_checked(role: str, port: int, db: str) -> None:
    """Wait (at most 10 s) until the reloaded server refuses a wrong password for ``role``."""
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=port, user=role, password="wrong", database=db, timeout=5
            )
        except asyncpg.InvalidPasswordError:
            return
        await conn.close()
        assert time.monotonic() < deadline, "pg_hba.conf reload did not take effect"
        await asyncio.sleep(0.1)


def _env(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    for name in list(os.environ):
        if name.startswith("PLOY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PLOY_DATABASE_URL", dsn)
    monkeypatch.setenv("PLOY_REPLAY_SPEED", "50")


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot", timeout=10) as client:
            yield client


async def _read_everything(client: httpx.AsyncClient) -> tuple[str, dict[str, int]]:
    """Every endpoint's status line, headers and body, and the status code per endpoint."""
    texts: list[str] = []
    codes: dict[str, int] = {}
    for path in ENDPOINTS:
        response = await client.get(path)
        codes[path] = response.status_code
        texts.append(f"{path} {response.status_code} {dict(response.headers)}\n{response.text}")
    return "\n".join(texts), codes


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(100):
        if (await client.get("/health/ready")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    pytest.fail((await client.get("/health/ready")).text)


@pytest.mark.parametrize("build", [url_dsn, keyvalue_dsn], ids=["url", "key=value"])
async def test_no_credential_in_logs_or_responses(
    secret_role: SecretRole,
    build: DsnBuilder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    role, port, db = secret_role.name, secret_role.port, secret_role.db
    seen: list[str] = []

    # The database works: the password was parsed and sent intact, or this never gets ready.
    _env(monkeypatch, build(role, PASSWORD, port, db))
    app = create_app(load_settings())
    async with running(app) as client:
        await _wait_ready(client)
        text, codes = await _read_everything(client)
        seen.append(text)
    assert set(codes.values()) == {200}, text

    # The database is unreachable (nothing listens on that port): error details are rendered.
    _env(monkeypatch, build(role, PASSWORD, free_port(), db))
    async with running(create_app(load_settings())) as client:
        text, codes = await _read_everything(client)
        seen.append(text)
    assert codes["/health/ready"] == 503 and codes["/orders"] == 503 and codes["/health/live"] == 200
    assert "Connect call failed" in text or "ConnectionRefusedError" in text, text  # details rendered

    # The server refuses the password: its error is rendered as well.
    _env(monkeypatch, build(role, WRONG_PASSWORD, port, db))
    async with running(create_app(load_settings())) as client:
        text, codes = await _read_everything(client)
        seen.append(text)
    assert codes["/health/ready"] == 503 and "InvalidPasswordError" in text, text

    everything = "\n".join([caplog.text, *seen])
    # The startup line names the database, masked: the scan below looked at real output.
    assert f"user={role}" in caplog.text and "password=***" in caplog.text
    for secret in (*leaked_forms(PASSWORD), *leaked_forms(WRONG_PASSWORD)):
        assert secret not in everything, f"{secret!r} leaked"


def test_the_issue_dsns_are_masked() -> None:
    """The two shapes of the report: ``?``/``#`` unencoded in a URL's password, and key=value."""
    raw_url = "postgresql://bot:pa?ss#@db:5432/ploy"
    assert parse_dsn(raw_url).params["password"] == "pa?ss#"  # libpq's reading, as psql's
    masked = parse_dsn(raw_url).masked()
    assert "pa?ss" not in masked and "password=***" in masked and "host=db" in masked
    kv = parse_dsn("host=db user=bot password='s3 cr#t' dbname=ploy").masked()
    assert "s3" not in kv and "cr#t" not in kv and kv.count("***") == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("postgresql+wrong://u:Zq7secret@h/d", "Zq7secret"),
        ("host=db password=Zq7secret bogus", "Zq7secret"),
        ("postgresql://u:Zq7secret@h/d?bogus=1", "Zq7secret"),
        ("postgresql://u:Zq7secret@h/d?connect_timeout=5", "Zq7secret"),
    ],
    ids=["scheme", "no-equals", "unknown-uri-param", "unsupported-keyword"],
)
def test_a_refused_dsn_is_never_quoted(text: str, fragment: str) -> None:
    with pytest.raises(DsnError) as caught:
        parse_dsn(text)
    assert fragment not in str(caught.value) and "\n" not in str(caught.value)


def test_ploy_bot_processes_never_print_the_password(secret_role: SecretRole, tmp_path: Path) -> None:
    """``ploy-bot migrate`` and ``ploy-bot run`` (real processes, INFO logging, uvicorn's own logs)."""
    http_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLOY_") and k != "DATABASE_URL"},
        "PLOY_DATABASE_URL": keyvalue_dsn(secret_role.name, PASSWORD, secret_role.port, secret_role.db),
        "PLOY_HTTP_PORT": str(http_port),
        "PLOY_HTTP_HOST": "127.0.0.1",
        "PLOY_REPLAY_SPEED": "50",
        "PLOY_SHUTDOWN_GRACE_SECONDS": "10",
    }
    migrate = subprocess.run(
        [str(PLOY_BOT), "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    outputs = [migrate.stdout, migrate.stderr]
    log = tmp_path / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(PLOY_BOT), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        status = None
        while status != 200 and time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                status = httpx.get(f"http://127.0.0.1:{http_port}/health/ready", timeout=2).status_code
            time.sleep(0.2)
        assert status == 200, log.read_text()
        for path in ENDPOINTS:
            response = httpx.get(f"http://127.0.0.1:{http_port}{path}", timeout=5)
            outputs.append(f"{dict(response.headers)}\n{response.text}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    outputs.append(log.read_text())
    everything = "\n".join(outputs)
    assert "password=***" in everything  # the startup line was there to scan
    for secret in leaked_forms(PASSWORD):
        assert secret not in everything, f"{secret!r} leaked"
