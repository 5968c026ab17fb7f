"""Leases: one owner at a time across instances, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.core.db import Database, dbnow
from bot.core.leases import Lease, LeaseKeeper, holder, release, try_acquire

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


class RecordingKeeper(LeaseKeeper):
    """A keeper that records each attempt: (database time it started at, success)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.attempts: list[tuple[datetime, bool]] = []

    async def renew_once(self) -> bool:
        at = dbnow()
        ok = await super().renew_once()
        self.attempts.append((at, ok))
        return ok


async def test_keeper_hands_over_when_the_holder_stops(db: Database) -> None:
    ttl = timedelta(seconds=0.9)
    first = RecordingKeeper(db, "imap:INBOX", "first", ttl=ttl)
    second = RecordingKeeper(db, "imap:INBOX", "second", ttl=ttl)
    await first.wait_acquired()
    assert first.held
    async with db.read() as s:
        lease = await s.get(Lease, "imap:INBOX")
        assert lease is not None and lease.owner == "first"
        first_expiry = lease.expires_at
    waiter = asyncio.create_task(second.wait_acquired(poll=0.05))

    def tries_after_first_expiry() -> int:
        return sum(1 for at, _ in second.attempts if at > first_expiry)

    # Wait until the second keeper has tried three times after the first acquisition
    # ran out: then only the first keeper's renewals can have kept it out.
    while tries_after_first_expiry() < 3 and not waiter.done():
        await asyncio.sleep(0.05)
    assert not waiter.done(), "the second took over: the first did not renew"
    assert [ok for _, ok in second.attempts] == [False] * len(second.attempts)
    assert sum(ok for _, ok in first.attempts) >= 2  # acquired, then renewed
    assert await holder(db, "imap:INBOX") == "first"
    await first.close()
    await asyncio.wait_for(waiter, 10)
    assert second.held and not first.held
    await second.close()
