"""The processing stage: stored messages → parsed → exactly one outcome each.

:class:`Processor` is a :class:`bot.core.workers.LoopWorker`. Each round it claims a small
batch (:func:`intake.inbox.store.claim_batch`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
short ``BEGIN IMMEDIATE`` on SQLite, with a lease so a dead worker's claim expires), and
for each message

1. parses the raw bytes with the pure :func:`intake.parse.message.parse_message` *outside* any
   transaction (big messages in a thread, so the event loop keeps serving LMTP/IMAP);
2. opens one write transaction that re-checks the lease, applies the outcome
   (:func:`intake.mail.outcomes.apply_outcome`: queue item, bounce, opt-out …, plus the answer
   mail in the outbox) and marks the message ``done`` — all or nothing.

Errors are ours (the sender's mistakes are outcomes, not exceptions): the message is
released with a growing delay and retried; after ``processing_max_attempts`` it is
``quarantined`` with its error for moderators (``landkort intake replay ID`` retries it).
One bad message never blocks the others, and ``asyncio.CancelledError`` always propagates.
"""
from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update

from bot.core.db import Database, dbnow
from bot.core.metrics import MAIL_PROCESSED, MAIL_PROCESSING_FAILURES
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail.models import OutboxMessage
from bot.mail.tokens import lookup_token
from intake.inbox.models import InboundMessage
from intake.inbox.store import ClaimedMessage, claim_batch, release_failed, release_unprocessed
from intake.mail.answers import parse_headers
from intake.mail.outcomes import MailOutcome, apply_outcome
from intake.parse.message import ParseResult, parse_message, read_quoted_form

log = logging.getLogger(__name__)

# The two statements around every outcome, built once (Core, cached compilation): the
# lease check and the final "done" — no ORM load of the raw bytes a second time.
_INBOUND = cast(Table, InboundMessage.__table__)
_OURS = (_INBOUND.c.id == bindparam("b_id"), _INBOUND.c.state == "stored",
         _INBOUND.c.lease_owner == bindparam("b_owner"))
# FOR UPDATE: on PostgreSQL the row lock keeps SKIP LOCKED claimers off the row until we
# commit; SQLite renders no FOR UPDATE (BEGIN IMMEDIATE already serialises writers).
_HOLDS_LEASE = select(_INBOUND.c.id).where(*_OURS).with_for_update()
_MARK_DONE = update(_INBOUND).where(*_OURS).values(
    state="done", kind=bindparam("b_kind"), outcome=bindparam("b_outcome"),
    processed_at=bindparam("b_now"), lease_owner=None, lease_until=None, last_error=None,
    from_addr=func.coalesce(bindparam("b_from"), _INBOUND.c.from_addr),
    subject=func.coalesce(bindparam("b_subject"), _INBOUND.c.subject),
    detail=bindparam("b_detail"))


def _clean(text: str | None) -> str:
    """Text for a column: PostgreSQL refuses NUL characters."""
    return (text or "").replace("\x00", "")


async def parse_raw(raw: bytes, settings: Settings) -> ParseResult:
    """Parse with the pure core in a worker thread, whatever the size: the bytes are a
    stranger's, and the event loop keeps serving (``/healthz``, LMTP, the web) meanwhile."""
    return await asyncio.to_thread(parse_message, raw, own_domain=settings.mail_domain,
                                   own_local_part=settings.mailbox_local_part)


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
            raw = await session.scalar(select(OutboxMessage.raw).where(
                OutboxMessage.message_id == message_id))
            if raw is not None:
                return bytes(raw)
    return None


async def process_claimed(db: Database, settings: Settings, claimed: ClaimedMessage,
                          owner: str) -> MailOutcome | None:
    """Parse one claimed message and commit its outcome. None when the lease was lost
    (another worker took the message over: it does the work, we do nothing)."""
    parsed = await parse_raw(claimed.raw, settings)
    if parsed.kind == "reply" and parsed.text_body.strip() != parsed.reply_text.strip():
        # A quote below the own text: compare it with the form we sent (contract v2).
        sent = await sent_mail_for(db, parsed)
        if sent is not None:  # on what the parse kept: no second parse of the raw mail
            await asyncio.to_thread(read_quoted_form, parsed, sent)
    headers = parse_headers(claimed.raw)
    lease = {"b_id": claimed.id, "b_owner": owner}
    async with db.write() as session:
        if await session.scalar(_HOLDS_LEASE, lease) is None:  # still ours?
            log.warning("inbound %s: lease lost before commit; leaving it", claimed.id)
            return None
        outcome = await apply_outcome(session, settings, claimed.id, parsed, headers)
        detail = dict(outcome.detail)
        if outcome.submission_id is not None:
            detail["submission_id"] = outcome.submission_id
        detail["language"] = parsed.language
        await session.execute(_MARK_DONE, {
            **lease, "b_kind": parsed.kind, "b_outcome": outcome.outcome, "b_now": dbnow(),
            "b_from": _clean(parsed.from_addr)[:320] or None,
            "b_subject": _clean(parsed.subject)[:1000] or None, "b_detail": detail})
    MAIL_PROCESSED.labels(parsed.kind, outcome.outcome).inc()
    log.info("inbound %s: %s → %s%s", claimed.id, parsed.kind, outcome.outcome,
             f" (submission {outcome.submission_id})" if outcome.submission_id else "")
    return outcome


class Processor(LoopWorker):
    """Claims stored messages and processes them one transaction each."""

    name = "intake-processor"

    def __init__(self, settings: Settings, db: Database, *, owner: str | None = None,
                 batch_size: int = 20, lease_seconds: float = 300.0,
                 retry_base_seconds: float = 30.0, idle_seconds: float = 5.0) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
        self.owner = owner or f"{settings.effective_instance_name}:processor"
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.retry_base_seconds = retry_base_seconds
        self.idle_seconds = idle_seconds
        self.processed = 0
        self.on_outcome: Callable[[int, MailOutcome], None] | None = None

    async def handle(self, claimed: ClaimedMessage) -> MailOutcome | None:
        """Process one message (tests override this to inject faults)."""
        return await process_claimed(self.db, self.settings, claimed, self.owner)

    async def run_once(self) -> int:
        batch = await claim_batch(self.db, self.owner, limit=self.batch_size,
                                  lease_seconds=self.lease_seconds,
                                  max_attempts=self.settings.processing_max_attempts)
        done = 0
        for claimed in batch:
            if self.stopping:
                # Claim nothing new; hand the rest of the batch back at once.
                await release_unprocessed(self.db, claimed.id, self.owner)
                continue
            try:
                outcome = await self.handle(claimed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ours: retried, then quarantined
                MAIL_PROCESSING_FAILURES.inc()
                log.error("inbound %s: processing failed (attempt %d): %s", claimed.id,
                          claimed.attempts, exc, exc_info=True)
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                delay = self.retry_base_seconds * (2 ** max(claimed.attempts - 1, 0))
                await self._release(claimed, error, retry=delay)
                continue
            done += 1
            self.processed += 1
            if outcome is not None and self.on_outcome is not None:
                self.on_outcome(claimed.id, outcome)
        return done or len(batch)

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
    """Process everything that is waiting now (CLI, demo, benchmark); returns how many
    messages were handled."""
    worker = Processor(settings, db, owner=owner, retry_base_seconds=retry_base_seconds)
    total = 0
    while limit is None or total < limit:
        n = await worker.run_once()
        if not n:
            break
        total += n
    return total


__all__ = ["Processor", "parse_raw", "process_claimed", "process_pending"]
