"""ReplayFeed over the embedded recordings: final books, listeners, looping, stop."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from prometheus_client import CollectorRegistry

from tests.bot.market.recordings import BURST_MARKET, TOKEN_A, TOKEN_B, levels, raw
from tradingbot.market.metrics import MarketMetrics
from tradingbot.market.replay import ReplayFeed, embedded_recording
from tradingbot.market.store import MarketParams

FINAL = raw("ws_market_burst.json")[-1]


def _equals_final(feed: ReplayFeed) -> bool:
    book = feed.book(TOKEN_A)
    return (
        book is not None
        and [(lvl.price, lvl.size) for lvl in book.bids()[::-1]] == levels(FINAL["bids"])
        and [(lvl.price, lvl.size) for lvl in book.asks()[::-1]] == levels(FINAL["asks"])
    )


async def test_replays_to_the_final_book_and_notifies_listeners() -> None:
    feed = ReplayFeed(speed=0)  # default: the embedded burst
    seen: list[str] = []
    seen_async: list[str] = []

    async def on_change_async(asset_id: str) -> None:
        seen_async.append(asset_id)

    feed.subscribe(seen.append)
    feed.subscribe(on_change_async)
    assert feed.last_message_age_s() is None and feed.book(TOKEN_A) is None
    await feed.run(asyncio.Event())
    assert feed.passes == 1 and _equals_final(feed)
    age = feed.last_message_age_s()
    assert age is not None and age >= 0
    assert seen == seen_async and set(seen) == {TOKEN_A, TOKEN_B}
    assert seen.count(TOKEN_A) == 48  # once per step
    # The embedded market params make the default replay verify the recorded hashes too.
    counts = feed.store.check_counts()
    assert (counts.hash_match, counts.hash_mismatch) == (93, 0)


async def test_several_files_feed_one_store() -> None:
    feed = ReplayFeed([embedded_recording(), embedded_recording("ws_book_snapshot.json")], speed=0)
    await feed.run(asyncio.Event())
    snap = raw("ws_book_snapshot.json")[0]
    book = feed.book(snap["asset_id"])
    assert book is not None and book.best_ask() is not None and _equals_final(feed)


async def test_looping_rebuilds_consistent_books_every_pass() -> None:
    registry = CollectorRegistry()
    stop = asyncio.Event()
    finals: list[bool] = []

    def on_pass_end(passes: int) -> None:
        finals.append(_equals_final(feed))
        if passes == 3:
            stop.set()

    feed = ReplayFeed(
        speed=0,
        loop=True,
        market_params={BURST_MARKET: MarketParams(D(5), False)},
        metrics=MarketMetrics(registry),
        on_pass_end=on_pass_end,
    )
    missing_after_first_seen = 0

    async def watch() -> None:
        # A concurrent reader: once books exist they must never vanish between passes.
        nonlocal missing_after_first_seen
        seen = False
        while not stop.is_set():
            present = feed.book(TOKEN_A) is not None and feed.book(TOKEN_B) is not None
            seen = seen or present
            missing_after_first_seen += seen and not present
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await feed.run(stop)
    await watcher
    assert missing_after_first_seen == 0
    assert finals == [True, True, True]
    counts = feed.store.check_counts()
    assert counts.hash_mismatch == 0 and counts.top_mismatch == 0
    assert counts.hash_match == 3 * 93
    assert (
        registry.get_sample_value("ploy_market_book_checks_total", {"check": "hash", "result": "match"})
        == 279
    )
    assert registry.get_sample_value("ploy_market_messages_total", {"event_type": "price_change"}) == 3 * 49


async def test_stop_interrupts_a_real_time_pause() -> None:
    feed = ReplayFeed(speed=1)  # the burst's first gap is 12.8 s
    stop = asyncio.Event()
    first_book = asyncio.Event()
    feed.subscribe(lambda _asset_id: first_book.set())
    task = asyncio.create_task(feed.run(stop))
    await asyncio.wait_for(first_book.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert feed.passes == 0 and feed.book(TOKEN_B) is None  # stopped before the first price_change
