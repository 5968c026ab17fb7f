"""Inserts collected per transaction and written one ``executemany`` per table
(:mod:`bot.core.deferred_inserts`), on SQLite and PostgreSQL: the rows are there for
whatever reads or refers to them, their ids are the database's, a key used before fails
the write instead of being skipped — and the processor writes a chunk this way, falling
back to a savepoint per message when it fails (#18).
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.deferred_inserts import DEFERRED, DeferredInserts, flush_deferred
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage, ReplyToken
from bot.mail.outbox import compose, enqueue
from bot.mail.templates import RenderedMail
from bot.mail.tokens import issue_token
from intake.inbox.models import AutoAnswerCount, InboundMessage
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.audit import record_event
from moderation.models import AuditEvent, Submission
from moderation.submissions import create_submission

_keys = itertools.count(1)


@contextmanager
def inserts(db: Database) -> Iterator[list[tuple[str, bool]]]:
    """The INSERT statements the database gets, with whether each was an executemany."""
    seen: list[tuple[str, bool]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append((statement.split()[2].strip('"'), executemany))

    engine = db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


async def queue_item(session: AsyncSession, key: str | None = None) -> Submission:
    key = key or f"test:{next(_keys)}"
    sub = await create_submission(session, kind="new", channel="email",
                                  proposed={"title": f"Video {key}"}, idempotency_key=key,
                                  actor="test")
    assert sub is not None
    return sub


@pytest.mark.asyncio
async def test_rows_are_written_at_the_flush_one_statement_per_table(db: Database) -> None:
    with inserts(db) as seen:
        async with db.write() as session:
            session.info[DEFERRED] = DeferredInserts()
            subs = [await queue_item(session) for _ in range(3)]
            tokens = [await issue_token(session, purpose="receipt", submission_id=s.id)
                      for s in subs]
            assert seen == []  # nothing yet
            await flush_deferred(session)
    # parents first: the queue items, then their audit events and tokens, each at once
    assert sorted(seen) == [("audit_events", True), ("reply_tokens", True),
                            ("submissions", True)]
    assert seen[0] == ("submissions", True)
    async with db.read() as session:
        rows = (await session.scalars(select(Submission).order_by(Submission.id))).all()
        assert [r.id for r in rows] == [s.id for s in subs]
        assert len(set(tokens)) == 3
        assert await session.scalar(select(func.count()).select_from(ReplyToken).where(
            ReplyToken.submission_id.in_([s.id for s in subs]))) == 3


@pytest.mark.asyncio
async def test_whatever_reads_or_refers_to_a_collected_row_finds_it(db: Database) -> None:
    async with db.write() as session:
        session.info[DEFERRED] = DeferredInserts()
        sub = await queue_item(session)
        # a read of the table writes the collected rows first
        found = await session.get(Submission, sub.id)
        assert found is not None and found.idempotency_key == sub.idempotency_key
        assert found.proposed == sub.proposed == {"title": f"Video {sub.idempotency_key}"}
        other = await queue_item(session)
        # a Core insert that refers to it (a foreign key) …
        await session.execute(insert(AuditEvent).values(
            actor="test", action="test.core", submission_id=other.id, detail={}))
        third = await queue_item(session)
        # … and an ORM flush that does
        session.add(AuditEvent(actor="test", action="test.orm", submission_id=third.id,
                               detail={}))
        await session.flush()
        await flush_deferred(session)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 3
        assert set((await session.scalars(select(AuditEvent.submission_id).where(
            AuditEvent.action.in_(["test.core", "test.orm"])))).all()) == {other.id, third.id}


@pytest.mark.asyncio
async def test_collected_ids_never_clash_with_the_databases_own(db: Database) -> None:
    async with db.write() as session:
        plain = await queue_item(session)  # the database picks this one
    async with db.write() as session:
        session.info[DEFERRED] = DeferredInserts()
        first = await queue_item(session)
        # a row the database numbers itself, between two collected ones
        session.add(Submission(kind="new", channel="chat", proposed={}))
        await session.flush()
        second = await queue_item(session)
        await flush_deferred(session)
    async with db.read() as session:
        ids = (await session.scalars(select(Submission.id).order_by(Submission.id))).all()
    assert len(ids) == len(set(ids)) == 4
    assert plain.id < first.id < second.id and {first.id, second.id} <= set(ids)


@pytest.mark.asyncio
async def test_a_key_used_before_fails_the_write_instead_of_being_skipped(
        db: Database) -> None:
    async with db.write() as session:
        await queue_item(session, "inbound:1")
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            session.info[DEFERRED] = DeferredInserts()
            await queue_item(session, "inbound:1")
            await record_event(session, actor="test", action="test.after")
            await flush_deferred(session)
    async with db.read() as session:  # all of it rolled back
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
        assert await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "test.after")) == 0


def mail(n: int) -> bytes:
    return (f"From: Hanne Krogh <hanne{n}@odense.dk>\r\nTo: landkort@example.org\r\n"
            f"Subject: Nyt initiativ {n}\r\nMessage-ID: <deferred-{n}@odense.dk>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: Hjemmemonitorering nr. {n}\r\nBeskrivelse: Video i hjemmeplejen.\r\n"
            "Status: Projekt\r\nDeltagere: Kommune\r\nRegioner: Region Syddanmark\r\n"
            "Kommuner: Odense\r\nOrganisation: Odense Kommune\r\n").encode()


async def store(db: Database, n: int) -> list[int]:
    return [(await store_message(db, mail(i), source="test")).id for i in range(n)]


@pytest.mark.asyncio
async def test_the_processor_writes_a_chunk_with_one_insert_per_table(
        db: Database, settings: Settings) -> None:
    await store(db, 10)
    with inserts(db) as seen:
        assert await process_pending(db, settings) == 10
    writes = [t for t, _ in seen]
    # one statement per table for the chunk (the answer counts stay one per mail: each
    # decides whether that mail is answered)
    for table in ("submissions", "audit_events", "reply_tokens", "outbox", "outbox_bodies"):
        assert writes.count(table) == 1, (table, writes)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 10
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 10
        assert set((await session.scalars(select(InboundMessage.state))).all()) == {"done"}


@pytest.mark.asyncio
async def test_a_queue_item_made_before_is_found_when_the_chunk_is_written_again(
        db: Database, settings: Settings) -> None:
    """The chunk's collected insert of an existing key fails; written again a message
    at a time, that message finds its queue item as the immediate path does."""
    ids = await store(db, 3)
    async with db.write() as session:
        await queue_item(session, f"inbound:{ids[1]}")
    assert await process_pending(db, settings) == 3
    async with db.read() as session:
        rows = {r.id: r for r in (await session.scalars(select(InboundMessage))).all()}
        assert {r.state for r in rows.values()} == {"done"}
        assert rows[ids[1]].detail["note"] == "submission existed (idempotency key)"
        assert await session.scalar(select(func.count()).select_from(Submission)) == 3
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


@pytest.mark.asyncio
async def test_the_daily_answer_limit_holds_inside_a_chunk(db: Database,
                                                           settings: Settings) -> None:
    """Three mails from one sender in one chunk, two answers a day: the counts read for
    the chunk plus its own answers decide, as one upsert per answer would."""
    limited = dataclasses.replace(settings, auto_answers_per_day=2)
    for i in range(3):
        await store_message(db, mail(i).replace(f"hanne{i}@".encode(), b"hanne@"),
                            source="test")
    with inserts(db) as seen:
        assert await process_pending(db, limited) == 3
    assert [t for t, _ in seen].count("submissions") == 1  # written together
    async with db.read() as session:
        answers = [r.detail["answer"] for r in (await session.scalars(
            select(InboundMessage).order_by(InboundMessage.id))).all()]
        assert answers == ["receipt", "receipt", "suppressed:daily_limit"]
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        assert await session.scalar(select(AutoAnswerCount.count).where(
            AutoAnswerCount.address == "hanne@odense.dk")) == 3


@pytest.mark.asyncio
async def test_a_savepoint_cannot_be_opened_while_inserts_are_deferred(
        db: Database) -> None:
    with pytest.raises(RuntimeError, match="savepoint"):
        async with db.write() as session:
            session.info[DEFERRED] = DeferredInserts()
            await queue_item(session)
            async with session.begin_nested():
                pass
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 0


@pytest.mark.asyncio
async def test_an_update_whose_subquery_reads_a_collected_table_sees_its_rows(
        db: Database, settings: Settings) -> None:
    async with db.write() as session:
        session.info[DEFERRED] = DeferredInserts()
        sub = await queue_item(session)
        await record_event(session, actor="test", action="test.mark", submission_id=sub.id)
        marked = await session.execute(
            update(Submission).where(Submission.id.in_(
                select(AuditEvent.submission_id).where(AuditEvent.action == "test.mark")))
            .values(note="seen"))
        assert marked.rowcount == 1
        # an ORM select of an outbox row loads its bytes in the same statement
        mail = compose(settings, to_addr="a@example.dk", kind="receipt",
                       mail=RenderedMail("Tak", "Tak for din mail.", None))
        await enqueue(session, mail, kind="receipt", idempotency_key="answer:test")
        row = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == "answer:test"))
        assert row is not None and row.raw == mail.raw
        await flush_deferred(session)
