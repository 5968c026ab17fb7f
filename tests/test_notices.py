"""Mails that close the loop: after an approval the contact is thanked with the public
page (one mail per contact for a bulk approval, never for the editors' own imports);
rejections and questions name the initiative, greet by name, call an update an update,
and carry a reply token."""
from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from moderation import decisions
from tests.conftest import MakeInitiative, MakeSubmission


async def mails(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                     .order_by(OutboxMessage.id))).all())


def text_of(row: OutboxMessage) -> str:
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    body = msg.get_body(("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


def contact_answer(entry: Any, **kw: Any) -> dict[str, Any]:
    return dict(initiative=entry, kind="confirmation", proposed={}, token_matched=True,
                sender_email=entry.contact.email, sender_name="Mette Jensen", **kw)


@pytest.mark.asyncio
async def test_an_approved_answer_thanks_the_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative(title="Hjerteklinik på video")
    sub = await make_submission(**contact_answer(entry))
    await decisions.approve(db, sub.id, actor="anna", settings=settings)
    (row,) = await mails(db, "thanks")
    assert row.to_addr == entry.contact.email if entry.contact else False
    assert row.subject == "Tak — landkortet er opdateret"
    body = text_of(row)
    assert "Hej Mette Jensen" in body and "Hjerteklinik på video (bekræftet)" in body
    assert f"{settings.base_url.rstrip('/')}/initiativ/{entry.slug}" in body


@pytest.mark.asyncio
@pytest.mark.parametrize("why", ["setting off", "import", "not the contact", "no settings"])
async def test_no_thanks_when_not_the_contacts_own_answer(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission, why: str) -> None:
    entry = await make_initiative()
    kw = contact_answer(entry)
    if why == "import":
        kw["channel"] = "import"
    if why == "not the contact":
        kw["token_matched"] = False
    sub = await make_submission(**kw)
    used = None if why == "no settings" else settings.replace(
        thanks_mail=why != "setting off")
    await decisions.approve(db, sub.id, actor="anna", settings=used)
    assert await mails(db, "thanks") == []


@pytest.mark.asyncio
async def test_a_bulk_approval_sends_one_mail_per_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    a = await make_initiative(title="Første", contact_email="samme@example.dk")
    b = await make_initiative(title="Anden", contact_email="samme@example.dk")
    c = await make_initiative(title="Tredje", contact_email="anden@example.dk")
    subs = [await make_submission(**contact_answer(e)) for e in (a, b, c)]
    done, problems = await decisions.bulk_approve_confirmations(
        db, [s.id for s in subs], actor="anna", settings=settings)
    assert len(done) == 3 and problems == []
    rows = await mails(db, "thanks")
    assert sorted(r.to_addr for r in rows) == ["anden@example.dk", "samme@example.dk"]
    both = text_of(next(r for r in rows if r.to_addr == "samme@example.dk"))
    assert "Første" in both and "Anden" in both


def sent_subject(row: OutboxMessage) -> str:
    """The Subject header of the mail as it goes out."""
    return str(email.message_from_bytes(row.raw, policy=email.policy.default)["Subject"])


@pytest.mark.asyncio
async def test_a_rejected_update_names_the_entry_and_can_be_answered(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative(title="Telepsykiatri i Nordjylland")
    sub = await make_submission(initiative=entry, kind="update",
                                proposed={"status": "afsluttet"},
                                sender_email="lone@example.dk", sender_name="Lone Friis")
    await decisions.reject(db, sub.id, actor="anna", reason="Status er stadig i drift.",
                           settings=settings)
    (row,) = await mails(db, "rejection")
    # The mail's subject carries the reply token (the stored column, shown in lists, not).
    assert sent_subject(row).startswith(
        'Din opdatering af "Telepsykiatri i Nordjylland" er ikke godkendt [ref:')
    assert "[ref:" not in row.subject
    body = text_of(row)
    assert body.startswith("Hej Lone Friis,") and "din opdatering" in body
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert "landkort+" in str(msg["Reply-To"] or msg["From"])


@pytest.mark.asyncio
async def test_a_question_names_the_entry(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative(title="Video i hjemmeplejen")
    sub = await make_submission(initiative=entry, kind="update", proposed={"end_date": None},
                                sender_email="lone@example.dk", sender_name="Lone Friis",
                                language="en")
    await decisions.ask_for_info(db, sub.id, actor="anna", message="Which month did it end?",
                                 settings=settings)
    (row,) = await mails(db, "needs_info")
    assert sent_subject(row).startswith('We need a little more information about '
                                        '"Video i hjemmeplejen" [ref:')
    assert text_of(row).startswith("Hello Lone Friis,")
