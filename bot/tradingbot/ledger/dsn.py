"""Masking of database URLs so that a password never reaches a log line or an error message."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_dsn(url: str) -> str:
    """``url`` with its password (and any ``password=`` query parameter) replaced by ``***``.

    ``postgresql://bot:s3cret@db:5432/ploy`` -> ``postgresql://bot:***@db:5432/ploy``. A URL that
    cannot be parsed is replaced entirely, because it might still contain a secret.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
        query = "&".join(
            "password=***" if pair.lower().startswith("password=") else pair
            for pair in parts.query.split("&")
            if pair
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable database URL>"
