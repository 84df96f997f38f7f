"""Polymarket CLOB REST client for book snapshots (``GET /book?token_id=…``)."""

from __future__ import annotations

import httpx

from tradingbot.market.messages import BookMessage, MessageError, parse_rest_book

DEFAULT_CLOB_URL = "https://clob.polymarket.com"


class RestBookError(Exception):
    """The snapshot could not be fetched (network, HTTP status) or parsed."""


class RestBookClient:
    """Fetches one token's book snapshot; response shape as in ``rest_book_empty_ask.json``.

    ``client`` is an ``httpx.AsyncClient`` owned by the caller (its timeouts apply); ``base_url``
    is the CLOB host, ``https://clob.polymarket.com`` in production.
    """

    def __init__(self, client: httpx.AsyncClient, base_url: str = DEFAULT_CLOB_URL) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    async def get_book(self, token_id: str) -> BookMessage:
        """The current book of ``token_id``. Raises ``RestBookError``."""
        try:
            resp = await self._client.get(f"{self._base_url}/book", params={"token_id": token_id})
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RestBookError(f"GET /book for {token_id[:12]}…: {exc}") from exc
        try:
            return parse_rest_book(body)
        except MessageError as exc:
            raise RestBookError(f"bad /book response for {token_id[:12]}…: {exc}") from exc
