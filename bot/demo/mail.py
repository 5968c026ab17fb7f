"""Demo mail: realistic replies that go through the real intake path.

:func:`seed_queue` (called by ``landkort demo`` after the registry is seeded) writes about
eight mails the way contacts really answer a reminder — Outlook-style Danish replies with
the quoted original underneath, a "Ingen ændringer", a colleague answering instead of the
contact, a new initiative that is nearly a copy of an existing one, a municipality that
does not exist, an English reply — issues reply tokens for existing entries exactly as
the reminder campaign does, then stores the mails (source ``demo``) and runs the
processor on them. The moderation queue therefore starts with items made by the same
code that handles real mail. Running it again adds nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import func, select

from bot.core.db import Database, utcnow
from bot.core.settings import Settings
from bot.mail.outbox import new_message_id
from bot.mail.tokens import issue_token
from bot.registry.fields import format_value
from bot.registry.models import Contact, Initiative
from intake.inbox.models import InboundMessage
from intake.inbox.store import store_message
from intake.mail.processor import process_pending

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoEntry:
    id: int
    title: str
    record: dict[str, Any]
    contact_id: int | None
    contact_name: str
    contact_email: str
    language: str


async def _entries(db: Database) -> list[DemoEntry]:
    async with db.read() as session:
        rows = (await session.execute(
            select(Initiative, Contact).join(Contact, Initiative.contact_id == Contact.id)
            .where(Contact.email.is_not(None), Initiative.merged_into_id.is_(None))
            .order_by(Initiative.id))).all()
        return [DemoEntry(i.id, i.title, i.record(), c.id, c.name or "", c.email or "",
                      c.language or "da") for i, c in rows]


def _outlook_reply(*, entry: DemoEntry, token: str, sent_id: str, settings: Settings, body: str,
                   from_name: str | None = None, from_addr: str | None = None,
                   hours_ago: int = 2, lang: str = "da", msg_n: int = 0) -> bytes:
    """A reply as Outlook writes it: SV:/RE:, the answer on top, the original below."""
    now = utcnow() - timedelta(hours=hours_ago)
    name = from_name or entry.contact_name
    addr = from_addr or entry.contact_email
    domain = addr.split("@", 1)[1]
    if lang == "en":
        subject = f'RE: Are the details about "{entry.title}" still correct? [ref:{token}]'
        quote_head = (f"From: Det telemedicinske landkort <{settings.intake_address}>\n"
                      f"Sent: {format_datetime(now - timedelta(days=3))}\n"
                      f"To: {entry.contact_name} <{entry.contact_email}>\n"
                      f'Subject: Are the details about "{entry.title}" still correct?')
    else:
        subject = (f'SV: Er oplysningerne om "{entry.title}" stadig korrekte? '
                   f"[ref:{token}]")
        quote_head = (f"Fra: Det telemedicinske landkort <{settings.intake_address}>\n"
                      f"Sendt: {format_datetime(now - timedelta(days=3))}\n"
                      f"Til: {entry.contact_name} <{entry.contact_email}>\n"
                      f'Emne: Er oplysningerne om "{entry.title}" stadig korrekte?')
    quoted = "\n".join(f"{k}: {format_value(k, entry.record.get(k), lang)}".rstrip()
                       for k in ("title", "status", "municipalities", "organisation"))
    text = f"{body.strip()}\n\n{quote_head}\n\n{quoted}\n"
    headers = [
        f"From: {name} <{addr}>",
        f"To: Det telemedicinske landkort <{settings.reply_address(token)}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: <DB9PR0{msg_n}MB{entry.id:04d}{token[:8]}@{domain}>",
        f"In-Reply-To: {sent_id}",
        f"References: {sent_id}",
        "Thread-Topic: Telemedicinsk landkort",
        f"Content-Language: {'en-US' if lang == 'en' else 'da-DK'}",
        f"Authentication-Results: mx.{settings.mail_domain}; spf=pass "
        f"smtp.mailfrom={domain}; dkim=pass header.d={domain}",
        "X-MS-Has-Attach: ",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode("utf-8")


def _new_submission(settings: Settings, like: DemoEntry) -> bytes:
    now = utcnow() - timedelta(hours=1)
    r = like.record
    # Nearly the same name, as a second person in the same region would write it.
    title = like.title.replace(" i ", " – ", 1) if " i " in like.title else f"{like.title} 2"
    body = (
        "Hej\n\nVi har et projekt, som vi gerne vil have med på landkortet.\n\n"
        f"Titel: {title}\n"
        f"Beskrivelse: {r.get('description') or 'Telemedicinsk opfølgning i hjemmet.'}\n"
        f"Status: {format_value('status', r.get('status') or 'projekt')}\n"
        f"Deltagere: {format_value('participants', r.get('participants') or ['kommune'])}\n"
        f"Regioner: {format_value('regions', r.get('regions') or ['hovedstaden'])}\n"
        f"Organisation: {r.get('organisation') or 'Kommunen'}\n\n"
        "Venlig hilsen\nSigne Vinther\nSundhedskonsulent\n")
    headers = [
        "From: Signe Vinther <signe.vinther@example.dk>",
        f"To: {settings.intake_address}",
        f"Subject: Nyt initiativ: {title}",
        f"Date: {format_datetime(now)}",
        "Message-ID: <demo-new-initiative-1@example.dk>",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def _other_status(status: str | None) -> str:
    return {"projekt": "Under udbredelse", "under_udbredelse": "I drift",
            "i_drift": "Afsluttet"}.get(status or "", "I drift")


async def seed_queue(settings: Settings, db: Database) -> int:
    """Store and process the demo mails once; returns how many were stored (0 when the
    demo queue exists already or the registry has too few entries with a contact)."""
    async with db.read() as session:
        done = await session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.source == "demo"))
    if done:
        return 0
    entries = await _entries(db)
    if len(entries) < 7:
        log.info("demo mail: only %d entries with a contact; no demo mail", len(entries))
        return 0
    english = [e for e in entries if e.language == "en"]
    danish = [e for e in entries if e.language != "en"]
    # Different contacts for the different replies where the data allows it.
    picked: list[DemoEntry] = []
    seen_contacts: set[int | None] = set()
    for e in danish:
        if e.contact_id not in seen_contacts:
            picked.append(e)
            seen_contacts.add(e.contact_id)
    picked += [e for e in danish if e not in picked]
    a, b, c, d, e_, f = picked[:6]
    en = english[0] if english else picked[6]

    async def token_for(entry: DemoEntry) -> tuple[str, str]:
        sent_id = new_message_id(settings.mail_domain)
        async with db.write() as session:
            token = await issue_token(session, purpose="reminder", initiative_id=entry.id,
                                      contact_id=entry.contact_id, outbox_message_id=sent_id)
        return token, sent_id

    mails: list[bytes] = []
    t, sid = await token_for(a)
    mails.append(_outlook_reply(
        entry=a, token=t, sent_id=sid, settings=settings, msg_n=1, hours_ago=5, body=(
            "Hej\n\nVi er kommet videre siden sidst, så status skal rettes.\n\n"
            f"Status: {_other_status(a.record.get('status'))}\n\n"
            f"Med venlig hilsen\n{a.contact_name}")))
    t, sid = await token_for(b)
    mails.append(_outlook_reply(
        entry=b, token=t, sent_id=sid, settings=settings, msg_n=2, hours_ago=4, body=(
            "Hej\n\nJeg stopper i afdelingen til næste måned. Fremover er det min kollega, "
            "der er kontaktperson.\n\nKontaktperson: Jonas Eriksen\n"
            "E-mail: jonas.eriksen@example.dk\nTelefon: 24 68 10 12\n\n"
            f"Venlig hilsen\n{b.contact_name}")))
    for n, entry in ((3, c), (4, d)):
        t, sid = await token_for(entry)
        mails.append(_outlook_reply(
            entry=entry, token=t, sent_id=sid, settings=settings, msg_n=n, hours_ago=3,
            body=f"Ingen ændringer.\n\nMvh\n{entry.contact_name.split()[0]}"))
    t, sid = await token_for(e_)
    mails.append(_outlook_reply(
        entry=e_, token=t, sent_id=sid, settings=settings, msg_n=5, hours_ago=2,
        from_name="Bente Kirkegaard", from_addr="bente.kirkegaard@example.dk", body=(
            f"Hej\n\n{e_.contact_name} har videresendt jeres mail til mig. Oplysningerne er "
            "stadig rigtige, men vi har fået en ny hjemmeside.\n\n"
            "Hjemmeside: https://example.dk/telemedicin/ny-side\n\n"
            "Venlig hilsen\nBente Kirkegaard\nTeamleder")))
    mails.append(_new_submission(settings, a))
    t, sid = await token_for(f)
    municipalities = list(f.record.get("municipalities") or [])[:2]
    mails.append(_outlook_reply(
        entry=f, token=t, sent_id=sid, settings=settings, msg_n=7, hours_ago=1, body=(
            "Hej\n\nVi er udvidet til flere kommuner.\n\n"
            f"Kommuner: {', '.join(municipalities + ['Nordby Kommune'])}\n\n"
            f"Mvh {f.contact_name}")))
    t, sid = await token_for(en)
    mails.append(_outlook_reply(
        entry=en, token=t, sent_id=sid, settings=settings, msg_n=8, hours_ago=1, lang="en",
        body=("Hi,\n\nThank you for the reminder. The project has ended, please update "
              "the entry.\n\nStatus: Ended\nEnd date: 2025-12-31\n\n"
              f"Kind regards\n{en.contact_name}")))

    stored = 0
    for raw in mails:
        result = await store_message(db, raw, source="demo",
                                     max_bytes=settings.max_message_bytes)
        stored += int(result.created)
    await process_pending(db, settings, owner="demo")
    return stored


__all__ = ["seed_queue"]
