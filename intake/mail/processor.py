"""The processing stage: stored messages → parsed → exactly one outcome each.

:class:`Processor` is a :class:`bot.core.workers.LoopWorker`. Each round it claims a batch
(:func:`intake.inbox.store.claim_batch`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a short
``BEGIN IMMEDIATE`` on SQLite, with a lease so a dead worker's claim expires) and cuts it
into chunks. A full batch means more may wait: the next batch is claimed at once, so the
parser works on it while this one is written (handed back when the worker stops). For
each chunk

1. the pure :func:`intake.parse.message.parse_message` runs *outside* any transaction, in a
   worker process (:class:`intake.mail.parse_pool.ParsePool`), so the next chunk is parsed
   on another core while this one is written;
2. one write transaction re-checks the leases of the whole chunk and applies each
   message's outcome (:func:`intake.mail.outcomes.apply_outcome`: queue item, bounce,
   opt-out …, plus the answer mail in the outbox). The rows they insert are collected
   and written one statement per table (:mod:`bot.core.deferred_inserts`); the messages
   that got an outcome are marked ``done`` by one statement before the commit — all or
   nothing per chunk;
3. if anything in that fails, the transaction is rolled back and the chunk is written
   again with each outcome in a **savepoint** of its own: the message whose outcome
   raises rolls back alone; the others commit.

Errors are ours (the sender's mistakes are outcomes, not exceptions): the message is
released with a growing delay and retried; after ``processing_max_attempts`` it is
``quarantined`` with its error for moderators (``landkort intake replay ID`` retries it).
A message on its second attempt or later is processed **alone**: if a message kills the
process in the middle of a chunk, the messages it had claimed come back once each in a
chunk of their own, so the innocent ones go through and only the one that kills is
quarantined. ``asyncio.CancelledError`` always propagates. Nothing is committed before
the chunk's commit, so a crash at any point leaves every message of the chunk either done
(committed) or stored (retried).

The price of a chunk: its transaction holds the write lock (SQLite) or its rows' locks
(PostgreSQL) for 25 outcomes, about 50 ms (about 150 ms when it is written again a
savepoint at a time). Two instances on PostgreSQL that answer the same two addresses in
opposite order can deadlock; PostgreSQL then fails one chunk, whose messages come back on
their second attempt, one at a time.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import REGISTRY_UNCHANGED, Database, dbnow
from bot.core.deferred_inserts import DEFERRED, DeferredInserts, flush_deferred
from bot.core.metrics import MAIL_PROCESSED, MAIL_PROCESSING_FAILURES
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail.models import OutboxBody, OutboxMessage
from bot.mail.tokens import lookup_token
from intake.inbox.models import InboundMessage
from intake.inbox.store import ClaimedMessage, claim_batch, release_failed, release_unprocessed
from intake.mail.answers import read_answer_counts
from intake.mail.outcomes import MailOutcome, apply_outcome, sender_address
from intake.mail.parse_pool import Parsed, ParseFailure, ParsePool, error_text
from intake.parse.message import ParseResult

log = logging.getLogger(__name__)

# The two statements around a chunk's outcomes, built once (Core, cached compilation):
# the lease check and the final "done" — no ORM load of the raw bytes a second time.
_INBOUND = cast(Table, InboundMessage.__table__)
# FOR UPDATE: on PostgreSQL the row locks keep SKIP LOCKED claimers off the rows until we
# commit; SQLite renders no FOR UPDATE (BEGIN IMMEDIATE already serialises writers).
_HOLDS_LEASE = select(_INBOUND.c.id).where(
    _INBOUND.c.id.in_(bindparam("b_ids", expanding=True)), _INBOUND.c.state == "stored",
    _INBOUND.c.lease_owner == bindparam("b_owner")).with_for_update()
_MARK_DONE = update(_INBOUND).where(
    _INBOUND.c.id == bindparam("b_id"), _INBOUND.c.state == "stored",
    _INBOUND.c.lease_owner == bindparam("b_owner")).values(
    state="done", kind=bindparam("b_kind"), outcome=bindparam("b_outcome"),
    processed_at=bindparam("b_now"), lease_owner=None, lease_until=None, last_error=None,
    from_addr=func.coalesce(bindparam("b_from"), _INBOUND.c.from_addr),
    subject=func.coalesce(bindparam("b_subject"), _INBOUND.c.subject),
    detail=bindparam("b_detail"))


def _clean(text: str | None) -> str:
    """Text for a column: PostgreSQL refuses NUL characters."""
    return (text or "").replace("\x00", "")


async def sent_mail_for(db: Database, parsed: ParseResult) -> bytes | None:
    """The mail of ours a reply answers, as we sent it: the one that carried its reply
    token, else the one its In-Reply-To or References name (one short read)."""
    ids: list[str] = []
    async with db.read() as session:
        token = await lookup_token(session, parsed.reply_token)
        if token is not None and token.outbox_message_id:
            ids.append(token.outbox_message_id)
        ids += [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
        for message_id in dict.fromkeys(ids):
            raw = await session.scalar(
                select(OutboxBody.raw).join(OutboxMessage,
                                            OutboxMessage.id == OutboxBody.outbox_id)
                .where(OutboxMessage.message_id == message_id))
            if raw is not None:
                return bytes(raw)
    return None


def needs_sent_form(parsed: ParseResult) -> bool:
    """A reply with a quote below the own text: compare it with the form we sent
    (contract v2)."""
    return parsed.kind == "reply" and parsed.text_body.strip() != parsed.reply_text.strip()


@dataclass
class ChunkResult:
    """What one chunk's transaction did: outcomes by message id, failures (ours) by
    message id with their error, and the messages whose lease another worker took."""

    outcomes: dict[int, tuple[ParseResult, MailOutcome]]
    failures: dict[int, str]
    lost: list[int]


@dataclass
class _Batch:
    """A claimed batch, its chunks and their parses (futures, started at the claim)."""

    messages: list[ClaimedMessage]
    chunks: list[list[ClaimedMessage]]
    parses: list[asyncio.Future[list[Parsed]]]

    def cancel(self) -> None:
        for parsing in self.parses:
            parsing.cancel()


def _done_values(claimed: ClaimedMessage, owner: str, parsed: ParseResult,
                 outcome: MailOutcome) -> dict[str, Any]:
    detail = dict(outcome.detail)
    if outcome.submission_id is not None:
        detail["submission_id"] = outcome.submission_id
    detail["language"] = parsed.language
    return {"b_id": claimed.id, "b_owner": owner, "b_kind": parsed.kind,
            "b_outcome": outcome.outcome, "b_now": dbnow(),
            "b_from": _clean(parsed.from_addr)[:320] or None,
            "b_subject": _clean(parsed.subject)[:1000] or None, "b_detail": detail}


class Processor(LoopWorker):
    """Claims stored messages and processes them, a transaction per chunk and a
    savepoint per message."""

    name = "intake-processor"

    def __init__(self, settings: Settings, db: Database, *, owner: str | None = None,
                 batch_size: int = 50, chunk_size: int = 25, lease_seconds: float = 300.0,
                 retry_base_seconds: float = 30.0, idle_seconds: float = 5.0,
                 parse_processes: int | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
        self.owner = owner or f"{settings.effective_instance_name}:processor"
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.lease_seconds = lease_seconds
        self.retry_base_seconds = retry_base_seconds
        self.idle_seconds = idle_seconds
        self.processed = 0
        self.on_outcome: Callable[[int, MailOutcome], None] | None = None
        self._ahead: _Batch | None = None
        self.parser = ParsePool(
            own_domain=settings.mail_domain, own_local_part=settings.mailbox_local_part,
            processes=(settings.parse_processes if parse_processes is None
                       else parse_processes))

    async def start(self) -> None:
        await self.parser.start()
        await super().start()

    async def stop(self, timeout: float = 30.0) -> None:
        try:
            await super().stop(timeout)
            await self._hand_back_ahead()
        finally:
            await self.parser.stop()

    async def apply(self, session: AsyncSession, claimed: ClaimedMessage,
                    parsed: ParseResult) -> MailOutcome:
        """The outcome of one message, in the chunk's transaction (with its rows collected,
        or in a savepoint of its own when the chunk is written again; tests override this
        to inject faults)."""
        return await apply_outcome(session, self.settings, claimed.id, parsed,
                                   parsed.answer_headers)

    def chunks(self, batch: Sequence[ClaimedMessage]) -> list[list[ClaimedMessage]]:
        """First attempts in chunks of ``chunk_size``; later attempts one at a time."""
        fresh = [c for c in batch if c.attempts <= 1]
        out = [fresh[i:i + self.chunk_size] for i in range(0, len(fresh), self.chunk_size)]
        return out + [[c] for c in batch if c.attempts > 1]

    async def _claim(self) -> _Batch:
        """Claim a batch, cut it into chunks and hand every chunk to the parser now (the
        batch's bytes are in memory already). If a mail kills the parser, the chunks
        queued behind it are parsed again mail by mail (ParsePool.parse)."""
        batch = await claim_batch(self.db, self.owner, limit=self.batch_size,
                                  lease_seconds=self.lease_seconds,
                                  max_attempts=self.settings.processing_max_attempts)
        chunks = self.chunks(batch)
        return _Batch(batch, chunks, [asyncio.ensure_future(
            self.parser.parse([c.raw for c in chunk])) for chunk in chunks])

    async def run_once(self) -> int:
        current, self._ahead = self._ahead or await self._claim(), None
        done = 0
        try:
            if (len(current.messages) >= self.batch_size and not self.stopping
                    and all(c.attempts <= 1 for c in current.messages)):
                # A full batch: there may be more. Claim the next one now, so the parser
                # works on its first chunk while this batch is written and the writer
                # never waits for the parser between batches. Not while this batch
                # holds retries: a mail that kills the process would cost the batch
                # claimed ahead an attempt each time, until it is quarantined unread.
                await self._claim_ahead()
            for chunk, parsing in zip(current.chunks, current.parses, strict=True):
                if self.stopping:
                    # Claim nothing new; hand the rest of the batch back at once.
                    for claimed in chunk:
                        await release_unprocessed(self.db, claimed.id, self.owner)
                    continue
                done += await self._process_chunk(chunk, await parsing)
        finally:
            current.cancel()
        return done or len(current.messages)

    async def _claim_ahead(self) -> None:
        try:
            self._ahead = await self._claim()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the batch in hand goes on; the next round claims
            log.warning("could not claim the next batch ahead: %s", error_text(exc))
            self.note_error(f"claim ahead: {error_text(exc)}")

    async def _hand_back_ahead(self) -> None:
        """Release the batch claimed ahead when the loop stops (its leases would
        otherwise keep it from another worker until they expire)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        ahead.cancel()
        for claimed in ahead.messages:
            try:
                await release_unprocessed(self.db, claimed.id, self.owner)
            except asyncio.CancelledError:
                raise
            except Exception:  # the lease expires by itself
                log.exception("inbound %s: could not hand it back", claimed.id)

    async def _process_chunk(self, chunk: list[ClaimedMessage], parsed: list[Parsed]) -> int:
        ready: list[tuple[ClaimedMessage, ParseResult]] = []
        failures: dict[int, str] = {}
        for claimed, result in zip(chunk, parsed, strict=True):
            if isinstance(result, ParseResult) and needs_sent_form(result):
                try:
                    sent = await sent_mail_for(self.db, result)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # ours: this message is retried
                    result = ParseFailure(error_text(exc))
                else:
                    if sent is not None:  # on what the parse kept: no second parse
                        result = await self.parser.read_quoted_form(result, sent)
            if isinstance(result, ParseFailure):
                failures[claimed.id] = result.error
            else:
                ready.append((claimed, result))
        try:
            written = await self._write(ready)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the commit failed: every message of it is retried
            log.error("inbound %s: the chunk's transaction failed: %s",
                      [c.id for c, _ in ready], exc, exc_info=True)
            written = ChunkResult({}, {c.id: error_text(exc) for c, _ in ready}, [])
        failures.update(written.failures)
        for claimed in chunk:
            if claimed.id in failures:
                MAIL_PROCESSING_FAILURES.inc()
                delay = self.retry_base_seconds * (2 ** max(claimed.attempts - 1, 0))
                await self._release(claimed, failures[claimed.id], retry=delay)
            elif claimed.id in written.outcomes:
                result, outcome = written.outcomes[claimed.id]
                self._report(claimed, result, outcome)
        for mid in written.lost:
            log.warning("inbound %s: lease lost before commit; leaving it", mid)
        return len(written.outcomes)

    async def _write(self, ready: list[tuple[ClaimedMessage, ParseResult]]) -> ChunkResult:
        """The chunk's outcomes in one transaction: all together first, with their rows
        collected and inserted table by table at the end; if anything in that fails, again
        a savepoint per message, so only the message that fails is left out."""
        if len(ready) > 1:
            try:
                return await self._write_together(ready)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # someone's outcome failed: find whose, one by one
                log.info("inbound %s: writing the chunk at once failed (%s); writing "
                         "it a message at a time", [c.id for c, _ in ready], error_text(exc))
        return await self._write_apart(ready)

    async def _held(self, session: AsyncSession,
                    ready: list[tuple[ClaimedMessage, ParseResult]]) -> set[int]:
        # Nothing from mail changes the registry (rule 4): its term and duplicate
        # indexes are checked for changes once for the chunk, not once per message.
        session.info[REGISTRY_UNCHANGED] = {}
        return set((await session.scalars(_HOLDS_LEASE, {
            "b_ids": [c.id for c, _ in ready], "b_owner": self.owner})).all())

    async def _write_together(self, ready: list[tuple[ClaimedMessage, ParseResult]]
                              ) -> ChunkResult:
        """No savepoints; the rows the outcomes insert are collected
        (:mod:`bot.core.deferred_inserts`) and written by one statement per table. Any
        error rolls the whole transaction back."""
        out = ChunkResult({}, {}, [])
        async with self.db.write() as session:
            held = await self._held(session, ready)
            session.info[DEFERRED] = DeferredInserts()
            # Today's answer counts of the chunk's senders, in one statement.
            await read_answer_counts(session, [a for _, p in ready
                                               if (a := sender_address(p))])
            done: list[dict[str, Any]] = []
            for claimed, parsed in ready:
                if claimed.id not in held:  # another worker took it over: it does the work
                    out.lost.append(claimed.id)
                    continue
                outcome = await self.apply(session, claimed, parsed)
                done.append(_done_values(claimed, self.owner, parsed, outcome))
                out.outcomes[claimed.id] = (parsed, outcome)
            await flush_deferred(session)
            del session.info[DEFERRED]
            if done:
                await session.execute(_MARK_DONE, done)
        return out

    async def _write_apart(self, ready: list[tuple[ClaimedMessage, ParseResult]]
                           ) -> ChunkResult:
        """One transaction for the chunk: a savepoint per message, one UPDATE for "done"."""
        out = ChunkResult({}, {}, [])
        if not ready:
            return out
        async with self.db.write() as session:
            held = await self._held(session, ready)
            done: list[dict[str, Any]] = []
            for claimed, parsed in ready:
                if claimed.id not in held:  # another worker took it over: it does the work
                    out.lost.append(claimed.id)
                    continue
                try:
                    async with session.begin_nested():
                        outcome = await self.apply(session, claimed, parsed)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # ours: rolled back alone, retried later
                    # The savepoint's rows are gone, but objects the outcome attached to
                    # the session as loaded (RETURNING rows) would stay in its identity
                    # map and clash with the next insert that gets the same id.
                    session.expunge_all()
                    log.error("inbound %s: processing failed (attempt %d): %s", claimed.id,
                              claimed.attempts, exc, exc_info=True)
                    out.failures[claimed.id] = error_text(exc)
                    continue
                done.append(_done_values(claimed, self.owner, parsed, outcome))
                out.outcomes[claimed.id] = (parsed, outcome)
            if done:
                await session.execute(_MARK_DONE, done)
        return out

    def _report(self, claimed: ClaimedMessage, parsed: ParseResult,
                outcome: MailOutcome) -> None:
        self.processed += 1
        MAIL_PROCESSED.labels(parsed.kind, outcome.outcome).inc()
        log.info("inbound %s: %s → %s%s", claimed.id, parsed.kind, outcome.outcome,
                 f" (submission {outcome.submission_id})" if outcome.submission_id else "")
        if self.on_outcome is not None:
            self.on_outcome(claimed.id, outcome)

    async def _release(self, claimed: ClaimedMessage, error: str, *, retry: float) -> None:
        try:
            state = await release_failed(self.db, claimed.id, self.owner, error,
                                         max_attempts=self.settings.processing_max_attempts,
                                         retry_after=retry)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease expires by itself; the next claim retries it
            log.exception("inbound %s: could not record the failure", claimed.id)
            return
        if state == "quarantined":
            log.error("inbound %s: quarantined after %d attempts: %s", claimed.id,
                      claimed.attempts, error)


async def process_pending(db: Database, settings: Settings, *, owner: str = "cli",
                          retry_base_seconds: float = 0.0, limit: int | None = None) -> int:
    """Process everything that is waiting now (CLI, demo, tests), parsing in a thread;
    returns how many messages were handled."""
    worker = Processor(settings, db, owner=owner, retry_base_seconds=retry_base_seconds,
                       parse_processes=0)
    total = 0
    try:
        while limit is None or total < limit:
            n = await worker.run_once()
            if not n:
                break
            total += n
    finally:
        await worker._hand_back_ahead()
    return total


__all__ = ["ChunkResult", "Processor", "needs_sent_form", "process_pending", "sent_mail_for"]
