"""The moderators' daily digest: due at digest_hour local time, once per day."""
from __future__ import annotations

import asyncio
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import BounceEvent, OutboxMessage
from bot.registry.models import Initiative
from moderation.digest import digest_due, queue_digest
from tests.conftest import MakeInitiative

MORNING = datetime(2026, 3, 2, 6, 0)  # 07:00 in Copenhagen


def plain_text(raw: bytes, subtype: str = "plain") -> str:
    """The decoded text/plain (or text/html) part of a raw mail."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def with_moderators(settings: Settings) -> Settings:
    return settings.replace(moderator_emails="red1@example.org, red2@example.org")


async def digests(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "digest").order_by(OutboxMessage.id))).all())


def test_due_at_the_local_hour(settings: Settings) -> None:
    assert digest_due(datetime(2026, 3, 2, 5, 59), settings) is None
    assert str(digest_due(MORNING, settings)) == "2026-03-02"
    assert str(digest_due(datetime(2026, 7, 1, 5, 0), settings)) == "2026-07-01"  # CEST


@pytest.mark.asyncio
async def test_one_digest_per_day_and_moderator(db: Database, settings: Settings,
                                                make_initiative: MakeInitiative,
                                                make_submission: object) -> None:
    s = with_moderators(settings)
    assert await queue_digest(db, s, datetime(2026, 3, 2, 5, 0)) == 0  # too early
    entry = await make_initiative()
    lost = await make_initiative(title="Initiativ uden kontakt")
    async with db.write() as session:
        await session.execute(update(Initiative).where(Initiative.id == lost.id)
                              .values(needs_new_contact=True))
        session.add(BounceEvent(address="vaek@example.dk", status="550", permanent=True,
                                created_at=datetime(2026, 3, 1, 12, 0)))
    await make_submission(initiative=entry, kind="update",  # type: ignore[operator]
                          proposed={"status": "afsluttet"})
    assert await queue_digest(db, s, MORNING) == 2
    assert await queue_digest(db, s, MORNING) == 0
    rows = await digests(db)
    assert sorted(r.to_addr for r in rows) == ["red1@example.org", "red2@example.org"]
    assert rows[0].idempotency_key == "digest:2026-03-02:red1@example.org"
    msg = message_from_bytes(rows[0].raw)
    body = plain_text(rows[0].raw)
    assert "1 forslag venter" in body
    assert "vaek@example.dk (550, permanent)" in body
    assert "Initiativ uden kontakt" in body
    assert msg["Auto-Submitted"] == "auto-generated"
    # The next day's digest only reports what is new since.
    assert await queue_digest(db, s, datetime(2026, 3, 3, 6, 0)) == 2
    body2 = plain_text((await digests(db))[-1].raw)
    assert "vaek@example.dk" not in body2


@pytest.mark.asyncio
async def test_two_instances_send_one_digest(db: Database, settings: Settings) -> None:
    s = with_moderators(settings)
    other = db.clone()
    try:
        counts = await asyncio.gather(queue_digest(db, s, MORNING),
                                      queue_digest(other, s, MORNING))
    finally:
        await other.dispose()
    assert sum(counts) == 2
    assert len(await digests(db)) == 2


@pytest.mark.asyncio
async def test_no_moderators_no_digest(db: Database, settings: Settings) -> None:
    assert await queue_digest(db, settings, MORNING) == 0
