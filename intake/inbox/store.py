"""The inbound store: raw mail is committed here before anything acts on it.

Every ingress (the IMAP fetcher, the LMTP listener, the demo, ``landkort intake``) calls
:func:`store_message`. One short write transaction inserts the raw bytes with their
SHA-256 and, for IMAP, advances the mailbox cursor (UIDVALIDITY, last UID — RFC 3501
§2.3.1.1) in the same commit, so "stored" and "the cursor moved past it" can never
disagree. Only after that commit does the caller flag/move the message on the server or
answer ``250`` over LMTP.

Idempotency keys (unique constraints, so two instances racing agree on one row):

- ``content_hash`` — the SHA-256 of the raw bytes. A message re-delivered (a second LMTP
  delivery, the same mail fetched again after a UIDVALIDITY change, a crash between the
  commit and the ``\\Seen`` flag) maps to the row stored first: never a second queue item.
- ``(mailbox, uidvalidity, uid)`` — one row per IMAP message.

Messages over ``max_message_bytes`` are **not** parsed: the fetcher downloads only the
header section (``BODY.PEEK[HEADER]``) and stores it quarantined with outcome
``too_large`` and a note giving the real size, so a moderator sees who sent what and can
fetch the original from the mail server (it is flagged/moved like any other message). The
content hash of such a row is the SHA-256 of ``b"header-only:" + size + header`` —
re-deliveries of the same big message still dedupe.

Claiming work for the processor: :func:`claim_batch` takes rows in state ``stored`` whose
lease is free, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and a short ``BEGIN
IMMEDIATE`` transaction on SQLite, and counts the attempt at claim time (a message that
kills the worker is counted too, and quarantined after ``processing_max_attempts``).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from intake.inbox.models import ImapCursor, InboundMessage

_INBOUND = cast(Table, InboundMessage.__table__)
# The ids come back in the order of the rows given (RETURNING with executemany).
_INSERT_RETURNING_ID = insert(_INBOUND).returning(_INBOUND.c.id, sort_by_parameter_order=True)

log = logging.getLogger(__name__)

SOURCES = ("imap", "lmtp", "demo", "cli", "sandbox")


@dataclass(frozen=True)
class StoreResult:
    """The row a message is stored as; ``created`` is False for a re-delivery."""

    id: int
    created: bool
    state: str


@dataclass(frozen=True)
class HeaderSummary:
    """The few header values shown in lists before a message is parsed."""

    message_id: str | None
    from_addr: str | None
    subject: str | None


def content_hash(raw: bytes) -> str:
    """SHA-256 (hex) of the raw bytes: the cross-source idempotency key."""
    return hashlib.sha256(raw).hexdigest()


def header_only_hash(header: bytes, size: int) -> str:
    """The content hash of a too-large message stored by its header only."""
    return hashlib.sha256(b"header-only:" + str(size).encode() + b"\n" + header).hexdigest()


def header_section(raw: bytes) -> bytes:
    """The header section of a raw message (up to and including the blank line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = raw.find(sep)
        if i >= 0:
            return raw[: i + len(sep)]
    return raw


def summarise_headers(raw: bytes) -> HeaderSummary:
    """Message-ID, From address and Subject, read leniently from the header section.

    Pure and cheap (only the header is parsed); never raises.
    """
    try:
        # NUL is never part of a header value (and PostgreSQL text refuses it).
        msg = BytesHeaderParser(policy=compat32).parsebytes(
            header_section(raw).replace(b"\x00", b""))
        mid = msg.get("Message-ID")
        message_id = " ".join(str(mid).split())[:998] if mid else None
        _name, addr = parseaddr(str(msg.get("From") or ""))
        subject = msg.get("Subject")
        subj: str | None = None
        if subject is not None:
            from email.header import decode_header, make_header
            try:
                subj = str(make_header(decode_header(str(subject))))
            except Exception:  # noqa: BLE001 - a broken encoded-word: keep it as it is
                subj = str(subject)
            subj = " ".join(subj.split())[:1000]
        return HeaderSummary(message_id=message_id, from_addr=(addr.lower()[:320] or None),
                             subject=subj)
    except Exception:  # noqa: BLE001 - a summary is best effort
        return HeaderSummary(None, None, None)


async def _advance_cursor(session: AsyncSession, mailbox: str, uidvalidity: int,
                          uid: int) -> None:
    cursor = await session.get(ImapCursor, mailbox)
    if cursor is None:
        session.add(ImapCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=uid))
    elif cursor.uidvalidity != uidvalidity:
        cursor.uidvalidity, cursor.last_uid = uidvalidity, uid
    elif uid > cursor.last_uid:
        cursor.last_uid = uid


async def store_message(db: Database, raw: bytes, *, source: str,
                        mailbox: str | None = None, uidvalidity: int | None = None,
                        uid: int | None = None, size: int | None = None,
                        too_large: bool = False, max_bytes: int | None = None) -> StoreResult:
    """Commit one received message (and advance the IMAP cursor) in one transaction.

    ``too_large=True`` means ``raw`` is only the header section of a message of ``size``
    bytes (see the module docstring); ``max_bytes`` quarantines a full message that is
    larger than allowed (LMTP, CLI) the same way, keeping only its header.
    """
    real_size = size if size is not None else len(raw)
    if not too_large and max_bytes is not None and len(raw) > max_bytes:
        raw, too_large = header_section(raw), True
    digest = header_only_hash(raw, real_size) if too_large else content_hash(raw)
    summary = summarise_headers(raw)
    async with db.write() as session:
        existing = await _find_existing(session, digest, mailbox, uidvalidity, uid)
        if existing is None:
            row = InboundMessage(
                source=source, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid,
                message_id=summary.message_id, content_hash=digest, raw=raw,
                size=real_size, from_addr=summary.from_addr, subject=summary.subject,
                state="stored", attempts=0)
            if too_large:
                row.state, row.outcome = "quarantined", "too_large"
                row.last_error = (f"message of {real_size} bytes is over max_message_bytes; "
                                  "only its header is stored, it was not parsed")
                row.processed_at = dbnow()
            try:
                async with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                # Another instance stored it between our check and insert.
                existing = await _find_existing(session, digest, mailbox, uidvalidity, uid)
                if existing is None:
                    raise
            else:
                existing = None
                result = StoreResult(row.id, True, row.state)
        if existing is not None:
            result = StoreResult(existing.id, False, existing.state)
        if mailbox is not None and uidvalidity is not None and uid is not None:
            await _advance_cursor(session, mailbox, uidvalidity, uid)
    if too_large:
        log.warning("inbound %s: %d bytes from %s is too large; header stored, quarantined",
                    result.id, real_size, summary.from_addr)
    return result


@dataclass(frozen=True)
class Incoming:
    """One fetched IMAP message for :func:`store_batch` (``raw`` is only the header
    section when ``too_large``)."""

    uid: int
    raw: bytes
    size: int
    too_large: bool = False


async def store_batch(db: Database, items: list[Incoming], *, source: str, mailbox: str,
                      uidvalidity: int) -> list[StoreResult]:
    """Commit a batch of fetched messages and the cursor in **one** transaction.

    Same rules as :func:`store_message` (a message already stored under its hash or its
    UID maps to that row), with one lookup for the batch instead of one per message.
    Should another instance insert one of them concurrently, the unique constraints
    reject the batch and every message is stored on its own instead.
    """
    if not items:
        return []
    prepared = []
    for item in items:
        digest = (header_only_hash(item.raw, item.size) if item.too_large
                  else content_hash(item.raw))
        prepared.append((item, digest, summarise_headers(item.raw)))
    try:
        async with db.write() as session:
            digests = [d for _, d, _ in prepared]
            uids = [i.uid for i in items]
            found: dict[str, tuple[int, str]] = {}
            by_uid: dict[int, tuple[int, str]] = {}
            for r in (await session.execute(
                    select(InboundMessage.id, InboundMessage.content_hash, InboundMessage.uid,
                           InboundMessage.mailbox, InboundMessage.uidvalidity,
                           InboundMessage.state)
                    .where(or_(InboundMessage.content_hash.in_(digests),
                               (InboundMessage.mailbox == mailbox)
                               & (InboundMessage.uidvalidity == uidvalidity)
                               & InboundMessage.uid.in_(uids))))).all():
                found[r.content_hash] = (r.id, r.state)
                if r.mailbox == mailbox and r.uidvalidity == uidvalidity and r.uid is not None:
                    by_uid[r.uid] = (r.id, r.state)
            now = dbnow()
            # New rows by digest, as Core values: one INSERT … RETURNING for the batch
            # (executemany with insertmanyvalues), no ORM object per message (#18).
            new_rows: dict[str, dict[str, Any]] = {}
            order: list[tuple[str, int]] = []
            for item, digest, summary in prepared:
                order.append((digest, item.uid))
                if digest in found or item.uid in by_uid or digest in new_rows:
                    continue
                row: dict[str, Any] = {
                    "source": source, "mailbox": mailbox, "uidvalidity": uidvalidity,
                    "uid": item.uid, "message_id": summary.message_id,
                    "content_hash": digest, "raw": item.raw, "size": item.size,
                    "from_addr": summary.from_addr, "subject": summary.subject,
                    "received_at": now, "state": "stored", "attempts": 0, "outcome": None,
                    "processed_at": None, "last_error": None}
                if item.too_large:
                    row.update(state="quarantined", outcome="too_large", processed_at=now,
                               last_error=(f"message of {item.size} bytes is over "
                                           "max_message_bytes; only its header is stored, "
                                           "it was not parsed"))
                    log.warning("IMAP UID %s: %d bytes is too large; header stored, "
                                "quarantined", item.uid, item.size)
                new_rows[digest] = row
            if new_rows:
                ids = (await session.scalars(_INSERT_RETURNING_ID,
                                             list(new_rows.values()))).all()
                for row, new_id in zip(new_rows.values(), ids, strict=True):
                    row["id"] = new_id
            await _advance_cursor(session, mailbox, uidvalidity, max(uids))
            results = []
            seen_new: set[str] = set()
            for digest, uid in order:
                if uid in by_uid and digest not in new_rows:
                    results.append(StoreResult(by_uid[uid][0], False, by_uid[uid][1]))
                elif digest in found:
                    results.append(StoreResult(found[digest][0], False, found[digest][1]))
                else:
                    row = new_rows[digest]
                    results.append(StoreResult(row["id"], digest not in seen_new,
                                               row["state"]))
                    seen_new.add(digest)
            return results
    except IntegrityError:
        log.info("IMAP batch raced another writer; storing one by one")
    return [await store_message(db, i.raw, source=source, mailbox=mailbox,
                                uidvalidity=uidvalidity, uid=i.uid, size=i.size,
                                too_large=i.too_large) for i in items]


async def _find_existing(session: AsyncSession, digest: str, mailbox: str | None,
                         uidvalidity: int | None, uid: int | None) -> InboundMessage | None:
    cond = [InboundMessage.content_hash == digest]
    if mailbox is not None and uidvalidity is not None and uid is not None:
        cond.append((InboundMessage.mailbox == mailbox)
                    & (InboundMessage.uidvalidity == uidvalidity) & (InboundMessage.uid == uid))
    return (await session.scalars(select(InboundMessage).where(or_(*cond)).limit(1))).first()


# ---------------------------------------------------------------------------------------
# Cursors


async def get_cursor(db: Database, mailbox: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, last UID stored) of a mailbox, or None before the first message."""
    async with db.read() as session:
        row = await session.get(ImapCursor, mailbox)
        return (row.uidvalidity, row.last_uid) if row is not None else None


async def reset_cursor(db: Database, mailbox: str, uidvalidity: int) -> None:
    """Start a mailbox over at UID 0 under a new UIDVALIDITY (RFC 3501 §2.3.1.1: the
    old UIDs mean nothing now). Messages read again dedupe by content hash."""
    async with db.write() as session:
        row = await session.get(ImapCursor, mailbox)
        if row is None:
            session.add(ImapCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0))
        else:
            row.uidvalidity, row.last_uid = uidvalidity, 0


# ---------------------------------------------------------------------------------------
# Claiming work


@dataclass(frozen=True)
class ClaimedMessage:
    """A message claimed for processing (raw bytes loaded, lease held)."""

    id: int
    raw: bytes
    attempts: int
    source: str


async def claim_batch(db: Database, owner: str, *, limit: int = 20,
                      lease_seconds: float = 300.0, max_attempts: int = 3,
                      now: datetime | None = None) -> list[ClaimedMessage]:
    """Claim up to ``limit`` stored messages whose lease is free; count the attempt.

    Rows that already used all their attempts (their worker died while processing them)
    are quarantined here instead of being handed out again.
    """
    now = now or dbnow()
    until = now + timedelta(seconds=lease_seconds)
    async with db.write() as session:
        stmt = (select(InboundMessage.id, InboundMessage.attempts)
                .where(InboundMessage.state == "stored",
                       or_(InboundMessage.lease_until.is_(None),
                           InboundMessage.lease_until < now))
                .order_by(InboundMessage.id).limit(limit))
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await session.execute(stmt)).all()
        dead = [r.id for r in rows if r.attempts >= max_attempts]
        live = [r.id for r in rows if r.attempts < max_attempts]
        if dead:
            await session.execute(
                update(InboundMessage).where(InboundMessage.id.in_(dead)).values(
                    state="quarantined", outcome="quarantined", lease_owner=None,
                    lease_until=None, processed_at=now,
                    last_error=func.coalesce(InboundMessage.last_error, "") +
                    f" [processing did not finish after {max_attempts} attempts]"))
            for mid in dead:
                log.error("inbound %s: quarantined after %d attempts", mid, max_attempts)
        if not live:
            return []
        await session.execute(
            update(InboundMessage).where(InboundMessage.id.in_(live)).values(
                lease_owner=owner, lease_until=until,
                attempts=InboundMessage.attempts + 1))
        got = (await session.execute(
            select(InboundMessage.id, InboundMessage.raw, InboundMessage.attempts,
                   InboundMessage.source)
            .where(InboundMessage.id.in_(live)).order_by(InboundMessage.id))).all()
        return [ClaimedMessage(r.id, bytes(r.raw), r.attempts, r.source) for r in got]


async def release_failed(db: Database, message_id: int, owner: str, error: str, *,
                         max_attempts: int, retry_after: float) -> str:
    """Record a processing failure (ours): retry later, or quarantine after the last
    attempt. Returns the new state."""
    now = dbnow()
    async with db.write() as session:
        row = await session.get(InboundMessage, message_id)
        if row is None or row.state != "stored" or row.lease_owner != owner:
            return row.state if row is not None else "missing"
        row.last_error = error[:4000]
        row.lease_owner = None
        if row.attempts >= max_attempts:
            row.state, row.outcome, row.processed_at = "quarantined", "quarantined", now
            row.lease_until = None
        else:
            row.lease_until = now + timedelta(seconds=retry_after)
        return row.state


async def release_unprocessed(db: Database, message_id: int, owner: str) -> None:
    """Hand a claimed but untouched message back at once (the worker is stopping); the
    attempt counted at claim time is given back."""
    async with db.write() as session:
        await session.execute(
            update(InboundMessage).where(InboundMessage.id == message_id,
                                         InboundMessage.state == "stored",
                                         InboundMessage.lease_owner == owner)
            .values(lease_owner=None, lease_until=None,
                    attempts=InboundMessage.attempts - 1))


async def replay(db: Database, message_id: int) -> bool:
    """Put a quarantined (or done) message back to be processed again from scratch.

    Idempotency keys keep a replay from making a second queue item or a second answer
    for something that was already done.
    """
    async with db.write() as session:
        row = await session.get(InboundMessage, message_id)
        if row is None:
            return False
        if row.outcome == "too_large":
            return False  # only the header is stored: nothing to parse
        row.state, row.attempts, row.lease_owner, row.lease_until = "stored", 0, None, None
        row.outcome, row.processed_at = None, None
        return True


async def list_messages(db: Database, *, state: str | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
    """Newest first: id, received, source, state, outcome, from, subject, error."""
    async with db.read() as session:
        stmt = select(InboundMessage.id, InboundMessage.received_at, InboundMessage.source,
                      InboundMessage.state, InboundMessage.outcome, InboundMessage.from_addr,
                      InboundMessage.subject, InboundMessage.attempts,
                      InboundMessage.last_error).order_by(InboundMessage.id.desc()).limit(limit)
        if state:
            stmt = stmt.where(InboundMessage.state == state)
        return [dict(r._mapping) for r in (await session.execute(stmt)).all()]


__all__ = ["ClaimedMessage", "HeaderSummary", "Incoming", "StoreResult", "claim_batch",
           "content_hash", "get_cursor", "header_only_hash", "header_section",
           "list_messages", "release_failed", "release_unprocessed", "replay", "reset_cursor",
           "store_batch", "store_message", "summarise_headers"]
