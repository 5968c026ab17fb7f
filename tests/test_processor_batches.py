"""The processor's batches: a transaction per chunk, a savepoint per message, the parser in
worker processes — and what happens when any of it fails (#18).

- a message whose outcome raises inside a chunk rolls back alone; the others commit;
- a mail the parser fails on is that mail's failure only;
- a parser process that dies is replaced, and the mails it held are retried;
- the processor killed with SIGKILL in the middle of a chunk: nothing of that chunk is
  committed, and after a restart every message is done exactly once (no second queue item,
  no second answer), the chunk's messages one at a time.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import os
import signal
import sys
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from intake.inbox.models import InboundMessage
from intake.inbox.store import ClaimedMessage, store_message
from intake.mail import parse_pool
from intake.mail.outcomes import MailOutcome
from intake.mail.parse_pool import ParsePool, parse_all
from intake.mail.processor import Processor, process_pending
from intake.parse.message import ParseResult
from moderation.models import Submission

ROOT = Path(__file__).resolve().parent.parent
_seq = itertools.count(1)


def new_mail(marker: str = "") -> bytes:
    """A valid new submission, unique per call."""
    n = next(_seq)
    return (f"From: Hanne Krogh <hanne{n}@odense.dk>\r\nTo: landkort@example.org\r\n"
            f"Subject: Nyt initiativ {n}{marker}\r\nMessage-ID: <batch-{n}@odense.dk>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: Videokonsultationer nr. {n}\r\nBeskrivelse: Video i hjemmeplejen.\r\n"
            "Status: Projekt\r\nDeltagere: Kommune\r\nRegioner: Region Syddanmark\r\n"
            "Kommuner: Odense\r\nOrganisation: Odense Kommune\r\n").encode()


def processes_with(mark: bytes) -> list[int]:
    """Processes whose environment holds ``mark`` (the child and what it started)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


async def store(db: Database, raws: list[bytes]) -> list[int]:
    return [(await store_message(db, raw, source="cli")).id for raw in raws]


async def counts(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        states = dict((await s.execute(select(InboundMessage.state, func.count())
                                       .group_by(InboundMessage.state))).all())
        subs = await s.scalar(select(func.count()).select_from(Submission))
        distinct = await s.scalar(select(func.count(func.distinct(
            Submission.inbound_message_id))))
        answers = await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.idempotency_key.like("answer:%")))
    return {"states": states, "submissions": subs, "distinct": distinct, "answers": answers}


class FailsAfterWriting(Processor):
    """Raises for a POISON mail *after* its outcome was written inside the savepoint, so
    the rollback has something to undo."""

    async def apply(self, session: AsyncSession, claimed: ClaimedMessage,
                    parsed: ParseResult) -> MailOutcome:
        outcome = await super().apply(session, claimed, parsed)
        if b"POISON" in claimed.raw:
            raise RuntimeError("boom after the writes")
        return outcome


@pytest.mark.asyncio
async def test_a_failing_message_rolls_back_alone_and_the_chunk_commits(
        db: Database, settings: Settings) -> None:
    ids = await store(db, [new_mail(), new_mail(), new_mail(" POISON"), new_mail(),
                           new_mail()])
    worker = FailsAfterWriting(settings, db, owner="t", chunk_size=10, retry_base_seconds=0.0,
                               parse_processes=0)
    assert worker.chunks([ClaimedMessage(i, b"", 1, "cli") for i in ids]) == [
        [ClaimedMessage(i, b"", 1, "cli") for i in ids]]  # one chunk, one transaction
    assert await worker.run_once() == 4
    got = await counts(db)
    assert got["states"] == {"done": 4, "stored": 1}
    # the poison one's submission and answer were rolled back with its savepoint
    assert (got["submissions"], got["answers"]) == (4, 4)
    async with db.read() as s:
        bad = await s.get(InboundMessage, ids[2])
        assert bad is not None and bad.last_error and "boom after the writes" in bad.last_error
        assert bad.attempts == 1 and bad.lease_owner is None
    while await worker.run_once():
        pass
    got = await counts(db)
    assert got["states"] == {"done": 4, "quarantined": 1}
    assert (got["submissions"], got["answers"]) == (4, 4)


class FailsInTheDatabase(Processor):
    """A database error after the POISON mail's queue item was written: the savepoint
    rolls back, and the next mail's queue item may get the same id."""

    async def apply(self, session: AsyncSession, claimed: ClaimedMessage,
                    parsed: ParseResult) -> MailOutcome:
        outcome = await super().apply(session, claimed, parsed)
        if b"POISON" in claimed.raw:
            await session.execute(text("SELECT * FROM no_such_table"))
        return outcome


@pytest.mark.asyncio
async def test_a_database_error_inside_a_chunk_does_not_touch_the_next_message(
        db: Database, settings: Settings) -> None:
    await store(db, [new_mail(), new_mail(" POISON"), new_mail(), new_mail()])
    worker = FailsInTheDatabase(settings, db, owner="t", retry_base_seconds=0.0,
                                parse_processes=0)
    assert await worker.run_once() == 3
    got = await counts(db)
    assert got["states"] == {"done": 3, "stored": 1}
    assert got["submissions"] == got["distinct"] == got["answers"] == 3


@pytest.mark.asyncio
async def test_a_parse_failure_is_that_mails_only(
        sqlite_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parse_pool.parse_message

    def parse(raw: bytes, **kwargs: Any) -> ParseResult:
        if b"UNPARSEABLE" in raw:
            raise ValueError("the parser tripped")
        return real(raw, **kwargs)

    monkeypatch.setattr(parse_pool, "parse_message", parse)
    ids = await store(sqlite_db, [new_mail(), new_mail(" UNPARSEABLE"), new_mail()])
    worker = Processor(settings, sqlite_db, owner="t", retry_base_seconds=0.0,
                       parse_processes=0)
    assert await worker.run_once() == 2
    async with sqlite_db.read() as s:
        bad = await s.get(InboundMessage, ids[1])
        assert bad is not None and bad.state == "stored"
        assert bad.last_error == "ValueError: the parser tripped"
    while await worker.run_once():
        pass
    assert (await counts(sqlite_db))["states"] == {"done": 2, "quarantined": 1}


def test_parse_all_gives_one_result_per_mail() -> None:
    out = parse_all([new_mail(), b"\xff\xfe not a mail at all", new_mail()], "example.org",
                    "landkort")
    assert len(out) == 3
    first, second, _ = (r for r in out if isinstance(r, ParseResult))
    assert first.fields.get("title") and not second.fields


def test_later_attempts_go_one_at_a_time(settings: Settings) -> None:
    worker = Processor.__new__(Processor)
    worker.chunk_size = 2
    batch = [ClaimedMessage(i, b"", attempts, "cli")
             for i, attempts in enumerate([1, 2, 1, 1, 3, 1], start=1)]
    assert [[c.id for c in chunk] for chunk in worker.chunks(batch)] == [
        [1, 3], [4, 6], [2], [5]]


def parse_or_die(raws: Any, own_domain: str, own_local_part: str) -> list[Any]:
    """Runs in the parser process: a mail saying KILL kills it, as a parser bug might."""
    if any(b"KILL" in raw for raw in raws):
        os._exit(9)
    return parse_all(raws, own_domain, own_local_part)


class DyingPool(ParsePool):
    parse_fn = staticmethod(parse_or_die)


@pytest.mark.asyncio
async def test_a_mail_that_kills_the_parser_fails_alone_and_the_others_are_parsed() -> None:
    pool = DyingPool(own_domain="example.org", own_local_part="landkort", processes=1)
    await pool.start()
    try:
        first, second = (asyncio.ensure_future(pool.parse(chunk)) for chunk in (
            [new_mail(), new_mail(" KILL"), new_mail()], [new_mail(), new_mail()]))
        got = [*await first, *await second]  # the second was queued behind the first
        assert [type(r).__name__ for r in got] == [
            "ParseResult", "ParseFailure", "ParseResult", "ParseResult", "ParseResult"]
        assert pool.restarts >= 1 and pool.processes == 1  # still in its own process
    finally:
        await pool.stop()


@pytest.mark.asyncio
async def test_a_parser_process_that_dies_is_replaced() -> None:
    pool = ParsePool(own_domain="example.org", own_local_part="landkort", processes=1)
    await pool.start()
    try:
        [first] = await pool.parse([new_mail()])
        assert isinstance(first, ParseResult) and first.fields.get("title")
        with pytest.raises(BrokenProcessPool):  # a worker dies while it holds a chunk
            await pool._run(functools.partial(os._exit, 7))
        assert pool.restarts == 1
        again = await pool.parse([new_mail(), new_mail()])
        assert all(isinstance(r, ParseResult) for r in again)
    finally:
        await pool.stop()


@pytest.mark.asyncio
async def test_a_pool_that_cannot_start_falls_back_to_a_thread() -> None:
    class CannotStart(ParsePool):
        probe = staticmethod(functools.partial(os._exit, 7))

    pool = CannotStart(own_domain="example.org", own_local_part="landkort", processes=1)
    await pool.start()
    assert pool.processes == 0  # checked at start, never with a stranger's mail
    [res] = await pool.parse([new_mail()])
    assert isinstance(res, ParseResult)
    await pool.stop()


# The child: a real processor (parser in a worker process) that kills itself with SIGKILL
# while it writes the 4th message of its second chunk — inside the chunk's transaction.
CHILD = """
import asyncio, os, signal, sys
import bot.schema
from bot.core.db import Database
from bot.core.settings import load_settings
from intake.mail.processor import Processor

class Dies(Processor):
    seen = 0
    async def apply(self, session, claimed, parsed):
        Dies.seen += 1
        if Dies.seen == 14:
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().apply(session, claimed, parsed)

async def main():
    settings = load_settings(environ={}, data_dir=sys.argv[2], mail_domain="example.org",
                             auto_answers_per_day=1000)
    db = Database(sys.argv[1])
    worker = Dies(settings, db, owner="doomed", batch_size=20, chunk_size=10,
                  lease_seconds=1.0, parse_processes=1)
    await worker.parser.start()
    while await worker.run_once():
        pass

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_kill_in_the_middle_of_a_chunk_loses_nothing_and_doubles_nothing(
        db: Database, settings: Settings, tmp_path: Path) -> None:
    ids = await store(db, [new_mail() for _ in range(25)])
    log = tmp_path / "child.log"
    mark = f"LANDKORT_TEST_MARK={uuid.uuid4().hex}".encode()
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, db.url, str(tmp_path / "child"), cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "LANDKORT_TEST_MARK": mark[18:].decode()},
            stdout=out, stderr=out)
        await asyncio.wait_for(child.wait(), 120)
    assert child.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    # The killed service's parser process does not live on.
    for _ in range(50):
        if not processes_with(mark):
            break
        await asyncio.sleep(0.2)
    assert not processes_with(mark)
    got = await counts(db)
    # the first chunk committed; nothing of the second (3 outcomes written, then killed)
    assert got["states"] == {"done": 10, "stored": 15}
    assert (got["submissions"], got["answers"]) == (10, 10)
    await asyncio.sleep(1.2)  # the dead worker's leases expire
    worker = Processor(settings, db, owner="restarted", retry_base_seconds=0.0,
                       parse_processes=0)
    while await worker.run_once():
        pass
    got = await counts(db)
    assert got["states"] == {"done": 25}
    assert got["submissions"] == got["distinct"] == 25 and got["answers"] == 25
    async with db.read() as s:
        attempts = dict((await s.execute(select(InboundMessage.id, InboundMessage.attempts)
                                         .where(InboundMessage.id.in_(ids)))).all())
    # The second chunk's ten and the next batch's five (claimed ahead, so the parser
    # could start on them) were claimed when the process died: retried once each, alone;
    # the first chunk went through once.
    assert [attempts[i] for i in ids] == [1] * 10 + [2] * 15


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres",
                                                         marks=pytest.mark.postgres)])
async def test_migration_moves_outbox_bytes_to_their_own_table(kind: str,
                                                               tmp_path: Path) -> None:
    """Migration 0020: the bytes of every outbox row move to outbox_bodies, unchanged, and
    the rows that point at the outbox (campaign steps) stay."""

    from bot.core.migrate import upgrade
    from tests.test_vocabularies import database_at

    async with database_at(kind, tmp_path, "0019") as db:
        async with db.write() as s:
            for i in (1, 2):
                await s.execute(text(
                    "INSERT INTO outbox (id, message_id, kind, to_addr, from_addr, subject, "
                    "raw, raw_redacted, state, attempts, next_attempt_at, created_at) VALUES "
                    "(:i, :mid, 'receipt', 'a@b.dk', 'l@example.org', 's', :raw, false, "
                    "'sent', 1, '2026-01-01', '2026-01-01')"),
                    {"i": i, "mid": f"<m{i}@example.org>", "raw": b"Subject: s\n\nbody %d\n" % i})
        await upgrade(db)
        async with db.read() as s:
            rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            assert [r.raw for r in rows] == [b"Subject: s\n\nbody 1\n", b"Subject: s\n\nbody 2\n"]


async def leases(db: Database, ids: list[int]) -> list[tuple[str | None, int]]:
    async with db.read() as s:
        rows = dict((await s.execute(select(InboundMessage.id, InboundMessage.lease_owner)
                                     .where(InboundMessage.id.in_(ids)))).all())
        tries = dict((await s.execute(select(InboundMessage.id, InboundMessage.attempts)
                                      .where(InboundMessage.id.in_(ids)))).all())
    return [(rows[i], tries[i]) for i in ids]


@pytest.mark.asyncio
async def test_the_next_batch_is_claimed_ahead_and_handed_back_on_stop(
        db: Database, settings: Settings) -> None:
    ids = await store(db, [new_mail() for _ in range(8)])
    worker = Processor(settings, db, owner="ahead", batch_size=4, chunk_size=2,
                       parse_processes=0)
    assert await worker.run_once() == 4
    # the next four were claimed while the first four were written
    assert await leases(db, ids[4:]) == [("ahead", 1)] * 4
    await worker.stop()
    # handed back untouched: no lease, the attempt given back
    assert await leases(db, ids[4:]) == [(None, 0)] * 4
    assert await process_pending(db, settings) == 4
    assert (await counts(db))["states"] == {"done": 8}


@pytest.mark.asyncio
async def test_no_batch_is_claimed_ahead_while_the_batch_in_hand_holds_retries(
        db: Database, settings: Settings) -> None:
    """A mail that kills the process comes back on a later attempt; were the next batch
    claimed ahead each time, every crash would cost those mails an attempt too, until
    they were quarantined without ever being read."""
    ids = await store(db, [new_mail() for _ in range(8)])
    async with db.write() as s:  # the first one was claimed when the process died
        await s.execute(update(InboundMessage).where(InboundMessage.id == ids[0])
                        .values(attempts=1))
    worker = Processor(settings, db, owner="careful", batch_size=4, chunk_size=2,
                       parse_processes=0, retry_base_seconds=0.0)
    assert await worker.run_once() == 4
    assert await leases(db, ids[4:]) == [(None, 0)] * 4
    while await worker.run_once():
        pass
    assert (await counts(db))["states"] == {"done": 8}
