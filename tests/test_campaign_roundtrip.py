"""Render → reply → parse: the reminder form read back by intake gives the entry's
values, for every demo entry in Danish and English."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import select

from bot.campaigns.reminders import render_reminder
from bot.core.db import Database
from bot.core.settings import Settings
from bot.registry.fields import FIELD_KEYS, form_lines
from bot.registry.models import Initiative
from intake.parse.message import parse_message

TOKEN = "Rt0kenRt0kenRt0kenRt0kenRt0ken12"
UNSUB = "Ut0kenUt0kenUt0kenUt0kenUt0ken12"


def reply_to(settings: Settings, record: dict[str, Any], lang: str, own_text: str) -> bytes:
    """A reply as a mail client writes it: own text on top, the original quoted."""
    mail = render_reminder(settings, record, step=1, lang=lang, reply_token=TOKEN,
                           unsubscribe_token=UNSUB)
    quoted = "\n".join(f"> {line}" if line else ">" for line in mail.text.splitlines())
    msg = EmailMessage()
    msg["From"] = record.get("contact_email") or "someone@example.dk"
    msg["To"] = settings.reply_address(TOKEN)
    msg["Subject"] = ("SV: " if lang == "da" else "Re: ") + mail.subject
    msg["Message-ID"] = make_msgid(domain="example.dk")
    msg["In-Reply-To"] = "<landkort.abc@example.org>"
    intro = "Den 2. marts 2026 skrev Det telemedicinske landkort:" if lang == "da" else \
        "On 2 March 2026, Det telemedicinske landkort wrote:"
    msg.set_content(f"{own_text}\n\n{intro}\n{quoted}\n")
    return msg.as_bytes()


def expected_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in FIELD_KEYS if record.get(k) not in (None, "", [])}


async def demo_records(db: Database) -> list[dict[str, Any]]:
    from bot.demo.data import seed_registry

    await seed_registry(db)
    async with db.read() as session:
        rows = (await session.scalars(select(Initiative).order_by(Initiative.id))).all()
        return [r.record() for r in rows]


@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["da", "en"])
async def test_round_trip_for_every_demo_entry(sqlite_db: Database, settings: Settings,
                                               lang: str) -> None:
    records = await demo_records(sqlite_db)
    assert len(records) >= 30
    failures = []
    for record in records:
        form = "\n".join(form_lines(record, lang))
        mail = render_reminder(settings, record, step=1, lang=lang, reply_token=TOKEN,
                               unsubscribe_token=UNSUB)
        assert form in mail.text  # the mail carries exactly the form
        result = parse_message(reply_to(settings, record, lang, form),
                               own_domain=settings.mail_domain)
        want = expected_fields(record)
        if result.fields != want or result.problems or result.reply_token != TOKEN:
            failures.append((record["title"], result.fields, want,
                             [p.as_dict() for p in result.problems]))
    assert failures == []


@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["da", "en"])
async def test_round_trip_with_factory_entries(db: Database, settings: Settings,
                                               make_initiative: Any, lang: str) -> None:
    entry = await make_initiative(
        description="Første afsnit om projektet.\n\nAndet afsnit: med kolon og mere.",
        municipalities=["København", "Høje-Taastrup"], end_date="2027-12")
    record = entry.record()
    result = parse_message(reply_to(settings, record, lang, "\n".join(form_lines(record, lang))),
                           own_domain=settings.mail_domain)
    assert result.kind == "reply"
    assert result.fields == expected_fields(record)


@pytest.mark.parametrize(("lang", "answer"), [("da", "Ingen ændringer"),
                                              ("en", "No changes")])
def test_the_one_line_confirmation_is_understood(settings: Settings, lang: str,
                                                 answer: str) -> None:
    from tests.conftest import sample_record

    record = sample_record()
    result = parse_message(reply_to(settings, record, lang, answer),
                           own_domain=settings.mail_domain)
    assert result.kind == "reply"
    assert result.reply_token == TOKEN
    assert result.confirmed_unchanged
    assert result.fields == {}


def test_a_changed_line_comes_back_alone(settings: Settings) -> None:
    from tests.conftest import sample_record

    record = sample_record()
    lines = form_lines(record, "da")
    edited = [("Status: Afsluttet" if ln.startswith("Status:") else ln) for ln in lines]
    result = parse_message(reply_to(settings, record, "da", "\n".join(edited)),
                           own_domain=settings.mail_domain)
    assert result.fields["status"] == "afsluttet"
    assert not result.confirmed_unchanged
