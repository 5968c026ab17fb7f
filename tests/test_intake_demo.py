"""The demo's mail: realistic replies through the real intake path, once."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.demo.data import seed_registry
from bot.demo.mail import seed_queue
from intake.inbox.models import InboundMessage
from moderation.models import Submission


@pytest.mark.asyncio
async def test_demo_queue_is_realistic_and_idempotent(db: Database, settings: Settings) -> None:
    assert await seed_registry(db) > 0
    assert await seed_queue(settings, db) == 8
    async with db.read() as s:
        inbound = (await s.scalars(select(InboundMessage))).all()
        subs = (await s.scalars(select(Submission).order_by(Submission.id))).all()
    assert {m.state for m in inbound} == {"done"}
    assert all(m.source == "demo" for m in inbound)
    kinds = Counter(sub.kind for sub in subs)
    assert kinds["confirmation"] >= 2 and kinds["update"] >= 2
    assert kinds["contact_change"] == 1 and kinds["new"] == 1
    flags = Counter(f for sub in subs for f in sub.flags)
    assert flags["sender_differs"] >= 1 and flags["problems"] >= 1
    assert any(sub.language == "en" for sub in subs)
    assert all(sub.state == "pending" for sub in subs)
    # a second start adds nothing
    assert await seed_queue(settings, db) == 0
    async with db.read() as s:
        assert len((await s.scalars(select(Submission))).all()) == len(subs)


@pytest.mark.asyncio
async def test_no_demo_mail_without_registry(db: Database, settings: Settings) -> None:
    assert await seed_queue(settings, db) == 0
