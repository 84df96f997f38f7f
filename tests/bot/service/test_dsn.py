"""Connection strings are parsed as libpq parses them, masked before they reach a log line, and handed
to asyncpg in a form it decodes exactly."""

from __future__ import annotations

import pytest
from asyncpg.connect_utils import _parse_connect_dsn_and_args

from tradingbot.health import timed
from tradingbot.ledger.dsn import mask_dsn, parse_dsn

PASSWORD = "p?#@:/ 'x%2F+&="


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bot:s3cret@db:5432/ploy", "host=db port=5432 user=bot password=*** dbname=ploy"),
        ("postgresql://bot@db/ploy", "host=db user=bot dbname=ploy"),
        ("postgresql://db/ploy?user=bot&password=s3cret", "host=db user=bot password=*** dbname=ploy"),
        ("postgres://u:p%40ss@h/d?sslmode=require", "host=h user=u password=*** dbname=d sslmode=require"),
        ("postgresql+asyncpg://u:pw@h/d", "host=h user=u password=*** dbname=d"),
        ("host=db user=bot password='s3 cr#t' dbname=ploy", "host=db user=bot password=*** dbname=ploy"),
        ("postgresql://bot:pa?ss#@db/ploy", "host=db user=bot password=*** dbname=ploy"),
        ("not a dsn", "<unparseable database connection string>"),
    ],
)
def test_mask_dsn(url: str, masked: str) -> None:
    assert mask_dsn(url) == masked


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://bot:p%3F%23%40%3A%2F%20%27x%252F%2B%26%3D@db:6432/ploy?sslmode=disable",
        "host=db port=6432 user=bot password='p?#@:/ \\'x%2F+&=' dbname=ploy sslmode=disable",
    ],
    ids=["url", "key=value"],
)
def test_asyncpg_reads_back_exactly_what_libpq_parsed(dsn: str) -> None:
    target = parse_dsn(dsn)
    assert target.params["password"] == PASSWORD
    addrs, params = _parse_connect_dsn_and_args(
        dsn=target.asyncpg_dsn(),
        host=None,
        port=None,
        user=None,
        password=None,
        passfile=None,
        database=None,
        ssl=None,
        service=None,
        servicefile=None,
        direct_tls=None,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
    )
    assert addrs == [("db", 6432)]
    assert (params.user, params.password, params.database) == ("bot", PASSWORD, "ploy")
    assert PASSWORD not in repr(target) and PASSWORD not in str(target)


async def test_health_details_never_echo_the_password() -> None:
    target = parse_dsn("host=db user=bot password='p?#@:/ \\'x%2F+&=' dbname=ploy")

    async def failing() -> str:
        raise ValueError(f"bad query field: {PASSWORD} / %-encoded: p%3F%23%40%3A%2F%20%27x%252F%2B%26%3D")

    result = await timed("database", failing, 1.0, target.redactor())
    assert not result.ok and "***" in result.detail
    assert "p?#" not in result.detail and "p%3F" not in result.detail
