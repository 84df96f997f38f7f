"""Session fixtures shared by every tier: the real PostgreSQL server and the local control plane.

``PLOY_REQUIRE_TIERS`` (set by ``make test``) lists tiers whose resources must exist; a missing
resource then fails the session instead of skipping, so CI can never pass on skipped tiers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres


def _required(tier: str) -> bool:
    return tier in {t.strip() for t in os.environ.get("PLOY_REQUIRE_TIERS", "").split(",")}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; tests own their databases inside it."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if _required("db"):
            pytest.fail(f"db tier required but unavailable: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.destroy()
