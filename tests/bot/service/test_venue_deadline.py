"""Venue calls bounded inside the fence (issue "Exactly one trading process", item 2), against the real
PostgreSQL and a venue on loopback that delivers requests already on the wire whatever the sender does.

Fence timeout 2 s here, so an order's venue deadline is 1 s after it was persisted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from tests.bot.service.support import NO, YES, BotFactory, acquire, arbitrage_feed, trading_config
from tests.support.venue import EXPIRED, VenueClient, VenueServer, deep_book
from tradingbot.domain import OrderRequest, OrderStatus, Side, TimeInForce
from tradingbot.ledger.fence import FencedError
from tradingbot.role.controller import RoleState

pytestmark = pytest.mark.db


@pytest.fixture
async def venue() -> AsyncIterator[VenueServer]:
    server = VenueServer({YES: deep_book(YES, "0.40"), NO: deep_book(NO, "0.55")})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def order(oid: str) -> OrderRequest:
    return OrderRequest(oid, YES, Side.BUY, Decimal("0.40"), Decimal("10"), TimeInForce.FOK)


async def test_a_lost_reply_is_resolved_by_asking_the_venue(
    pool: asyncpg.Pool, bots: BotFactory, venue: VenueServer
) -> None:
    """The venue filled the order but its answer never came back in time: the call is cut off at the
    deadline, the fence is released, and the fill is recorded from the venue's own answer."""
    bot = bots(VenueClient(venue.port), arbitrage_feed(), trading_config())
    token = await acquire(bot, 1)
    venue.reply_delay_s = 30.0
    oid = f"e1t{token.token}-slow-reply"
    result = await asyncio.wait_for(bot.flow.submit(token, "m", order(oid)), 10)
    assert result.status is OrderStatus.FILLED and len(result.fills) == 1
    stored = await bot.ledger.get_order(oid)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert [(f.price, f.size) for f in await bot.ledger.fills([oid])] == [
        (f.price, f.size) for f in result.fills
    ]


async def test_a_request_arriving_after_its_deadline_is_refused_and_never_outlives_the_fence(
    pool: asyncpg.Pool, bots: BotFactory, venue: VenueServer
) -> None:
    """The old holder's request is stuck on the wire past the deadline; the next holder takes the
    fence and trades; the stale request then reaches the venue and is refused (expired)."""
    old = bots(VenueClient(venue.port), arbitrage_feed(), trading_config())
    new = bots(VenueClient(venue.port), arbitrage_feed(), trading_config())
    old_token = await acquire(old, 1)
    venue.delay_s = (2.5, 2.5)
    stale = asyncio.create_task(old.flow.submit(old_token, "m", order(f"e1t{old_token.token}-stale")))
    await asyncio.sleep(0.2)
    venue.delay_s = (0.0, 0.0)
    new_token = await asyncio.wait_for(acquire(new, 2), 10)  # waits until the old call was cut off
    fresh = await new.flow.submit(new_token, "m", order(f"e2t{new_token.token}-fresh"))
    assert fresh.status is OrderStatus.FILLED
    # The old holder learns "not at the venue by its deadline", or is fenced before recording it.
    with contextlib.suppress(FencedError):
        assert (await asyncio.wait_for(stale, 10)).status is OrderStatus.FAILED
    await venue.settle()
    executed = [a.token for a in venue.arrivals if a.executed]
    assert executed == [new_token.token], "the stale request never executed"
    refused = [a for a in venue.arrivals if a.token == old_token.token]
    assert len(refused) == 1 and refused[0].status is OrderStatus.REJECTED
    at_venue = await venue.paper.get_order(refused[0].client_order_id)
    assert at_venue is not None and at_venue.reason == EXPIRED


async def test_reconciliation_waits_for_the_deadline_before_calling_an_order_unknown(
    pool: asyncpg.Pool, bots: BotFactory, venue: VenueServer
) -> None:
    """The old process dies with its request on the wire (its transaction ends at once). The next
    holder must not mark the order FAILED before its deadline: the venue fills it a moment later."""
    old = bots(VenueClient(venue.port), arbitrage_feed(), trading_config())
    new = bots(VenueClient(venue.port), arbitrage_feed(), trading_config())
    old_token = await acquire(old, 1)
    venue.delay_s = (0.6, 0.6)
    oid = f"e1t{old_token.token}-in-flight"
    sending = asyncio.create_task(old.flow.submit(old_token, "m", order(oid)))
    await asyncio.sleep(0.2)
    sending.cancel()  # the process dies; PostgreSQL rolls its transaction back and frees the fence
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    await new.role.observe(True, 2)
    assert await asyncio.wait_for(new.role.wait_settled(), 10) is RoleState.ACTIVE
    stored = await new.ledger.get_order(oid)
    assert stored is not None and stored.status is OrderStatus.FILLED, "the venue's fill is not lost"
    assert len(await new.ledger.fills([oid])) == 1
