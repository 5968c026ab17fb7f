"""Campaign ticks against the database: steps once, skips, closing, concurrency."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import event, select, update

from bot.campaigns.reminders import (
    REPLY_TOKEN_TTL,
    UNSUBSCRIBE_TOKEN_TTL,
    Plan,
    load_due,
    make_plan,
    run_tick,
)
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import CampaignStep, OutboxMessage
from bot.mail.tokens import lookup_token
from bot.registry.models import Contact, Initiative
from tests.conftest import MakeInitiative
from tests.test_campaign_digest import plain_text


def open_window(settings: Settings, **kw: Any) -> Settings:
    return settings.replace(sending_days="mon,tue,wed,thu,fri,sat,sun",
                            sending_window="00:00-23:59", **kw)


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(
            OutboxMessage.id))).all())


async def steps(db: Database) -> list[tuple[int, int, str]]:
    async with db.read() as session:
        rows = (await session.execute(select(CampaignStep.initiative_id, CampaignStep.step,
                                             CampaignStep.state)
                                      .order_by(CampaignStep.initiative_id,
                                                CampaignStep.step))).all()
    return [(r.initiative_id, r.step, r.state) for r in rows]


async def set_contact_status(db: Database, entry: Initiative, status: str) -> None:
    async with db.write() as session:
        await session.execute(update(Contact).where(Contact.id == entry.contact_id)
                              .values(email_status=status))


@pytest.mark.asyncio
async def test_a_full_cycle(db: Database, settings: Settings,
                            make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    a = await make_initiative()
    fresh = await make_initiative()
    async with db.write() as session:  # confirmed a month ago: not due
        await session.execute(update(Initiative).where(Initiative.id == fresh.id)
                              .values(last_confirmed_at=dbnow() - timedelta(days=30)))
    now = dbnow() + timedelta(minutes=1)
    r1 = await run_tick(db, s, now)
    assert (r1.sent, r1.skipped, r1.closed) == (1, 0, 0)
    assert (await run_tick(db, s, now)).total == 0  # the same tick again: nothing
    assert (await run_tick(db, s, now + timedelta(days=13))).total == 0
    assert (await run_tick(db, s, now + timedelta(days=14))).sent == 1
    assert (await run_tick(db, s, now + timedelta(days=28))).sent == 1
    r4 = await run_tick(db, s, now + timedelta(days=42))
    assert (r4.sent, r4.closed) == (0, 1)
    assert (await run_tick(db, s, now + timedelta(days=100))).total == 0
    assert await steps(db) == [(a.id, 1, "planned"), (a.id, 2, "planned"),
                               (a.id, 3, "planned"), (a.id, 4, "closed")]
    mails = await outbox_rows(db)
    assert [m.kind for m in mails] == ["reminder"] * 3
    assert {m.to_addr for m in mails} == {a.contact.email if a.contact else ""}
    assert "Sidste påmindelse" in mails[2].subject
    async with db.read() as session:
        entry = await session.get(Initiative, a.id)
        assert entry is not None and entry.unconfirmed


@pytest.mark.asyncio
async def test_an_approved_confirmation_ends_the_cycle(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: Any) -> None:
    from moderation.decisions import approve

    s = open_window(settings)
    a = await make_initiative()
    now = dbnow() + timedelta(minutes=1)
    assert (await run_tick(db, s, now)).sent == 1
    sub = await make_submission(initiative=a, kind="confirmation", proposed={})
    await approve(db, sub.id, actor="moderator")
    for days in (14, 28, 42, 100):
        assert (await run_tick(db, s, now + timedelta(days=days))).total == 0
    # A year after the confirmation the next cycle starts with step 1 again.
    r = await run_tick(db, s, now + timedelta(days=366))
    assert r.sent == 1
    async with db.read() as session:
        cycles = sorted(set((await session.scalars(select(CampaignStep.cycle))).all()))
    assert len(cycles) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("channel", ["email", "web", "chat"])
async def test_an_answer_waiting_for_moderators_stops_the_follow_ups(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: Any, channel: str) -> None:
    """The contact answered (a reply, the confirm page or the form, the chat): no second
    or last reminder, and the entry is not marked unconfirmed while the moderators are
    behind. An editor's own CSV import is no answer."""
    s = open_window(settings)
    a = await make_initiative()
    b = await make_initiative()
    now = dbnow() + timedelta(minutes=1)
    assert (await run_tick(db, s, now)).sent == 2
    await make_submission(initiative=a, kind="confirmation", proposed={}, channel=channel)
    await make_submission(initiative=b, kind="update", proposed={"status": "projekt"},
                          channel="import")
    for days in (14, 28, 42):
        await run_tick(db, s, now + timedelta(days=days))
    assert [st for st in await steps(db) if st[0] == a.id] == [(a.id, 1, "planned")]
    assert [st[1] for st in await steps(db) if st[0] == b.id] == [1, 2, 3, 4]
    async with db.read() as session:
        entry = await session.get(Initiative, a.id)
        assert entry is not None and not entry.unconfirmed


@pytest.mark.asyncio
async def test_unreachable_contacts_get_nothing_and_are_flagged(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    ok = await make_initiative()
    opted = await make_initiative()
    bouncing = await make_initiative()
    no_mail = await make_initiative(contact_email=None, contact_name=None,
                                    contact_phone=None)
    await set_contact_status(db, opted, "opted_out")
    await set_contact_status(db, bouncing, "bouncing")
    now = dbnow() + timedelta(minutes=1)
    result = await run_tick(db, s, now)
    assert (result.sent, result.skipped) == (1, 3)
    mails = await outbox_rows(db)
    assert [m.initiative_id for m in mails] == [ok.id]
    assert await steps(db) == [(ok.id, 1, "planned"), (opted.id, 1, "skipped"),
                               (bouncing.id, 1, "skipped"), (no_mail.id, 1, "skipped")]
    async with db.read() as session:
        flags = dict((await session.execute(select(Initiative.id,
                                                   Initiative.needs_new_contact))).all())
    assert flags == {ok.id: False, opted.id: True, bouncing.id: True, no_mail.id: True}


@pytest.mark.asyncio
async def test_merged_entries_are_left_alone(db: Database, settings: Settings,
                                             make_initiative: MakeInitiative) -> None:
    from moderation.decisions import merge_initiatives

    s = open_window(settings)
    a = await make_initiative()
    b = await make_initiative(title="Et andet initiativ")
    await merge_initiatives(db, b.id, a.id, actor="moderator")
    result = await run_tick(db, s, dbnow() + timedelta(minutes=1))
    assert result.sent == 1
    assert [m.initiative_id for m in await outbox_rows(db)] == [a.id]


async def _two_schedulers(db: Database, settings: Settings,
                          make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    entries = [await make_initiative() for _ in range(12)]
    other = db.clone()
    try:
        now = dbnow() + timedelta(minutes=1)
        for at in (now, now + timedelta(days=14)):  # the first reminder, then the second
            plans: tuple[list[Plan], list[Plan]] = ([], [])
            results = await asyncio.gather(run_tick(db, s, at, on_plan=plans[0].append),
                                           run_tick(other, s, at, on_plan=plans[1].append))
            assert sum(r.sent for r in results) == 12
            # Each scheduler accounts for every step it planned: written by itself, or
            # found written by the other one (``already``).
            assert [(r.total + r.already) for r in results] == [
                len(p.due) for (p,) in plans]
    finally:
        await other.dispose()
    mails = await outbox_rows(db)
    assert len(mails) == 24
    keys = [m.idempotency_key for m in mails]
    assert len(set(keys)) == 24
    assert sorted(m.initiative_id or 0 for m in mails) == sorted(
        [e.id for e in entries] * 2)


@pytest.mark.asyncio
async def test_two_schedulers_on_postgresql_send_each_step_once(
        pg_db: Database, settings: Settings) -> None:
    from bot.registry.repository import create_initiative
    from tests.conftest import sample_record

    async def make(**kw: Any) -> Initiative:
        make.n += 1  # type: ignore[attr-defined]
        async with pg_db.write() as session:
            return await create_initiative(
                session, sample_record(contact_email=f"k{make.n}@example.dk"),  # type: ignore[attr-defined]
                actor="test", channel="import")
    make.n = 0  # type: ignore[attr-defined]
    await _two_schedulers(pg_db, settings, make)


@pytest.mark.asyncio
async def test_two_schedulers_on_sqlite_send_each_step_once(
        sqlite_db: Database, settings: Settings) -> None:
    from bot.registry.repository import create_initiative
    from tests.conftest import sample_record

    async def make(**kw: Any) -> Initiative:
        make.n += 1  # type: ignore[attr-defined]
        async with sqlite_db.write() as session:
            return await create_initiative(
                session, sample_record(contact_email=f"k{make.n}@example.dk"),  # type: ignore[attr-defined]
                actor="test", channel="import")
    make.n = 0  # type: ignore[attr-defined]
    await _two_schedulers(sqlite_db, settings, make)


@pytest.mark.asyncio
async def test_reminder_headers_and_tokens(db: Database, settings: Settings,
                                           make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    a = await make_initiative()
    await run_tick(db, s, dbnow() + timedelta(minutes=1))
    (row,) = await outbox_rows(db)
    msg: Message = message_from_bytes(row.raw)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "bulk"
    token = msg["X-Landkort-Token"]
    assert token and len(token) >= 22  # ≥ 128 bits of URL-safe base64
    assert msg["Reply-To"] == f"landkort+{token}@example.org"
    assert msg["Subject"].endswith(f"[ref:{token}]")
    assert msg["Message-ID"] == row.message_id
    unsub = msg["List-Unsubscribe"]
    assert unsub.startswith("<mailto:landkort@example.org?subject=afmeld%20")
    assert "<http://127.0.0.1:8080/unsubscribe/" in unsub
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.is_multipart()
    types = [p.get_content_type() for p in msg.walk()]
    assert "text/plain" in types and "text/html" in types
    unsub_token = unsub.rsplit("/unsubscribe/", 1)[1].rstrip(">")
    async with db.read() as session:
        reply = await lookup_token(session, token)
        assert reply is not None and reply.purpose == "reminder"
        assert (reply.initiative_id, reply.contact_id) == (a.id, a.contact_id)
        assert reply.outbox_message_id == row.message_id
        u = await lookup_token(session, unsub_token)
        assert u is not None and u.purpose == "unsubscribe" and u.contact_id == a.contact_id
        # Every token expires; this one long after the reminder's own (old mail is found).
        assert u.expires_at is not None and reply.expires_at is not None
        assert u.expires_at - u.created_at == UNSUBSCRIBE_TOKEN_TTL > REPLY_TOKEN_TTL
    body = plain_text(row.raw)
    assert f"/chat/u/{token}" in body
    assert "Svar 'Ingen ændringer', hvis alt stadig er korrekt." in body
    assert "Titel: " in body and "Status: I drift" in body
    assert "Under udbredelse:" in body  # status definitions


@pytest.mark.asyncio
async def test_html_part_is_escaped(db: Database, settings: Settings,
                                    make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    await make_initiative(title="<script>alert(1)</script> & Co")
    await run_tick(db, s, dbnow() + timedelta(minutes=1))
    (row,) = await outbox_rows(db)
    body = plain_text(row.raw, "html")
    assert "<script>" not in body and "&lt;script&gt;" in body


@pytest.mark.asyncio
async def test_english_contacts_get_english_mail(db: Database, settings: Settings,
                                                 make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    a = await make_initiative()
    async with db.write() as session:
        await session.execute(update(Contact).where(Contact.id == a.contact_id)
                              .values(language="en"))
    await run_tick(db, s, dbnow() + timedelta(minutes=1))
    (row,) = await outbox_rows(db)
    assert row.subject.startswith("Is the information about")
    assert "Reply 'No changes' if everything is still correct." in plain_text(row.raw)


@pytest.mark.asyncio
async def test_load_due_is_one_query(db: Database, settings: Settings,
                                     make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    for _ in range(5):
        await make_initiative()
    await run_tick(db, s, dbnow() + timedelta(minutes=1))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.read() as session:
            entries, latest = await load_due(session, dbnow() + timedelta(days=15), s)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(entries) == 5 and len(latest) == 5
    assert len([x for x in statements if x.lstrip().upper().startswith("SELECT")]) == 1


@pytest.mark.asyncio
async def test_plan_reads_stale_and_never_confirmed(db: Database, settings: Settings,
                                                    make_initiative: MakeInitiative) -> None:
    s = open_window(settings)
    stale = await make_initiative()
    fresh = await make_initiative()
    never = await make_initiative()
    now = dbnow() + timedelta(minutes=1)
    async with db.write() as session:
        await session.execute(update(Initiative).where(Initiative.id == stale.id)
                              .values(last_confirmed_at=now - timedelta(days=400)))
        await session.execute(update(Initiative).where(Initiative.id == fresh.id)
                              .values(last_confirmed_at=now - timedelta(days=10)))
    the_plan = await make_plan(db, s, now)
    assert [p.initiative_id for p in the_plan.due] == [stale.id, never.id]
    cycles = {p.initiative_id: p.cycle for p in the_plan.due}
    start = now - timedelta(days=400) + timedelta(days=365)
    assert cycles[stale.id] == start.year * 10000 + start.month * 100 + start.day
    assert isinstance(the_plan.now, datetime)


@pytest.mark.asyncio
async def test_stats_say_how_contacts_answered(db: Database, settings: Settings,
                                               make_initiative: MakeInitiative,
                                               make_submission: Any) -> None:
    from moderation.campaign_stats import campaign_stats

    s = open_window(settings)
    entries = [await make_initiative() for _ in range(5)]
    now = dbnow() + timedelta(minutes=1)
    assert (await run_tick(db, s, now)).sent == 5
    for entry, channel, key in ((entries[0], "web", "confirm:abc"),
                                (entries[1], "web", "form:abc:123"),
                                (entries[2], "email", "inbound:7"),
                                (entries[3], "chat", None)):
        await make_submission(initiative=entry, kind="confirmation", proposed={},
                              channel=channel, idempotency_key=key)
    from moderation.models import Submission

    async with db.write() as session:  # the answers came after the reminder
        await session.execute(update(Submission).values(created_at=now + timedelta(hours=1)))
    by_cycle, _ = await campaign_stats(db)
    (st,) = by_cycle.values()
    assert (st.via_link, st.via_form, st.via_mail, st.via_chat, st.no_answer) == (
        1, 1, 1, 1, 1)
    assert st.answered == 4 and st.entries == 5
