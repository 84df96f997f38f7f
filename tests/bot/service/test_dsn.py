"""Database URLs are masked before they reach a log line."""

from __future__ import annotations

import pytest

from tradingbot.ledger.dsn import mask_dsn


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bot:s3cret@db:5432/ploy", "postgresql://bot:***@db:5432/ploy"),
        ("postgresql://bot@db/ploy", "postgresql://bot@db/ploy"),
        ("postgresql://db/ploy?user=bot&password=s3cret", "postgresql://db/ploy?user=bot&password=***"),
        ("postgres://u:p%40ss@h/d?sslmode=require", "postgres://u:***@h/d?sslmode=require"),
    ],
)
def test_mask_dsn(url: str, masked: str) -> None:
    assert mask_dsn(url) == masked
