"""Read-only queries behind the administrators' mail pages: what went out (and what
failed), what came in and how it was read, contacts whose address is blocked, and the
campaign dashboard. The state changes these pages trigger live where each rule lives
(:mod:`bot.mail.outbox`, :mod:`bot.mail.contacts`)."""
from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.i18n import format_share, gettext
from bot.mail.models import OutboxBody, OutboxMessage
from bot.mail.outbox import redact_tokens
from bot.registry.models import Contact
from bot.registry.vocabulary import REGIONS, label_of
from intake.inbox.models import InboundMessage
from moderation.campaign_stats import CycleStats, campaign_stats

PAGE = 100
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "cancelled")
INBOUND_STATES = ("stored", "done", "quarantined")


@dataclass(frozen=True)
class OutboxRow:
    """One outgoing mail as the list shows it (no body: the list never loads ``raw``)."""

    id: int
    kind: str
    to_addr: str
    subject: str
    state: str
    attempts: int
    last_error: str | None
    smtp_code: int | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    raw_redacted: bool

    @property
    def retrying(self) -> bool:
        """Waiting for another try after a temporary failure."""
        return self.state == "pending" and self.attempts > 0


_OUTBOX_COLUMNS = (OutboxMessage.id, OutboxMessage.kind, OutboxMessage.to_addr,
                   OutboxMessage.subject, OutboxMessage.state, OutboxMessage.attempts,
                   OutboxMessage.last_error, OutboxMessage.smtp_code,
                   OutboxMessage.created_at, OutboxMessage.sent_at,
                   OutboxMessage.next_attempt_at, OutboxMessage.raw_redacted)


def _one_page(rows: list[Any], limit: int) -> tuple[list[Any], int | None]:
    """Keyset paging: ``limit + 1`` rows were read newest first; the page, and the id to
    continue before when there is more."""
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def _state(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


async def outbox_counts(db: Database) -> dict[str, int]:
    """How many mails are in each state (every state named, zeros included)."""
    async with db.read() as session:
        found = dict((await session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))).all())
    return {state: int(found.get(state, 0)) for state in OUTBOX_STATES}


async def outbox_page(db: Database, *, state: str = "", search: str = "",
                      before: int | None = None, limit: int = PAGE
                      ) -> tuple[list[OutboxRow], int | None]:
    """Newest first, optionally one state and/or a recipient containing ``search``;
    returns the rows and the id to continue from (None on the last page)."""
    stmt = select(*_OUTBOX_COLUMNS).order_by(OutboxMessage.id.desc()).limit(limit + 1)
    if state := _state(state, OUTBOX_STATES):
        stmt = stmt.where(OutboxMessage.state == state)
    if term := search.strip().lower().replace("%", "").replace("_", ""):
        stmt = stmt.where(OutboxMessage.to_addr.like(f"%{term}%"))
    if before is not None:
        stmt = stmt.where(OutboxMessage.id < before)
    async with db.read() as session:
        rows = [OutboxRow(**r._mapping) for r in (await session.execute(stmt)).all()]
    return _one_page(rows, limit)


@dataclass(frozen=True)
class OutboxMail:
    """One outgoing mail with its text, live tokens removed (an administrator reads the
    mail as sent, never a working personal link)."""

    row: OutboxRow
    from_addr: str
    message_id: str
    headers: list[tuple[str, str]]
    text: str


SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To",
                 "Auto-Submitted", "Precedence", "List-Unsubscribe")


def _mail_text(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    msg = email.message_from_bytes(redact_tokens(raw), policy=email.policy.default)
    headers = [(name, str(msg[name])) for name in SHOWN_HEADERS if msg[name] is not None]
    body = msg.get_body(preferencelist=("plain",))
    text = str(body.get_content()) if body is not None else ""
    return headers, text


async def outbox_mail(db: Database, outbox_id: int) -> OutboxMail | None:
    async with db.read() as session:
        found = (await session.execute(
            select(*_OUTBOX_COLUMNS, OutboxMessage.from_addr, OutboxMessage.message_id,
                   OutboxBody.raw)
            .join(OutboxBody, OutboxBody.outbox_id == OutboxMessage.id)
            .where(OutboxMessage.id == outbox_id))).first()
    if found is None:
        return None
    values = dict(found._mapping)
    from_addr, message_id, raw = (values.pop(k) for k in ("from_addr", "message_id", "raw"))
    # Our own mail, but parsing is CPU work all the same: off the event loop.
    headers, text = await asyncio.to_thread(_mail_text, bytes(raw))
    return OutboxMail(OutboxRow(**values), from_addr, message_id, headers, text)


# --- received mail ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InboundRow:
    id: int
    received_at: datetime
    source: str
    from_addr: str | None
    subject: str | None
    size: int
    state: str
    kind: str | None
    outcome: str | None
    last_error: str | None


async def inbound_counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        found = dict((await session.execute(
            select(InboundMessage.state, func.count()).group_by(InboundMessage.state))).all())
    return {state: int(found.get(state, 0)) for state in INBOUND_STATES}


async def inbound_kinds(db: Database) -> list[str]:
    """The kinds the parser has given received mail so far (for the filter menu)."""
    async with db.read() as session:
        return [k for k in await session.scalars(
            select(InboundMessage.kind).where(InboundMessage.kind.is_not(None))
            .group_by(InboundMessage.kind).order_by(InboundMessage.kind)) if k]


async def inbound_page(db: Database, *, state: str = "", kind: str = "", search: str = "",
                       before: int | None = None, limit: int = PAGE
                       ) -> tuple[list[InboundRow], int | None]:
    """Received mail, newest first, by state, the parser's kind and sender."""
    stmt = (select(InboundMessage.id, InboundMessage.received_at, InboundMessage.source,
                   InboundMessage.from_addr, InboundMessage.subject, InboundMessage.size,
                   InboundMessage.state, InboundMessage.kind, InboundMessage.outcome,
                   InboundMessage.last_error)
            .order_by(InboundMessage.id.desc()).limit(limit + 1))
    if state := _state(state, INBOUND_STATES):
        stmt = stmt.where(InboundMessage.state == state)
    if kind:
        stmt = stmt.where(InboundMessage.kind == kind[:32])
    if term := search.strip().lower().replace("%", "").replace("_", ""):
        stmt = stmt.where(InboundMessage.from_addr.like(f"%{term}%"))
    if before is not None:
        stmt = stmt.where(InboundMessage.id < before)
    async with db.read() as session:
        rows = [InboundRow(**r._mapping) for r in (await session.execute(stmt)).all()]
    return _one_page(rows, limit)


# --- blocked addresses -----------------------------------------------------------------------

async def blocked_contacts(db: Database, limit: int = 200) -> list[Contact]:
    """Contacts whose address bounces or who opted out, most recent first."""
    async with db.read() as session:
        return list(await session.scalars(
            select(Contact).where(Contact.email_status != "ok")
            .order_by(Contact.updated_at.desc(), Contact.id.desc()).limit(limit)))


# --- campaigns ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dashboard:
    cycles: Mapping[int, CycleStats]
    # Per cycle: (region label, figures), in the vocabulary's order, "no region" last.
    regions: Mapping[int, list[tuple[str, CycleStats]]]
    queued: int


async def campaign_dashboard(db: Database, lang: str = "da") -> Dashboard:
    """Per cycle (newest first) and per region within it: due, sent, answered by which
    route, changed, bounced, no answer; and the reminders still waiting in the outbox."""
    by_cycle, by_region = await campaign_stats(db)
    order = {t.key: i for i, t in enumerate(REGIONS)}
    regions: dict[int, list[tuple[str, CycleStats]]] = {}
    for (cycle, region), stats in sorted(by_region.items(),
                                         key=lambda kv: order.get(kv[0][1], len(order))):
        label = (gettext(lang)("mc.no_region") if region not in order
                 else label_of(REGIONS, region, lang))
        regions.setdefault(cycle, []).append((label, stats))
    async with db.read() as session:
        queued = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.state.in_(("pending",
                                                                            "sending"))))
    ordered = dict(sorted(by_cycle.items(), reverse=True))
    return Dashboard(ordered, regions, int(queued or 0))


def percent(part: int, whole: int, lang: str = "da") -> str:
    """A share for the tables ("42 %" / "42%"), empty when there is nothing to divide."""
    return format_share(part / whole, lang) if whole else ""


__all__ = ["INBOUND_STATES", "OUTBOX_STATES", "Dashboard", "InboundRow", "OutboxMail",
           "OutboxRow", "blocked_contacts", "campaign_dashboard", "inbound_counts",
           "inbound_kinds", "inbound_page", "outbox_counts", "outbox_mail", "outbox_page",
           "percent"]
