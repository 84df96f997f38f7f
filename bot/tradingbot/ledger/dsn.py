"""The database connection string: parsed the way libpq parses it, masked for people, handed to asyncpg.

``PLOY_DATABASE_URL`` may be a URL (``postgresql://user:pass@host:5432/db?sslmode=require``) or a
libpq key=value string (``host=db user=bot password='s3 cret' dbname=ploy``). Both are parsed by libpq
itself, through psycopg's ``conninfo_to_dict`` (``psycopg[binary]`` ships libpq, so the image needs no
system library); a hand-written parser would disagree with ``psql`` on quoting and percent-encoding,
which is how passwords with ``?``, ``#``, ``@`` or spaces used to end up in log lines.

asyncpg itself only understands URLs, and splits the user info at the first ``@`` and the query at the
first ``?`` without libpq's leniency. The parsed keywords are therefore re-encoded into a URL whose every
value sits percent-encoded in the query string, which asyncpg decodes back exactly
(``asyncpg.connect_utils._parse_connect_dsn_and_args``). Only keywords asyncpg honours are accepted;
any other (``connect_timeout``, ``hostaddr``, ``keepalives``, …) is refused with one line naming it,
instead of reaching the server as an unknown setting.

Nothing here ever puts the connection string, or libpq's error text about it (which quotes the input),
into an exception message: ``DsnError`` says what is wrong in general terms only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote, quote_plus, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "***"

SECRET_KEYWORDS = frozenset({"password", "sslpassword"})
"""libpq keywords whose values are credentials."""

ASYNCPG_KEYWORDS = (
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "passfile",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslpassword",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "krbsrvname",
    "gsslib",
    "service",
)
"""libpq keywords asyncpg reads from a DSN's query string (asyncpg 0.30/0.31/0.32 ``connect_utils``)."""

STARTUP_KEYWORDS = ("application_name", "options")
"""libpq keywords that are startup parameters of the protocol; asyncpg passes leftover query keys as
such (``server_settings``), so they mean the same as under libpq."""

_SUPPORTED = frozenset(ASYNCPG_KEYWORDS) | frozenset(STARTUP_KEYWORDS)

_ASYNCPG_PREFIXES = ("postgresql+asyncpg://", "postgres+asyncpg://")


class DsnError(ValueError):
    """The connection string cannot be used; the message is one line and never quotes the string."""


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed connection string: libpq keyword -> value, as given (no environment defaults).

    ``repr`` and ``str`` never show a credential.
    """

    params: Mapping[str, str] = field(repr=False)

    def __repr__(self) -> str:
        return f"DatabaseTarget({self.masked()})"

    __str__ = __repr__

    def masked(self) -> str:
        """key=value form with every credential replaced by ``***``, for log lines and messages.

        ``host=db port=5432 user=bot password=*** dbname=ploy``.
        """
        first = ("host", "port", "user", "password", "dbname")
        order = sorted(self.params, key=lambda k: (first.index(k) if k in first else len(first), k))
        shown = {key: (MASK if key in SECRET_KEYWORDS else self.params[key]) for key in order}
        return make_conninfo("", **shown)

    def secrets(self) -> tuple[str, ...]:
        """The credentials in the forms they could appear in text: raw, percent-encoded (path and
        form encoding) and as libpq would quote them. Longest first, empty values left out."""
        forms: set[str] = set()
        for key in SECRET_KEYWORDS:
            value = self.params.get(key)
            if value:
                forms |= {value, quote(value, safe=""), quote_plus(value), value.replace("'", "\\'")}
        return tuple(sorted(forms, key=len, reverse=True))

    def redactor(self) -> Callable[[str], str]:
        """A function replacing every form of every credential in a text by ``***``."""
        secrets = self.secrets()

        def redact(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, MASK)
            return text

        return redact

    def asyncpg_dsn(self) -> str:
        """The same target as a URL asyncpg parses exactly: ``postgresql://?host=…&password=…``.

        Every value is percent-encoded in the query (asyncpg ``parse_qs``-decodes it); the URL has no
        user info and no path, so neither of asyncpg's ad-hoc splits at ``@``, ``:`` or ``/`` applies.
        Holds the password: pass it to asyncpg only, never to a log line.
        """
        return "postgresql://?" + urlencode(dict(self.params), quote_via=quote)


def parse_dsn(text: str) -> DatabaseTarget:
    """Parse a URL or key=value connection string with libpq's rules.

    ``postgresql+asyncpg://`` / ``postgres+asyncpg://`` (SQLAlchemy spelling) are read as
    ``postgresql://``. Raises ``DsnError`` (one line, without the string) when libpq cannot parse it
    or it uses a keyword asyncpg does not support.
    """
    text = text.strip()
    for prefix in _ASYNCPG_PREFIXES:
        if text.startswith(prefix):
            text = "postgresql://" + text[len(prefix) :]
    if not text:
        raise DsnError("the database connection string is empty")
    try:
        params = conninfo_to_dict(text)
    except psycopg.Error:
        # libpq's message quotes the offending part of the string, which may be the password.
        raise DsnError(
            "the database connection string is neither a valid postgresql:// URL nor a valid libpq "
            "key=value string (in a URL, percent-encode reserved characters of the user and password)"
        ) from None
    unsupported = sorted(key for key in params if key not in _SUPPORTED)
    if unsupported:
        raise DsnError(
            f"database connection parameter(s) {', '.join(unsupported)} not supported by the bot's "
            f"PostgreSQL driver (asyncpg); supported: {', '.join(sorted(_SUPPORTED))}"
        )
    return DatabaseTarget(MappingProxyType({str(k): str(v) for k, v in params.items()}))


def mask_dsn(text: str) -> str:
    """``text`` for a log line: its key=value form with credentials masked, or a placeholder when it
    cannot be parsed (it might still contain a secret)."""
    try:
        return parse_dsn(text).masked()
    except DsnError:
        return "<unparseable database connection string>"
