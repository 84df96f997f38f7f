"""One-line, human-readable config errors."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError


class ConfigError(ValueError):
    """The configuration is invalid; ``str(err)`` is one line naming the field and the problem."""


_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling)",
}


def _path(loc: tuple[int | str, ...], rename: Callable[[str], str]) -> str:
    out = ""
    for index, raw in enumerate(loc):
        part = rename(raw) if index == 0 and isinstance(raw, str) else raw
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def describe_validation_error(exc: ValidationError, rename: Callable[[str], str] = str) -> str:
    """The first error of ``exc`` as ``path: problem``; ``rename`` maps the top-level key to the name
    the person wrote (config file key or environment variable)."""
    first = exc.errors(include_url=False)[0]
    message = _MESSAGES.get(first["type"], first["msg"])
    message = message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
    path = _path(tuple(first["loc"]), rename)
    return f"{path}: {_without_repeated_name(path, message)}" if path else message


def _without_repeated_name(path: str, message: str) -> str:
    """Drop a leading field name the path already ends with: the trading-config rules name their field
    for the API server's sake (``strategy.minEdge must be ...``); after the path it would be said twice."""
    name, _, rest = message.partition(" ")
    if rest and (path == name or path.endswith("." + name)):
        return rest
    return message
