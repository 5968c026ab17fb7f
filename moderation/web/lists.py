"""Read-only queries behind the audit log, contacts, merge, quarantine and user pages."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from bot.core.db import Database
from bot.core.i18n import gettext
from bot.links.store import dead_links_in, link_for_mail
from bot.registry.duplicates import SuspectedPair, suspected_pairs
from bot.registry.fields import form_label, format_value
from bot.registry.models import Contact, Initiative
from bot.registry.record import FIELD_KEYS, MANDATORY_FIELDS, missing_mandatory
from intake.inbox.models import InboundMessage
from moderation.audit import record_event
from moderation.models import AuditEvent, DuplicateDismissal, Submission, User
from moderation.web.item_view import MailView, mail_view

AUDIT_PAGE = 100


async def submission_language(db: Database, submission_id: int) -> str:
    async with db.read() as session:
        lang = await session.scalar(select(Submission.language)
                                    .where(Submission.id == submission_id))
    return lang or "da"


# --- audit -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    entry: int | None = None
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilters:
        def day(name: str) -> str:
            value = query.get(name, "")
            try:
                datetime.strptime(value, "%Y-%m-%d")
            except ValueError:
                return ""
            return value
        entry = query.get("entry", "").strip()
        return cls(actor=query.get("actor", "").strip()[:200],
                   action=query.get("action", "").strip()[:64],
                   entry=int(entry) if entry.isdigit() and len(entry) < 10 else None,
                   date_from=day("from"), date_to=day("to"))

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("actor", self.actor), ("action", self.action),
                                  ("entry", str(self.entry or "")),
                                  ("from", self.date_from), ("to", self.date_to)) if v}


def _local_midnight(day: str, zone: str) -> datetime:
    """The start of a calendar day where the registry runs, as the naive UTC the
    database keeps (the page shows Danish time, so "to 3 December" means Danish days)."""
    local = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def _audit_query(filters: AuditFilters, zone: str) -> Any:
    q = select(AuditEvent)
    if filters.actor:
        q = q.where(AuditEvent.actor == filters.actor)
    if filters.action:
        q = q.where(AuditEvent.action == filters.action)
    if filters.entry is not None:
        # The entry's own events and those of every case about it.
        cases = select(Submission.id).where(or_(
            Submission.initiative_id == filters.entry,
            Submission.result_initiative_id == filters.entry))
        q = q.where(or_(AuditEvent.initiative_id == filters.entry,
                        AuditEvent.submission_id.in_(cases)))
    if filters.date_from:
        q = q.where(AuditEvent.at >= _local_midnight(filters.date_from, zone))
    if filters.date_to:
        q = q.where(AuditEvent.at < _local_midnight(filters.date_to, zone)
                    + timedelta(days=1))
    return q


async def audit_events(db: Database, filters: AuditFilters, *, before: int | None = None,
                       limit: int = AUDIT_PAGE, zone: str = "Europe/Copenhagen"
                       ) -> tuple[list[AuditEvent], int | None]:
    """Newest first; returns (events, id to continue before) — keyset on id."""
    q = _audit_query(filters, zone)
    if before is not None:
        q = q.where(AuditEvent.id < before)
    async with db.read() as session:
        rows = list(await session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    older = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], older


AUDIT_EXPORT_LIMIT = 100_000


async def audit_export(db: Database, filters: AuditFilters, *,
                       zone: str = "Europe/Copenhagen") -> list[AuditEvent]:
    """Every event the filters select (newest first, at most :data:`AUDIT_EXPORT_LIMIT`)."""
    q = _audit_query(filters, zone).order_by(AuditEvent.id.desc()).limit(AUDIT_EXPORT_LIMIT)
    async with db.read() as session:
        return list(await session.scalars(q))


async def audit_actions(db: Database) -> list[str]:
    async with db.read() as session:
        return [a for a in await session.scalars(
            select(AuditEvent.action).distinct().order_by(AuditEvent.action))]


def describe_detail(detail: Mapping[str, Any], lang: str) -> tuple[list[str], dict[str, Any]]:
    """An audit event's detail as phrases in the moderator's language ("Rettet før
    godkendelse: Status, Slutdato", "Version 2") and the keys no phrase covers (shown as
    they are). False flags and empty lists say nothing and are left out."""
    _ = gettext(lang)

    def fields(keys: Any) -> str:
        return ", ".join(form_label(str(k), lang) if k in FIELD_KEYS else str(k)
                         for k in keys)
    phrases: list[str] = []
    rest: dict[str, Any] = {}
    for key, value in detail.items():
        if key == "kind" and value:
            phrases.append(_("audit.detail.kind", kind=_(f"kind.{value}")))
        elif key == "channel" and value:
            phrases.append(_("audit.detail.channel", channel=_(f"channel.{value}")))
        elif key in ("edited", "fields") and isinstance(value, list):
            if value:
                phrases.append(_(f"audit.detail.{key}", fields=fields(value)))
        elif key == "version" and value is not None:
            phrases.append(_("audit.detail.version", version=value))
        elif key in ("forced", "mailed") and isinstance(value, bool):
            if value:
                phrases.append(_(f"audit.detail.{key}"))
        elif key in ("reason", "message") and value:
            phrases.append(_(f"audit.detail.{key}", text=value))
        elif key == "source" and value is not None:
            phrases.append(_("audit.detail.source", entry=_("ref.entry", id=value)))
        elif key in ("entries_rewritten", "terms_created") and isinstance(value, int):
            if value:
                phrases.append(_(f"audit.detail.{key}", n=value))
        elif key == "other" and value is not None:
            phrases.append(_("audit.detail.other", entry=_("ref.entry", id=value)))
        elif key in ("outbox_id", "contact_id") and value is not None:
            phrases.append(_(f"audit.detail.{key}", id=value))
        elif key == "to" and value:
            phrases.append(_("audit.detail.to", address=value))
        elif key == "status_before" and value in ("bouncing", "opted_out"):
            phrases.append(_("audit.detail.status_before", status=_(f"ml.contact.{value}")))
        else:
            rest[key] = value
    return phrases, rest


# --- contacts --------------------------------------------------------------------------------

@dataclass
class ContactsOverview:
    bouncing: list[tuple[Contact, int]]
    opted_out: list[tuple[Contact, int]]
    needs_new: list[Initiative]
    found: list[tuple[Contact, int]]


async def contacts_overview(db: Database, search: str = "", limit: int = 200
                            ) -> ContactsOverview:
    """Bouncing and opted-out contacts (with how many entries each has), entries that
    need a new contact, and contacts matching ``search``."""
    entries = (select(Initiative.contact_id, func.count().label("n"))
               .where(Initiative.merged_into_id.is_(None))
               .group_by(Initiative.contact_id).subquery())

    def with_count(where: Any) -> Any:
        return (select(Contact, func.coalesce(entries.c.n, 0))
                .outerjoin(entries, entries.c.contact_id == Contact.id)
                .where(where).order_by(Contact.email).limit(limit))

    async with db.read() as session:
        bouncing = [(c, int(n)) for c, n in await session.execute(
            with_count(Contact.email_status == "bouncing"))]
        opted = [(c, int(n)) for c, n in await session.execute(
            with_count(Contact.email_status == "opted_out"))]
        needs = list(await session.scalars(
            select(Initiative).where(Initiative.needs_new_contact.is_(True),
                                     Initiative.merged_into_id.is_(None))
            .order_by(Initiative.title).limit(limit)))
        found: list[tuple[Contact, int]] = []
        term = search.strip().lower()
        if term:
            pattern = f"%{term.replace('%', '').replace('_', '')}%"
            found = [(c, int(n)) for c, n in await session.execute(with_count(
                func.lower(Contact.email).like(pattern) | func.lower(Contact.name).like(pattern)
            ))]
    return ContactsOverview(bouncing, opted, needs, found)


# --- duplicates ------------------------------------------------------------------------------

async def duplicate_worklist(db: Database, limit: int = 100) -> list[SuspectedPair]:
    """Suspected pairs, best first, without those a moderator said are different."""
    async with db.read() as session:
        dismissed = (await session.execute(
            select(DuplicateDismissal.low_id, DuplicateDismissal.high_id))).all()
        return await suspected_pairs(session, dismissed=[(a, b) for a, b in dismissed],
                                     limit=limit)


async def is_dismissed(db: Database, first_id: int, second_id: int) -> bool:
    low, high = sorted((first_id, second_id))
    async with db.read() as session:
        return await session.get(DuplicateDismissal, (low, high)) is not None


async def published_entry(db: Database, entry_id: int | None) -> Initiative | None:
    if entry_id is None:
        return None
    async with db.read() as session:
        entry = await session.get(Initiative, entry_id)
    return entry if entry is not None and entry.merged_into_id is None else None


async def find_entries(db: Database, search: str, limit: int = 20) -> list[Initiative]:
    """Published entries whose title or organisation contains ``search``, or whose number
    it is (the merge page's entry picker)."""
    term = search.strip()
    if not term:
        return []
    cond = []
    if term.isdigit() and len(term) < 10:  # (a longer number overflows an INTEGER)
        cond.append(Initiative.id == int(term))
    pattern = f"%{term.lower().replace('%', '').replace('_', '')}%"
    cond += [func.lower(Initiative.title).like(pattern),
             func.lower(Initiative.organisation).like(pattern)]
    async with db.read() as session:
        return list(await session.scalars(
            select(Initiative).where(Initiative.merged_into_id.is_(None), or_(*cond))
            .order_by(Initiative.title).limit(limit)))


# --- completeness ----------------------------------------------------------------------------

@dataclass
class Completeness:
    total: int
    complete: int
    by_field: list[tuple[str, str, int]]  # (key, label, entries lacking it)
    incomplete: list[tuple[Initiative, list[str]]]  # (entry, labels of what it lacks)
    # Entries with links the link checker found dead: (entry, [{label, url, answer}]).
    dead_links: list[tuple[Initiative, list[dict[str, Any]]]] = field(default_factory=list)


async def completeness(db: Database, lang: str, limit: int = 200, *,
                       link_failures: int = 3) -> Completeness:
    """How complete the published registry is: entries with every mandatory field, what
    is missing how often, and the entries that lack the most first."""
    columns = [getattr(Initiative, k) for k in MANDATORY_FIELDS if hasattr(Initiative, k)]
    async with db.read() as session:
        rows = (await session.execute(
            select(Initiative.id, *columns, Contact.name.label("contact_name"),
                   Contact.email.label("contact_email"))
            .outerjoin(Contact, Contact.id == Initiative.contact_id)
            .where(Initiative.merged_into_id.is_(None)))).all()
        lacking: list[tuple[int, list[str]]] = []
        counts = dict.fromkeys(MANDATORY_FIELDS, 0)
        for row in rows:
            missing = missing_mandatory(dict(row._mapping))
            for key in missing:
                counts[key] += 1
            if missing:
                lacking.append((row.id, missing))
        lacking.sort(key=lambda x: (-len(x[1]), x[0]))
        shown = lacking[:limit]
        dead = await dead_links_in(session, None, failures_to_flag=link_failures)
        wanted = [i for i, _ in shown] + list(dead)[:limit]
        entries = {e.id: e for e in await session.scalars(
            select(Initiative).where(Initiative.id.in_(wanted),
                                     Initiative.merged_into_id.is_(None)))} \
            if wanted else {}
    return Completeness(
        total=len(rows), complete=len(rows) - len(lacking),
        by_field=[(k, form_label(k, lang), n) for k, n in counts.items()],
        incomplete=[(entries[i], [form_label(k, lang) for k in missing])
                    for i, missing in shown if i in entries],
        dead_links=[(entries[i], [{**link_for_mail(c), "label": form_label(c.field, lang)}
                                  for c in checks])
                    for i, checks in list(dead.items())[:limit] if i in entries])


# --- merge ----------------------------------------------------------------------------------

@dataclass
class MergePair:
    source: Initiative
    target: Initiative
    rows: list[tuple[str, str, str, str, bool]]  # key, label, source, target, differs


async def merge_pair(db: Database, source_id: int | None, target_id: int | None,
                     lang: str = "da") -> MergePair | None:
    if source_id is None or target_id is None:
        return None
    async with db.read() as session:
        source = await session.get(Initiative, source_id)
        target = await session.get(Initiative, target_id)
    if source is None or target is None:
        return None
    a, b = source.record(), target.record()
    rows = []
    for key in FIELD_KEYS:
        sa, tb = format_value(key, a.get(key), lang), format_value(key, b.get(key), lang)
        rows.append((key, form_label(key, lang), sa, tb, sa != tb))
    return MergePair(source, target, rows)


# --- quarantine -------------------------------------------------------------------------------

async def quarantined(db: Database, limit: int = 200) -> list[InboundMessage]:
    async with db.read() as session:
        return list(await session.scalars(
            select(InboundMessage).where(InboundMessage.state == "quarantined")
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)))


async def inbound_message(db: Database, inbound_id: int, own_domain: str, lang: str = "da"
                          ) -> tuple[InboundMessage, MailView, str] | None:
    async with db.read() as session:
        msg = await session.get(InboundMessage, inbound_id)
    if msg is None:
        return None
    raw_text = msg.raw[:200_000].decode("utf-8", errors="replace")
    return msg, await asyncio.to_thread(mail_view, msg, own_domain, lang), raw_text


async def replay_inbound(db: Database, inbound_id: int, *, actor: str) -> bool:
    """Process a quarantined message again (the same function as ``landkort intake
    replay``); the intake worker picks it up. Logged in the audit trail."""
    from intake.inbox.store import replay

    if not await replay(db, inbound_id):
        return False
    async with db.write() as session:
        await record_event(session, actor=actor, action="inbound.replayed",
                           detail={"inbound_message_id": inbound_id})
    return True


# --- users -------------------------------------------------------------------------------------

async def users(db: Database) -> list[User]:
    async with db.read() as session:
        return list(await session.scalars(select(User).order_by(User.username)))
