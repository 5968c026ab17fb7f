"""The outbox: every outgoing mail is a row written in the same transaction as the
decision that causes it; a sender worker delivers it later (:mod:`bot.mail.sender`).

:func:`compose` builds the complete message (Message-ID fixed here, before any SMTP
conversation, so a resend after a crash is recognisably the same mail) and
:func:`enqueue` stores it. Both are pure/DB-only: no network.

The rest of the module is the sender's repository: :func:`claim_due` takes due rows
under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; a short ``BEGIN IMMEDIATE``
transaction on SQLite), and :func:`record_sent`, :func:`record_retry`,
:func:`record_failed` and :func:`release` write the outcome, each in its own short
transaction. No transaction is ever held across the SMTP conversation.

Row states: ``pending`` (waiting, ``next_attempt_at`` says when) → ``sending`` (claimed;
``lease_owner``/``lease_until``) → ``sent`` | ``failed`` | back to ``pending`` for a
retry. ``cancelled`` rows (the contact opted out before delivery) are never sent.
"""
from __future__ import annotations

import functools
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow, execute_prebuilt, prebuilt, utcnow
from bot.core.deferred_inserts import deferring, insert_later, new_id
from bot.core.mailheaders import (
    NAME_MAX,
    SUBJECT_MAX,
    UnsafeHeaderValue,
    header_text,
    is_mail_address,
)
from bot.core.mailheaders import message_id as clean_message_id
from bot.core.settings import Settings
from bot.mail import mime
from bot.mail.models import CampaignStep, OutboxBody, OutboxMessage
from bot.mail.status import apply_bounce
from bot.mail.templates import RenderedMail, render_mail
from bot.registry.models import Contact

_OUTBOX = cast(Table, OutboxMessage.__table__)
_BODIES = cast(Table, OutboxBody.__table__)
_INSERT_BODY = _BODIES.insert()
_INSERT_OUTBOX = _OUTBOX.insert()
_STEPS = cast(Table, CampaignStep.__table__)

# Our Message-IDs start with this, so intake recognises replies to our own mail by
# In-Reply-To/References even when the reply token was lost.
MESSAGE_ID_PREFIX = "landkort."

# Kinds of mail that go to many people on a schedule (not answers to a person's mail).
BULK_KINDS = frozenset({"reminder", "digest", "outreach"})


# Reading a composed mail back (and writing it again, for a preview): the default policy
# with RFC 5322 §2.1.1's 998-character lines, so a List-Unsubscribe URL with its long
# token is never folded into RFC 2047 encoded-words, which break URLs for every client.
HEADER_POLICY = email_policy.default.clone(max_line_length=998)


def new_message_id(domain: str) -> str:
    return f"<{MESSAGE_ID_PREFIX}{uuid.uuid4().hex}@{domain}>"


def unsubscribe_url(settings: Settings, token: str) -> str:
    """The HTTPS one-click URL (RFC 8058) served by :mod:`bot.public.unsubscribe`."""
    return f"{settings.base_url.rstrip('/')}/unsubscribe/{token}"


def confirm_url(settings: Settings, token: str) -> str:
    """The two-tap confirm page (:mod:`bot.public.answer`) for a reminder's token."""
    return f"{settings.base_url.rstrip('/')}/bekraeft/{token}"


def form_url(settings: Settings, token: str) -> str:
    """The one-page prefilled form (:mod:`bot.public.answer`) for a reminder's token."""
    return f"{settings.base_url.rstrip('/')}/ret/{token}"


def consent_url(settings: Settings, token: str) -> str:
    """The contact's consent page (:mod:`bot.public.consent`) for a reminder's or receipt's
    token: publish my contact details, yes or no."""
    return f"{settings.base_url.rstrip('/')}/samtykke/{token}"


def unsubscribe_mailto(settings: Settings, token: str) -> str:
    """The mailto variant of List-Unsubscribe (RFC 2369 §3.2); intake reads the token
    from the subject ("afmeld TOKEN")."""
    return f"mailto:{settings.intake_address}?subject=afmeld%20{token}"


@dataclass
class ComposedMail:
    """A complete outgoing mail: the bytes as they will be sent, and the values its outbox
    row keeps. ``mail["Subject"]`` and :meth:`message` read the bytes back with the
    ``email`` package (tests, previews)."""

    raw: bytes
    message_id: str
    from_addr: str
    to_addr: str
    subject: str  # as written, with the [ref:TOKEN] tag
    _parsed: EmailMessage | None = field(default=None, repr=False, compare=False)

    def message(self) -> EmailMessage:
        """The mail parsed back (RFC 5322 headers decoded)."""
        if self._parsed is None:
            parsed = message_from_bytes(self.raw, policy=HEADER_POLICY)
            assert isinstance(parsed, EmailMessage)
            self._parsed = parsed
        return self._parsed

    def __getitem__(self, name: str) -> Any:
        return self.message()[name]


def compose(settings: Settings, *, to_addr: str, mail: RenderedMail, kind: str,
            reply_token: str | None = None, unsubscribe_token: str | None = None,
            to_name: str | None = None, in_reply_to: str | None = None,
            extra_headers: dict[str, str] | None = None,
            message_id: str | None = None) -> ComposedMail:
    """Build a complete mail with the headers that make automatic mail behave.

    - ``Auto-Submitted: auto-generated`` (RFC 3834 §5) so auto-responders stay quiet, and
      ``X-Auto-Response-Suppress: All`` for Exchange, which ignores RFC 3834;
      scheduled mail (reminders, digests) also says ``Precedence: bulk``, which vacation
      responders honour (RFC 3834 §2 notes its use);
    - the reply token in ``Reply-To`` (``landkort+TOKEN@domain``), ``X-Landkort-Token`` and
      a ``[ref:TOKEN]`` subject tag, so at least one survives a mail client;
    - ``List-Unsubscribe`` with a mailto and an HTTPS URL (RFC 2369 §3.2) plus
      ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058 §3.1) when an
      unsubscribe token is given. RFC 8058 requires the HTTPS URI and a valid DKIM
      signature covering both headers; DKIM signing is the relay's job.

    Every header value is cleaned by :mod:`bot.core.mailheaders` (no control characters, no
    encoded-word tricks, length-limited) and written by :mod:`bot.mail.mime`; a recipient
    that is not a plain address raises :class:`~bot.core.mailheaders.UnsafeHeaderValue`,
    so a caller composing many mails can flag that one and go on.
    """
    # Every value below may come from a stranger's mail (bot.core.mailheaders says why each
    # is cleaned here and not trusted to the email package).
    if not is_mail_address(to_addr):
        raise UnsafeHeaderValue(f"not a usable recipient address: {to_addr!r:.80}")
    subject = header_text(mail.subject, SUBJECT_MAX)
    if reply_token:
        subject = f"{subject} [ref:{reply_token}]".lstrip()
    message_id = message_id or new_message_id(settings.mail_domain)
    lines = [
        mime.address("From", _from_name(settings.from_name), settings.intake_address),
        mime.address("To", header_text(to_name, NAME_MAX) if to_name else "", to_addr),
        mime.unstructured("Subject", subject),
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        "X-Auto-Response-Suppress: All",
    ]
    if kind in BULK_KINDS:
        lines.append("Precedence: bulk")
    lines.append(mime.unstructured("X-Landkort-Kind", header_text(kind, 64)))
    if reply_token:
        lines.append(f"Reply-To: {settings.reply_address(reply_token)}")
        lines.append(f"X-Landkort-Token: {reply_token}")
    else:
        lines.append(f"Reply-To: {settings.intake_address}")
    in_reply_to = clean_message_id(in_reply_to)
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
        lines.append(f"References: {in_reply_to}")
    if unsubscribe_token:
        lines.append(f"List-Unsubscribe: <{unsubscribe_mailto(settings, unsubscribe_token)}>, "
                     f"<{unsubscribe_url(settings, unsubscribe_token)}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in (extra_headers or {}).items():
        lines.append(mime.unstructured(name, header_text(value, 998 - len(name) - 2)))
    raw = mime.write_message(lines, mail.text, mail.html)
    return ComposedMail(raw=raw, message_id=message_id, from_addr=settings.intake_address,
                        to_addr=to_addr, subject=subject)


@functools.lru_cache(maxsize=8)
def _from_name(name: str) -> str:
    """The sender's display name, cleaned once per setting (it never changes)."""
    return header_text(name, NAME_MAX)


def message_bytes(message: ComposedMail) -> bytes:
    """The message as sent."""
    return message.raw


# The subject tag a reply token travels in ("… [ref:TOKEN]"): kept out of the stored
# subject column, which lists and pages show (the mail itself keeps it until it is sent).
# (No leading \s*: scanning a run of spaces from every start would be quadratic.)
_SUBJECT_TOKEN = re.compile(r"\[ref:[A-Za-z0-9_-]{16,}+\]")


def subject_without_token(subject: str) -> str:
    """A subject as lists show it: without the ``[ref:TOKEN]`` tag."""
    return " ".join(_SUBJECT_TOKEN.sub("", subject).split())


def _row_values(message: ComposedMail, *, kind: str, idempotency_key: str | None,
                contact_id: int | None, initiative_id: int | None,
                submission_id: int | None, not_before: datetime | None) -> dict[str, Any]:
    """The outbox row's columns for a composed message (its bytes go to outbox_bodies)."""
    return {"message_id": message.message_id, "idempotency_key": idempotency_key,
            "kind": kind, "to_addr": message.to_addr.lower(), "from_addr": message.from_addr,
            "subject": subject_without_token(message.subject)[:500], "state": "pending",
            "attempts": 0, "contact_id": contact_id, "initiative_id": initiative_id,
            "submission_id": submission_id, "next_attempt_at": not_before or dbnow()}


def new_row(message: ComposedMail, *, kind: str, idempotency_key: str | None = None,
            contact_id: int | None = None, initiative_id: int | None = None,
            submission_id: int | None = None,
            not_before: datetime | None = None) -> OutboxMessage:
    """An unsaved outbox row for a composed message (bulk writers add many at once)."""
    return OutboxMessage(raw=message.raw, **_row_values(
        message, kind=kind, idempotency_key=idempotency_key, contact_id=contact_id,
        initiative_id=initiative_id, submission_id=submission_id, not_before=not_before))


async def enqueue(session: AsyncSession, message: ComposedMail, *, kind: str,
                  idempotency_key: str | None = None, contact_id: int | None = None,
                  initiative_id: int | None = None,
                  submission_id: int | None = None,
                  not_before: datetime | None = None) -> OutboxMessage | None:
    """Store a composed mail for sending, in the caller's transaction.

    With an ``idempotency_key`` that is already used, nothing is stored and None is
    returned (the caller's action was done before: a retry or a second instance).
    ``not_before`` (naive UTC) delays the first attempt.
    """
    values = _row_values(message, kind=kind, idempotency_key=idempotency_key,
                         contact_id=contact_id, initiative_id=initiative_id,
                         submission_id=submission_id, not_before=not_before)
    if idempotency_key is None:
        row = OutboxMessage(raw=message.raw, **values)
        session.add(row)
        await session.flush()
        return row
    if deferring(session) is not None:
        # Collected for the transaction's end (bot.core.deferred_inserts): a key used
        # before fails that write, and the caller does its work again this way below.
        values["id"] = await new_id(session, _OUTBOX)
        await insert_later(session, _OUTBOX, _INSERT_OUTBOX, values)
        await insert_later(session, _BODIES, _INSERT_BODY,
                           {"outbox_id": values["id"], "raw": message.raw})
        return OutboxMessage(raw=message.raw, **values)
    # One statement whatever happened before: the unique key decides, also against a
    # concurrent writer (ON CONFLICT DO NOTHING leaves the caller's transaction intact).
    # Unset values are left out, so the columns' own defaults apply as in a flush.
    stmt = prebuilt(session, "outbox.enqueue", lambda insert: insert(_OUTBOX)
                    .on_conflict_do_nothing(index_elements=[_OUTBOX.c.idempotency_key])
                    .returning(_OUTBOX.c.id))
    row_id = (await execute_prebuilt(
        session, stmt, {k: v for k, v in values.items() if v is not None})).scalar()
    if row_id is None:
        return None
    await session.execute(_INSERT_BODY, {"outbox_id": row_id, "raw": message.raw})
    return OutboxMessage(id=row_id, raw=message.raw, **values)


# ---------------------------------------------------------------------------------------
# The sender's repository


@dataclass(frozen=True)
class ClaimedMail:
    """One outbox row claimed for sending (plain values: no session needed)."""

    id: int
    message_id: str
    kind: str
    from_addr: str
    to_addr: str
    raw: bytes
    attempts: int  # including this one
    contact_id: int | None
    lease_until: datetime


def _due(now: datetime) -> Any:
    return or_(and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.state == "sending", OutboxMessage.lease_until < now))


async def claim_due(db: Database, *, owner: str, now: datetime, limit: int,
                    lease_seconds: float) -> list[ClaimedMail]:
    """Claim up to ``limit`` due rows for ``owner``: pending ones whose time has come and
    ``sending`` ones whose lease expired (their worker died). The claim is its own short
    transaction; the attempt is counted here, because a claimed mail may reach the
    server even if the worker dies before it can record anything.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` lets several senders claim disjoint
    rows without waiting for each other. SQLite: the write transaction is ``BEGIN
    IMMEDIATE``, so claims are serialised and the UPDATE's re-check of the state makes a
    row go to one claimer only.
    """
    lease_until = now + timedelta(seconds=lease_seconds)
    async with db.write() as session:
        query = (select(OutboxMessage.id).where(_due(now))
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.scalars(query)).all())
        if not ids:
            return []
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids), _due(now))
            .values(state="sending", lease_owner=owner, lease_until=lease_until,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False))
        rows = (await session.execute(
            select(OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.kind,
                   OutboxMessage.from_addr, OutboxMessage.to_addr, OutboxBody.raw,
                   OutboxMessage.attempts, OutboxMessage.contact_id)
            .join(OutboxBody, OutboxBody.outbox_id == OutboxMessage.id)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.lease_owner == owner,
                   OutboxMessage.lease_until == lease_until)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id))).all()
    return [ClaimedMail(r.id, r.message_id, r.kind, r.from_addr, r.to_addr, bytes(r.raw),
                    r.attempts, r.contact_id, lease_until) for r in rows]


# The sender records every accepted mail: two Core statements with fixed SQL, run as
# executemany on a bare connection (compiled once, cached), not ORM bulk updates whose
# IN lists are re-rendered for every new length.
_MARK_SENT = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))
              .values(state="sent", sent_at=bindparam("b_now"), lease_owner=None,
                      lease_until=None, smtp_code=250, last_error=None))
_MARK_STEP_SENT = (update(_STEPS).where(_STEPS.c.outbox_id == bindparam("b_id"))
                   .values(state="sent"))

# A token in our mail: 32 URL-safe base64 characters (bot.mail.tokens) after "/" (a link), "+"
# (the reply address), ":" or a space (the subject tag, X-Landkort-Token) or "%20" (the
# mailto subject), perhaps cut by quoted-printable soft line breaks (RFC 2045 §6.7).
_TOKEN_IN_MAIL = re.compile(
    rb"([/+:\s]|%20)((?:[A-Za-z0-9_-](?:=\r?\n)?){31}[A-Za-z0-9_-])"
    rb"(?!(?:=\r?\n)?[A-Za-z0-9_-])")
REDACTED = b"-token-removed-after-sending-"


def redact_tokens(raw: bytes) -> bytes:
    """The sent mail as we keep it: everything but the live tokens.

    Once the relay has the mail, nothing needs its tokens again (replies are matched by
    the token's hash, or by Message-ID); a copy of the database must not hold working
    personal links and reply addresses.
    """
    return _TOKEN_IN_MAIL.sub(lambda m: m.group(1) + REDACTED, raw)


# The mark first, with the state checked again (a failed mail sent again meanwhile keeps
# its tokens); the rows it marked are locked until the commit, so "Send igen" cannot slip
# in between. Then the bodies of exactly those rows.
_MARK_REDACTED = (update(_OUTBOX).where(
    _OUTBOX.c.id.in_(bindparam("b_ids", expanding=True)), _OUTBOX.c.raw_redacted.is_(False),
    _OUTBOX.c.state.in_(("sent", "cancelled", "failed")))
    .values(raw_redacted=True).returning(_OUTBOX.c.id))
_REDACT_BODY = (update(_BODIES).where(_BODIES.c.outbox_id == bindparam("b_id"))
                .values(raw=bindparam("b_raw")))


# A failed mail keeps its tokens this long, so an administrator can still send it again
# (the mail page's "Send igen") once the cause is fixed; sent and cancelled mail loses
# them at once.
FAILED_KEPT = timedelta(days=7)


async def redact_finished(db: Database, *, limit: int = 500,
                          now: datetime | None = None) -> int:
    """Remove the live tokens from up to ``limit`` finished mails (sent and cancelled,
    and failed ones older than :data:`FAILED_KEPT`); returns how many rows were cleaned.

    The sender calls this when it is idle, not when it records a sent mail: scanning a
    mail for tokens costs about 0.3 ms, which on the sending path cost a tenth of the
    outbox's throughput (benchmarks/campaign.py). Rows are read, cleaned outside any
    transaction, and written in one short one; a row cleaned meanwhile is left as is."""
    kept_since = (now or dbnow()) - FAILED_KEPT
    finished = or_(_OUTBOX.c.state.in_(("sent", "cancelled")),
                   and_(_OUTBOX.c.state == "failed", _OUTBOX.c.created_at < kept_since))
    async with db.read() as session:
        rows = (await session.execute(
            select(_OUTBOX.c.id, _BODIES.c.raw)
            .join(_BODIES, _BODIES.c.outbox_id == _OUTBOX.c.id)
            .where(_OUTBOX.c.raw_redacted.is_(False), finished)
            .limit(limit))).all()
    if not rows:
        return 0
    params = [{"b_id": row_id, "b_raw": redact_tokens(bytes(raw))} for row_id, raw in rows]
    async with db.write_core() as conn:
        marked = set((await conn.execute(_MARK_REDACTED, {
            "b_ids": [p["b_id"] for p in params]})).scalars())
        if marked:
            await conn.execute(_REDACT_BODY, [p for p in params if p["b_id"] in marked])
    return len(rows)


async def record_sent(db: Database, claimed: ClaimedMail, *, now: datetime, code: int | None,
                      response: str = "") -> None:
    """The server accepted the mail (RFC 5321 §4.2.1: 250 after DATA)."""
    await record_sent_many(db, [claimed], now=now)


async def record_sent_many(db: Database, claimed: list[ClaimedMail], *, now: datetime) -> None:
    """Record several accepted mails in one transaction (the sender batches these)."""
    if not claimed:
        return
    params = [{"b_id": c.id, "b_now": now} for c in claimed]
    async with db.write_core() as conn:
        await conn.execute(_MARK_SENT, params)
        await conn.execute(_MARK_STEP_SENT, params)


def backoff_seconds(attempts: int, *, base: float = 60.0, cap: float = 6 * 3600.0,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with ±25 % jitter: 1, 2, 4 … minutes, at most six hours.

    The jitter spreads retries of many mails that failed together (a relay restart), so
    they do not all come back in the same second.
    """
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (rng or random).uniform(0.75, 1.25)


async def record_retry(db: Database, claimed: ClaimedMail, *, now: datetime, max_attempts: int,
                       code: int | None, error: str, delay: float) -> str:
    """A temporary failure (4xx, connection trouble): retry after ``delay`` seconds, or
    give up when ``max_attempts`` is reached. Returns the new state."""
    state = "failed" if claimed.attempts >= max_attempts else "pending"
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == claimed.id,
                                        OutboxMessage.state == "sending")
            .values(state=state, lease_owner=None, lease_until=None, smtp_code=code,
                    last_error=error[:2000],
                    next_attempt_at=now + timedelta(seconds=delay))
            .execution_options(synchronize_session=False))
        if state == "failed":
            await session.execute(
                update(CampaignStep).where(CampaignStep.outbox_id == claimed.id)
                .values(state="failed").execution_options(synchronize_session=False))
    return state


# RFC 5321 §4.2.2/§3.6: the mailbox does not exist (550), the user is not local (551),
# the mailbox name is not allowed (553). Anything else on RCPT (552 storage, 554
# policy …) may heal and counts as a soft bounce.
PERMANENT_RCPT_CODES = frozenset({550, 551, 553})


async def record_failed(db: Database, claimed: ClaimedMail, *, now: datetime, code: int | None,
                        error: str, recipient_refused: bool) -> None:
    """A permanent failure (5xx): the row is failed at once. A refusal of the recipient
    (5xx on RCPT) also feeds the contact's e-mail status: 550/551/553 mark the address
    ``bouncing`` at once, other codes add a soft bounce (``bouncing`` after three).
    A bouncing contact's entries are flagged ``needs_new_contact``."""
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == claimed.id)
            .values(state="failed", lease_owner=None, lease_until=None, smtp_code=code,
                    last_error=error[:2000])
            .execution_options(synchronize_session=False))
        await session.execute(
            update(CampaignStep).where(CampaignStep.outbox_id == claimed.id)
            .values(state="failed").execution_options(synchronize_session=False))
        if recipient_refused:
            await note_rejected_recipient(session, claimed.to_addr, contact_id=claimed.contact_id,
                                          code=code, now=now)


async def note_rejected_recipient(session: AsyncSession, address: str, *,
                                  contact_id: int | None, code: int | None,
                                  now: datetime) -> Contact | None:
    """Feed a synchronous recipient refusal into the contact's e-mail status (and the
    bounce log the digest reports)."""
    from bot.mail.models import BounceEvent

    contact: Contact | None = None
    if contact_id is not None:
        contact = await session.get(Contact, contact_id, populate_existing=True)
    if contact is None and address:
        contact = await session.scalar(select(Contact).where(Contact.email == address.lower()))
    permanent = code in PERMANENT_RCPT_CODES
    session.add(BounceEvent(address=address.lower(), contact_id=contact.id if contact else None,
                            status=str(code) if code else None, permanent=permanent,
                            created_at=now))
    if contact is None:
        await session.flush()
        return None
    await apply_bounce(session, contact, permanent=permanent, now=now)  # the one rule
    await session.flush()
    return contact


async def release(db: Database, claimed: list[ClaimedMail], *, owner: str) -> int:
    """Give back claimed rows that were not tried (graceful stop), so another worker can
    take them at once instead of after the lease. The attempt counted at claim time is
    taken back."""
    if not claimed:
        return 0
    async with db.write() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([c.id for c in claimed]),
                   OutboxMessage.state == "sending", OutboxMessage.lease_owner == owner)
            .values(state="pending", lease_owner=None, lease_until=None,
                    attempts=OutboxMessage.attempts - 1)
            .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class MailActionError(Exception):
    """An administrator's retry or discard that cannot be done; the message is a
    catalogue key (the page shows it in the administrator's language)."""


async def retry_mail(session: AsyncSession, outbox_id: int, *, now: datetime) -> OutboxMessage:
    """Send a failed mail again (an administrator's "Send igen"), in the caller's
    transaction: back to ``pending`` now, with its attempts counted from zero, so the
    sender's backoff and ``smtp_max_attempts`` apply afresh. Its campaign step goes back
    to ``planned``.

    Refused when the mail is not failed, when its live tokens were already removed (the
    links in it would not work: :func:`redact_finished`), or when its contact has opted
    out or bounces since (reset the contact first)."""
    row = await session.get(OutboxMessage, outbox_id, populate_existing=True)
    if row is None:
        raise MailActionError("err.no_outbox_mail")
    if row.state != "failed":
        raise MailActionError("err.mail_not_failed")
    if row.raw_redacted:
        raise MailActionError("err.mail_redacted")
    if row.contact_id is not None:
        contact = await session.get(Contact, row.contact_id)
        if contact is not None and contact.email_status != "ok":
            raise MailActionError("err.mail_contact_blocked")
    # One conditional UPDATE: a sender or another administrator that got there first
    # wins, and this one is refused (PostgreSQL runs this under READ COMMITTED).
    moved = await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row.id,
                                    OutboxMessage.state == "failed",
                                    OutboxMessage.raw_redacted.is_(False))
        .values(state="pending", attempts=0, next_attempt_at=now, last_error=None,
                smtp_code=None).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise MailActionError("err.mail_not_failed")
    await session.execute(
        update(CampaignStep).where(CampaignStep.outbox_id == row.id,
                                   CampaignStep.state == "failed")
        .values(state="planned").execution_options(synchronize_session=False))
    await session.refresh(row)
    return row


DISCARDABLE_STATES = ("pending", "failed")


async def discard_mail(session: AsyncSession, outbox_id: int, *, reason: str) -> OutboxMessage:
    """Never send a mail that waits or failed (an administrator's "Kassér"), in the
    caller's transaction: ``cancelled`` with ``reason`` as its note, its campaign step
    ``skipped``. A mail a sender holds right now (``sending``) is refused: it may be on
    the wire."""
    row = await session.get(OutboxMessage, outbox_id, populate_existing=True)
    if row is None:
        raise MailActionError("err.no_outbox_mail")
    if row.state not in DISCARDABLE_STATES:
        raise MailActionError("err.mail_not_discardable")
    # Conditional, so a sender that claimed the row meanwhile keeps it (it may be on the
    # wire) and this discard is refused instead of being overwritten by "sent".
    moved = await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row.id,
                                    OutboxMessage.state.in_(DISCARDABLE_STATES))
        .values(state="cancelled", last_error=reason[:2000], lease_owner=None,
                lease_until=None).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise MailActionError("err.mail_not_discardable")
    await session.execute(
        update(CampaignStep).where(CampaignStep.outbox_id == row.id)
        .values(state="skipped", note="discarded").execution_options(synchronize_session=False))
    await session.refresh(row)
    return row


async def queue_test_mail(session: AsyncSession, settings: Settings, *, to_addr: str,
                          lang: str, actor: str) -> OutboxMessage:
    """Queue a short test mail (an administrator's "Send testmail"), in the caller's
    transaction, through the same outbox, sender and relay as every other mail: when it
    arrives, sending works end to end. No tokens, no answer expected."""
    if not is_mail_address(to_addr):
        raise MailActionError("err.bad_test_address")
    mail = render_mail("test", lang, actor=actor, site=settings.base_url)
    row = await enqueue(session, compose(settings, to_addr=to_addr, mail=mail, kind="test"),
                        kind="test")
    assert row is not None  # no idempotency key: always a new row
    return row


async def cancel_pending_for_contact(session: AsyncSession, contact_id: int,
                                     kinds: tuple[str, ...] = ("reminder",)) -> int:
    """Cancel unsent scheduled mail to a contact who opted out (in the caller's
    transaction). Rows already claimed by a sender are left alone. (Their live tokens go
    in the sender's next idle pass, :func:`redact_finished`.)"""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.contact_id == contact_id, OutboxMessage.state == "pending",
               OutboxMessage.kind.in_(kinds))
        .values(state="cancelled", last_error="contact opted out")
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
