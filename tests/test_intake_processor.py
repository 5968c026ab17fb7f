"""Processing stored mail into outcomes (SQLite and PostgreSQL), with our own .eml fixtures."""
from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import BounceEvent, OutboxMessage
from bot.mail.tokens import issue_token
from bot.registry.models import Contact, Initiative
from intake.inbox.models import AutoAnswerCount, InboundMessage
from intake.inbox.store import ClaimedMessage, claim_batch, replay, store_message
from intake.mail.answers import answer_block_reason, parse_headers
from intake.mail.outcomes import bounce_transition, is_own_address, submission_kind
from intake.mail.processor import Processor, process_pending
from intake.parse.message import ParseResult, parse_message
from moderation.models import AuditEvent, Submission
from tests.conftest import MakeInitiative, MakeSubmission

MAIL = Path(__file__).parent / "fixtures" / "mail" / "intake"


def eml(name: str, **subs: str) -> bytes:
    """A fixture with @@KEY@@ placeholders filled in."""
    text = (MAIL / name).read_bytes()
    for key, value in subs.items():
        text = text.replace(f"@@{key.upper()}@@".encode(), value.encode())
    return text


async def token_for(db: Database, initiative: Initiative, purpose: str = "reminder",
                    **kw: Any) -> str:
    async with db.write() as s:
        return await issue_token(s, purpose=purpose, initiative_id=initiative.id,
                                 contact_id=initiative.contact_id, **kw)


async def mail_to(db: Database, settings: Settings, initiative: Initiative,
                  to_addr: str) -> str:
    """A reminder of ours to the entry's contact (its Message-ID, for a bounce to cite)."""
    from bot.mail.outbox import compose, enqueue
    from bot.mail.templates import RenderedMail

    async with db.write() as s:
        msg = compose(settings, to_addr=to_addr, kind="reminder",
                      mail=RenderedMail("Er oplysningerne korrekte?", "Hej", None))
        await enqueue(s, msg, kind="reminder", contact_id=initiative.contact_id,
                      initiative_id=initiative.id)
    return str(msg["Message-ID"])


async def receive(db: Database, settings: Settings, raw: bytes) -> InboundMessage:
    res = await store_message(db, raw, source="cli")
    await process_pending(db, settings)
    async with db.read() as s:
        row = await s.get(InboundMessage, res.id)
        assert row is not None
        return row


async def submissions(db: Database) -> list[Submission]:
    async with db.read() as s:
        return list((await s.scalars(select(Submission).order_by(Submission.id))).all())


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


# ---------------------------------------------------------------------------------------
# pure helpers


def test_submission_kind() -> None:
    assert submission_kind({}) == "confirmation"
    assert submission_kind({}, problems=True) == "update"
    assert submission_kind({"contact_email": "a@b.dk"}) == "contact_change"
    assert submission_kind({"contact_name": "A", "status": "i_drift"}) == "update"


def test_bounce_transition() -> None:
    assert bounce_transition("ok", 0, True) == ("bouncing", 0)
    assert bounce_transition("ok", 0, False) == ("ok", 1)
    assert bounce_transition("ok", 1, False) == ("ok", 2)
    assert bounce_transition("ok", 2, False) == ("bouncing", 3)
    assert bounce_transition("opted_out", 0, True) == ("opted_out", 0)


def test_own_address(settings: Settings) -> None:
    assert is_own_address("landkort@example.org", settings)
    assert is_own_address("LANDKORT+abc@example.org", settings)
    assert not is_own_address("landkort@example.dk", settings)
    assert not is_own_address(None, settings)


# ---------------------------------------------------------------------------------------
# outcomes


@pytest.mark.asyncio
async def test_outlook_reply_becomes_update_with_only_changed_fields(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    settings = settings.replace(auth_serv_id="mx.example.org")  # our receiving server
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    row = await receive(db, settings, eml("outlook_update_da.eml", token=token))
    assert (row.state, row.kind, row.outcome) == ("done", "reply", "submission")
    [sub] = await submissions(db)
    assert sub.kind == "update"
    assert sub.initiative_id == ini.id and sub.base_version == ini.version
    # municipalities Aalborg, Hjørring were there already: only the new list and status
    assert sub.proposed == {"status": "under_udbredelse",
                            "municipalities": ["Aalborg", "Frederikshavn", "Hjørring"]}
    assert sub.token_matched and sub.flags == []
    assert sub.idempotency_key == f"inbound:{row.id}"
    assert sub.auth_results and "dkim=pass" in sub.auth_results
    assert sub.note and "gået i drift" in sub.note and sub.language == "da"
    [mail] = await outbox(db)
    assert mail.kind == "receipt" and mail.to_addr == "mette.jensen@example.dk"
    assert mail.idempotency_key == f"answer:{row.id}"
    sent = message_from_bytes(mail.raw, policy=default)
    assert str(sent["In-Reply-To"]).strip().startswith("<AM0PR07MB1234A1B2C3D4E5F6@")
    body = sent.get_body(("plain",))
    assert body is not None and f"{settings.base_url}/chat/u/" in body.get_content()


@pytest.mark.asyncio
async def test_reprocessing_never_makes_a_second_item_or_answer(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    row = await receive(db, settings, eml("outlook_update_da.eml", token=token))
    assert await replay(db, row.id)
    await process_pending(db, settings)
    assert len(await submissions(db)) == 1
    assert len(await outbox(db)) == 1
    # the same bytes delivered again are the same row
    again = await store_message(db, eml("outlook_update_da.eml", token=token), source="lmtp")
    assert again.id == row.id and not again.created


@pytest.mark.asyncio
async def test_ingen_aendringer_is_a_confirmation(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    await receive(db, settings, eml("outlook_confirm_da.eml", token=token))
    [sub] = await submissions(db)
    assert sub.kind == "confirmation" and sub.proposed == {} and sub.flags == []


@pytest.mark.asyncio
async def test_reply_from_another_address_is_flagged(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    await receive(db, settings, eml("other_sender_da.eml", token=token))
    [sub] = await submissions(db)
    assert sub.kind == "contact_change"
    assert "sender_differs" in sub.flags
    assert sub.sender_email == "lars.holm@rn.dk"
    assert sub.proposed["contact_email"] == "lars.holm@rn.dk"


@pytest.mark.asyncio
async def test_unknown_municipality_gets_a_problems_answer(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    await receive(db, settings, eml("unknown_municipality_da.eml", token=token))
    [sub] = await submissions(db)
    assert "problems" in sub.flags and sub.kind == "update"
    assert sub.problems and sub.problems[0]["field"] == "municipalities"
    [mail] = await outbox(db)
    assert mail.kind == "problems"
    text = mail.raw.decode("utf-8", "replace")
    assert "Gotham" in text and "Titel: Telemedicinsk hjemmemonitorering af KOL" in text


@pytest.mark.asyncio
async def test_english_reply_is_answered_in_english(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="john.smith@example.com")
    token = await token_for(db, ini)
    await receive(db, settings, eml("english_reply.eml", token=token))
    [sub] = await submissions(db)
    assert sub.language == "en" and sub.proposed == {"status": "afsluttet",
                                                     "end_date": "2025-12-31"}
    [mail] = await outbox(db)
    assert "We have received" in mail.subject


@pytest.mark.asyncio
async def test_hard_bounce_makes_contact_bouncing(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    ours = await mail_to(db, settings, ini, "mette.jensen@example.dk")
    row = await receive(db, settings, eml("bounce_dsn.eml", rcpt="mette.jensen@example.dk",
                                          status="5.1.1", original=ours))
    assert row.outcome == "bounce"
    async with db.read() as s:
        contact = await s.get(Contact, ini.contact_id)
        assert contact is not None and contact.email_status == "bouncing"
        events = (await s.scalars(select(BounceEvent))).all()
        assert [(e.address, e.permanent, e.inbound_message_id) for e in events] == [
            ("mette.jensen@example.dk", True, row.id)]
        entry = await s.get(Initiative, ini.id)
        assert entry is not None and entry.needs_new_contact
    assert await submissions(db) == [] and [m.kind for m in await outbox(db)] == ["reminder"]


@pytest.mark.asyncio
async def test_three_soft_bounces_make_contact_bouncing(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    ours = await mail_to(db, settings, ini, "mette.jensen@example.dk")
    states = []
    for i in range(3):
        raw = eml("bounce_dsn.eml", rcpt="mette.jensen@example.dk", status="4.2.2",
                  original=ours)
        raw = raw.replace(b"ABC1234", f"SOFT{i}".encode()).replace(
            b"550 5.1.1 User unknown", b"452 4.2.2 Mailbox full").replace(
            b"Action: failed", b"Action: delayed")
        await receive(db, settings, raw)
        async with db.read() as s:
            c = await s.get(Contact, ini.contact_id)
            assert c is not None
            states.append((c.email_status, c.soft_bounces))
    assert states == [("ok", 1), ("ok", 2), ("bouncing", 3)]


@pytest.mark.asyncio
async def test_afmeld_opts_out_and_entries_need_new_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    # An answer to our reminder (its token), from the contact's own address, is proof;
    # without a token only a confirmation link is mailed (tests/test_mail_attacks.py).
    afmeld = eml("afmeld_da.eml").replace(b"Subject: afmeld",
                                          f"Subject: afmeld [ref:{token}]".encode())
    row = await receive(db, settings, afmeld)
    assert (row.kind, row.outcome) == ("unsubscribe", "opt_out")
    async with db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.email_status == "opted_out" and c.opted_out_at
        entry = await s.get(Initiative, ini.id)
        assert entry is not None and entry.needs_new_contact
        actions = (await s.scalars(select(AuditEvent.action))).all()
        assert "contact.opted_out" in actions
    assert await submissions(db) == []
    [mail] = await outbox(db)  # one short confirmation; a second afmeld gets none
    assert mail.kind == "opt_out" and mail.to_addr == "mette.jensen@example.dk"
    again = await receive(db, settings, afmeld.replace(b"afmeld-1@", b"afmeld-2@"))
    assert again.outcome == "opt_out" and len(await outbox(db)) == 1


@pytest.mark.asyncio
async def test_auto_reply_is_recorded_and_never_answered(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    row = await receive(db, settings, eml("auto_reply_da.eml", token=token))
    assert row.outcome == "auto_reply"
    assert await submissions(db) == [] and await outbox(db) == []


@pytest.mark.asyncio
async def test_own_mail_is_ignored(db: Database, settings: Settings) -> None:
    raw = (b"From: Det telemedicinske landkort <landkort@example.org>\r\n"
           b"To: landkort@example.org\r\nSubject: loop\r\nMessage-ID: <x@example.org>\r\n\r\n"
           b"Titel: Noget\r\nStatus: I drift\r\n")
    row = await receive(db, settings, raw)
    assert row.outcome == "own_mail"
    assert await submissions(db) == [] and await outbox(db) == []


@pytest.mark.asyncio
async def test_new_submission_with_missing_fields_and_sender_as_contact(
        db: Database, settings: Settings) -> None:
    row = await receive(db, settings, eml("new_submission_da.eml"))
    [sub] = await submissions(db)
    assert sub.kind == "new" and sub.initiative_id is None
    assert sub.proposed["contact_email"] == "hanne.krogh@odense.dk"
    assert sub.proposed["contact_name"] == "Hanne Krogh"
    # everything mandatory is there → no missing_fields, a receipt
    assert "missing_fields" not in sub.flags
    [mail] = await outbox(db)
    assert mail.kind == "receipt" and row.detail and row.detail["answer"] == "receipt"


@pytest.mark.asyncio
async def test_new_submission_missing_mandatory_fields(db: Database, settings: Settings) -> None:
    raw = (b"From: Ole <ole@aarhus.dk>\r\nTo: landkort@example.org\r\n"
           b"Subject: Nyt initiativ\r\nMessage-ID: <n2@aarhus.dk>\r\n\r\n"
           b"Titel: Digital rehabilitering\r\nStatus: Projekt\r\n")
    await receive(db, settings, raw)
    [sub] = await submissions(db)
    assert {"missing_fields", "problems"} <= set(sub.flags)
    missing = {p["field"] for p in sub.problems}
    assert {"description", "participants", "regions", "organisation"} <= missing
    [mail] = await outbox(db)
    assert mail.kind == "problems"


@pytest.mark.asyncio
async def test_unknown_without_fields_is_left_for_moderators(
        db: Database, settings: Settings) -> None:
    raw = (b"From: Someone <someone@example.net>\r\nTo: landkort@example.org\r\n"
           b"Subject: Hej\r\nMessage-ID: <u1@example.net>\r\n\r\nKan I ringe mig op?\r\n")
    row = await receive(db, settings, raw)
    assert (row.state, row.outcome) == ("done", "unknown")
    assert await submissions(db) == [] and await outbox(db) == []


@pytest.mark.asyncio
async def test_fourth_automatic_answer_in_a_day_is_not_sent(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    base = eml("outlook_confirm_da.eml", token=token)
    rows = []
    for i in range(4):
        rows.append(await receive(db, settings, base.replace(
            b"<AM0PR07MB9999ABCDEF@", f"<msg{i}@".encode())))
    assert len(await submissions(db)) == 4
    assert len(await outbox(db)) == 3
    assert rows[3].detail and rows[3].detail["answer"] == "suppressed:daily_limit"
    async with db.read() as s:
        count = await s.scalar(select(AutoAnswerCount.count).where(
            AutoAnswerCount.address == "mette.jensen@example.dk"))
        assert count == 4


@pytest.mark.asyncio
async def test_rfc3834_headers_suppress_answers(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    raw = eml("outlook_confirm_da.eml", token=token).replace(
        b"MIME-Version", b"List-Id: <telemed.lists.example.dk>\r\nMIME-Version")
    row = await receive(db, settings, raw)
    assert len(await submissions(db)) == 1 and await outbox(db) == []
    assert row.detail and row.detail["answer"] == "suppressed:list"


@pytest.mark.parametrize(("header", "reason"), [
    ("Auto-Submitted: auto-replied", "auto_submitted"), ("Auto-Submitted: no", None),
    ("Precedence: bulk", "precedence"), ("Precedence: junk", "precedence"),
    ("Return-Path: <>", "null_return_path"), ("List-Id: <a.b>", "list"),
    ("X-Other: 1", None), ("Auto-Submitted:\r\n auto-generated; x=1", "auto_submitted"),
    ("pRECEDENCE:  List ", "precedence"), ("Return-Path:\r\n <>", "null_return_path"),
    ("Auto-Submitted: n\x00o", "auto_submitted"), ("Auto-Submitted: no\xa0", "auto_submitted"),
    ("Precedence: bulk\xa0", None)])
def test_answer_block_reason(header: str, reason: str | None) -> None:
    raw = f"{header}\r\nFrom: a@b.dk\r\n\r\nx".encode()  # (8-bit: as UTF-8 bytes)
    headers = parse_headers(raw)
    assert answer_block_reason(headers, kind="reply", from_addr="a@b.dk") == reason
    # what the parser keeps of them for the processor decides the same
    kept = parse_message(raw, own_domain="example.org", own_local_part="landkort")
    assert answer_block_reason(kept.answer_headers, kind="reply", from_addr="a@b.dk") == reason
    assert answer_block_reason(headers, kind="bounce", from_addr="a@b.dk") == "bounce"
    # A robot's address counts only when the headers give no reason (RFC 3834 first).
    assert answer_block_reason(headers, kind="reply", from_addr="mailer-daemon@b.dk") == (
        reason or "robot_address")


@pytest.mark.asyncio
async def test_needs_info_answer_returns_item_to_pending(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    sub = await make_submission(initiative=ini, kind="update",
                                proposed={"status": "afsluttet"}, state="needs_info",
                                sender_email="mette.jensen@example.dk")
    async with db.write() as s:
        token = await issue_token(s, purpose="needs_info", submission_id=sub.id,
                                  initiative_id=ini.id, contact_id=ini.contact_id)
    raw = (f"From: Mette Jensen <mette.jensen@example.dk>\r\n"
           f"To: landkort+{token}@example.org\r\nSubject: SV: Vi mangler lidt information "
           f"[ref:{token}]\r\nMessage-ID: <ni1@example.dk>\r\n\r\n"
           f"Slutdato: 2025-12-31\r\n\r\nMvh Mette\r\n").encode()
    row = await receive(db, settings, raw)
    assert row.outcome == "needs_info_answer"
    [got] = await submissions(db)
    assert got.id == sub.id and got.state == "pending"
    assert got.proposed == {"status": "afsluttet", "end_date": "2025-12-31"}
    async with db.read() as s:
        actions = (await s.scalars(select(AuditEvent.action).where(
            AuditEvent.submission_id == sub.id))).all()
    assert "submission.info_received" in actions


@pytest.mark.asyncio
async def test_lost_token_falls_back_to_in_reply_to(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    await token_for(db, ini, outbox_message_id="<landkort.0a1b2c3d4e5f@example.org>")
    raw = eml("outlook_update_da.eml", token="x").replace(b"[ref:x]", b"").replace(
        b"landkort+x@example.org", b"landkort@example.org")
    await receive(db, settings, raw)
    [sub] = await submissions(db)
    assert sub.initiative_id == ini.id and sub.kind == "update" and not sub.token_matched


@pytest.mark.asyncio
async def test_failing_message_is_quarantined_and_others_go_through(
        db: Database, settings: Settings) -> None:
    class Faulty(Processor):
        async def apply(self, session: AsyncSession, claimed: ClaimedMessage,
                        parsed: ParseResult) -> Any:
            if b"POISON" in claimed.raw:
                raise RuntimeError("boom")
            return await super().apply(session, claimed, parsed)

    bad = await store_message(db, b"From: a@b.dk\r\nSubject: POISON\r\n\r\nx\r\n", source="cli")
    good = await store_message(db, eml("new_submission_da.eml"), source="cli")
    worker = Faulty(settings, db, owner="t", retry_base_seconds=0.0)
    for _ in range(5):
        await worker.run_once()
    async with db.read() as s:
        b = await s.get(InboundMessage, bad.id)
        g = await s.get(InboundMessage, good.id)
        assert b is not None and g is not None
        assert (b.state, b.attempts) == ("quarantined", settings.processing_max_attempts)
        assert b.last_error and "boom" in b.last_error
        assert g.state == "done"
    # replay after the bug is fixed
    assert await replay(db, bad.id)
    await process_pending(db, settings)
    async with db.read() as s:
        b = await s.get(InboundMessage, bad.id)
        assert b is not None and b.state == "done"


@pytest.mark.asyncio
async def test_claim_counts_attempts_and_quarantines_crash_loops(
        db: Database, settings: Settings) -> None:
    from datetime import timedelta

    from bot.core.db import dbnow

    res = await store_message(db, b"From: a@b.dk\r\nSubject: s\r\n\r\nx\r\n", source="cli")
    now = dbnow()
    for i in range(3):  # a worker that dies each time: the lease simply expires
        got = await claim_batch(db, "w", lease_seconds=1, now=now + timedelta(seconds=10 * i))
        assert [c.id for c in got] == [res.id]
    assert await claim_batch(db, "w", now=now + timedelta(seconds=100)) == []
    async with db.read() as s:
        row = await s.get(InboundMessage, res.id)
        assert row is not None and row.state == "quarantined"
        n = await s.scalar(select(func.count()).select_from(InboundMessage))
        assert n == 1


@pytest.mark.asyncio
async def test_too_large_is_stored_header_only_and_quarantined(
        db: Database, settings: Settings) -> None:
    raw = b"From: big@example.dk\r\nSubject: big\r\n\r\n" + b"x" * 5000
    res = await store_message(db, raw, source="lmtp", max_bytes=1000)
    async with db.read() as s:
        row = await s.get(InboundMessage, res.id)
        assert row is not None
        assert (row.state, row.outcome, row.size) == ("quarantined", "too_large", len(raw))
        assert row.raw.endswith(b"\r\n\r\n") and b"xxx" not in row.raw
    assert not await replay(db, res.id)


@pytest.mark.asyncio
async def test_nul_bytes_do_not_break_storage(db: Database, settings: Settings) -> None:
    raw = (b"From: Ole \x00Hansen <ole@aarhus.dk>\r\nTo: landkort@example.org\r\n"
           b"Subject: Nyt \x00initiativ\r\nMessage-ID: <nul1@aarhus.dk>\r\n\r\n"
           b"Titel: Digital\x00 rehabilitering\r\nStatus: Projekt\r\nHej\x00\r\n")
    row = await receive(db, settings, raw)
    assert row.state == "done" and row.subject and "\x00" not in row.subject


@pytest.mark.asyncio
async def test_afmeld_by_mail_cancels_pending_reminders(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    """Opting out by mail is the same opt-out as the one-click link: unsent reminders to
    the contact are cancelled, not sent after the person said stop."""
    from bot.mail.outbox import compose, enqueue
    from bot.mail.templates import RenderedMail

    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    async with db.write() as s:
        msg = compose(settings, to_addr="mette.jensen@example.dk", kind="reminder",
                      mail=RenderedMail("Er oplysningerne korrekte?", "Hej", None))
        await enqueue(s, msg, kind="reminder", contact_id=ini.contact_id,
                      initiative_id=ini.id)
    token = await token_for(db, ini)
    await receive(db, settings, eml("afmeld_da.eml").replace(
        b"Subject: afmeld", f"Subject: afmeld [ref:{token}]".encode()))
    states = {m.kind: m.state for m in await outbox(db)}
    assert states == {"reminder": "cancelled", "opt_out": "pending"}
