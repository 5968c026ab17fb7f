"""Leases: one owner at a time across instances, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.db import Database
from bot.leases import LeaseKeeper, holder, release, try_acquire

pytestmark = pytest.mark.asyncio


async def test_one_owner_until_expiry(db: Database) -> None:
    ttl = timedelta(seconds=30)
    assert await try_acquire(db, "imap:INBOX", "a", ttl)
    assert not await try_acquire(db, "imap:INBOX", "b", ttl)
    assert await try_acquire(db, "imap:INBOX", "a", ttl)  # renewal
    assert await holder(db, "imap:INBOX") == "a"
    # An expired lease (its owner died) goes to the next one who asks.
    assert await try_acquire(db, "other", "a", timedelta(seconds=-1))
    assert await try_acquire(db, "other", "b", ttl)
    await release(db, "imap:INBOX", "b")  # not b's: nothing happens
    assert await holder(db, "imap:INBOX") == "a"
    await release(db, "imap:INBOX", "a")
    assert await holder(db, "imap:INBOX") is None


async def test_concurrent_acquirers_agree_on_one(db: Database) -> None:
    # Separate Database objects = separate connection pools, as separate processes have.
    others = [db.clone() for _ in range(4)]
    try:
        results = await asyncio.gather(*[
            try_acquire(d, "campaign", f"instance-{i}", timedelta(seconds=30))
            for i, d in enumerate(others)])
    finally:
        for d in others:
            await d.dispose()
    assert results.count(True) == 1


async def test_keeper_hands_over_when_the_holder_stops(db: Database) -> None:
    ttl = timedelta(seconds=0.6)
    first = LeaseKeeper(db, "imap:INBOX", "first", ttl=ttl)
    second = LeaseKeeper(db, "imap:INBOX", "second", ttl=ttl)
    await first.wait_acquired()
    assert first.held
    waiter = asyncio.create_task(second.wait_acquired(poll=0.05))
    await asyncio.sleep(0.3)
    assert not waiter.done()  # first keeps renewing
    await first.close()
    await asyncio.wait_for(waiter, 10)
    assert second.held and not first.held
    await second.close()

