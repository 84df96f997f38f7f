"""Prometheus I/O for the metric analysis gate: one instant query per analysis query, as a Reading.

Uses the Prometheus HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/):
``GET <base>/api/v1/query?query=<PromQL>`` answers ``{"status": "success", "data": {"resultType":
"vector"|"scalar"|…, "result": …}}``; a sample's value is ``[<unix time>, "<float as string>"]``
(``"NaN"``, ``"+Inf"`` possible). An error answer has ``status: "error"``, ``errorType`` and ``error``
(HTTP 400 for a query that does not parse, 422 for one that cannot be executed, 503 on timeout).

A query must give ONE number: a vector of one sample or a scalar. Everything else is an inconclusive
:class:`~tradingbot_operator.observed.Reading` with the reason (never an exception): no address
configured, connection refused, timeout, an HTTP or API error, no series, more than one series, NaN.
The plan decides what that means (``onInconclusive``). Every request has a timeout.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import httpx

from tradingbot_operator.observed import Reading

# One query must not hold a pass up for long: Prometheus answers instant queries in milliseconds.
QUERY_TIMEOUT_SECONDS = 5.0
MAX_ERROR_CHARS = 300


class Prometheus:
    """Instant queries against one Prometheus (``base_url`` e.g. ``http://prometheus:9090``), or
    none: without an address every query is inconclusive ("no Prometheus address configured")."""

    def __init__(self, base_url: str | None, *, timeout: float = QUERY_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout)) if self.base_url else None
        # Credentials in the address (http://user:password@host) never reach a status or an Event.
        self._secret = httpx.URL(self.base_url).userinfo.decode() if self.base_url else ""

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()

    async def read_all(self, queries: Mapping[str, str]) -> dict[str, Reading]:
        """``{name: Reading}`` for ``{name: rendered PromQL}``, queried concurrently."""
        names = list(queries)
        readings = await asyncio.gather(*(self.read(queries[n]) for n in names))
        return dict(zip(names, readings, strict=True))

    async def read(self, promql: str) -> Reading:
        """The single number ``promql`` evaluates to now, or an inconclusive Reading saying why."""
        if self._client is None or self.base_url is None:
            return Reading(None, "no Prometheus address configured (ploy-operator run --prometheus-url)")
        try:
            response = await self._client.get(f"{self.base_url}/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            text = self._redact(f"Prometheus unreachable: {type(exc).__name__}: {exc}")
            return Reading(None, text[:MAX_ERROR_CHARS])
        try:
            body = response.json()
        except ValueError:
            return Reading(None, f"Prometheus answered HTTP {response.status_code} without JSON")
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "") if isinstance(body, dict) else ""
            kind = body.get("errorType", "") if isinstance(body, dict) else ""
            text = f"Prometheus refused the query (HTTP {response.status_code} {kind}): {error}"
            return Reading(None, self._redact(text)[:MAX_ERROR_CHARS])
        return single_value(body.get("data") or {})


def single_value(data: Any) -> Reading:
    """The Reading of a successful answer's ``data`` (``resultType`` and ``result``)."""
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return _number(result[1])
    if kind != "vector" or not isinstance(result, list):
        return Reading(None, f"the query returned a {kind}, not an instant vector or scalar")
    if not result:
        return Reading(None, "no series (empty result)")
    if len(result) > 1:
        return Reading(None, f"{len(result)} series; aggregate the query to one, e.g. max(...)")
    sample = result[0].get("value") if isinstance(result[0], dict) else None
    if not isinstance(sample, list) or len(sample) != 2:
        return Reading(None, "malformed sample in the answer")
    return _number(sample[1])


def _number(text: Any) -> Reading:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return Reading(None, f"not a number: {str(text)[:40]}")
    if math.isnan(value):
        return Reading(None, "the value is NaN")
    return Reading(value)
