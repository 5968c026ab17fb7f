"""What a stranger with a mail account can do to us, through the real intake (LMTP over a
socket, the processor) and the real outbox (the sender worker to an aiosmtpd relay).

Each test here failed before its fix:
- header injection: an encoded CR/LF in a field line or a display name put a ``Bcc:``,
  a new ``Content-Type`` and HTML into the receipt (CVE-2024-6923 in the ``email``
  package of this machine's Python 3.11.7, and values passed into headers uncleaned);
- forged bounces: a ``multipart/report`` from anyone made any contact ``bouncing``;
- spoofed unsubscribe: ``Subject: afmeld`` from a forged From opted that person out;
- one bad contact name or address stopped every reminder of the campaign.
The fuzz target at the end sends hostile header values through intake → outbox and
checks every mail that leaves parses back with exactly the headers we meant to write.
"""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.campaigns.reminders import run_tick
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail import outbox
from bot.mail.models import CampaignStep, OutboxMessage, ReplyToken
from bot.mail.outbox import compose, enqueue
from bot.mail.sender import OutboxSender
from bot.mail.templates import RenderedMail
from bot.registry.models import Contact, Initiative
from intake.inbox.models import InboundMessage
from intake.mail.lmtp import LmtpListener
from intake.mail.processor import process_pending
from moderation.models import Submission
from tests.conftest import MakeInitiative, MakeSubmission
from tests.smtp_sink import SmtpSink
from tests.test_intake_lmtp import deliver

_seq = itertools.count(1)

# The headers every answer of ours carries (bot.mail.outbox.compose), and nothing else.
ANSWER_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted",
                  "x-auto-response-suppress", "x-landkort-kind", "reply-to",
                  "x-landkort-token", "content-type", "content-transfer-encoding",
                  "mime-version"}
THREAD_HEADERS = {"in-reply-to", "references"}


@dataclass
class MailWorld:
    """LMTP in, processor, sender out to an aiosmtpd relay: the whole mail edge."""

    db: Database
    settings: Settings
    lmtp: LmtpListener
    sink: SmtpSink

    async def receive(self, raw: bytes, mail_from: str = "someone@example.net") -> None:
        answers = await asyncio.to_thread(deliver, self.lmtp.port, raw,
                                          ["landkort@example.org"], mail_from)
        assert all(code == 250 for code, _ in answers.values()), answers
        await process_pending(self.db, self.settings)

    async def send_all(self) -> list[EmailMessage]:
        """Deliver the outbox; every message the relay got, parsed back (strictly)."""
        sender = OutboxSender(self.settings, self.db, retry_base_seconds=0.0)
        try:
            await sender.drain()
        finally:
            await sender.stop()
        out = []
        for got in self.sink.messages:
            msg = message_from_bytes(got.data, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


@pytest_asyncio.fixture
async def world(db: Database, settings: Settings) -> AsyncIterator[MailWorld]:
    async with SmtpSink() as sink:
        s = settings.replace(smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=sink.port,
                             smtp_security="plain", smtp_rate_per_minute=60_000)
        lmtp = LmtpListener(s, db, host="127.0.0.1", port=0)
        await lmtp.start()
        try:
            yield MailWorld(db, s, lmtp, sink)
        finally:
            await lmtp.stop()


def submission_mail(*, from_header: str, title: str, message_id: str | None = None,
                    subject: str = "Nyt initiativ") -> bytes:
    n = next(_seq)
    mid = message_id if message_id is not None else f"<att-{n}@example.net>"
    return (f"From: {from_header}\r\nTo: landkort@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: {title}\r\nBeskrivelse: Video i hjemmeplejen nr. {n}.\r\n"
            f"Status: Projekt\r\nDeltagere: Kommune\r\nRegioner: Region Syddanmark\r\n"
            f"Kommuner: Odense\r\nOrganisation: Odense Kommune\r\n").encode()


def assert_only_our_headers(msg: EmailMessage, to: str) -> None:
    names = [k.lower() for k in msg.keys()]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    assert set(names) - THREAD_HEADERS == ANSWER_HEADERS, sorted(names)
    assert [a.addr_spec for a in msg["To"].addresses] == [to]
    for name in names:
        value = str(msg[name])
        assert "\r" not in value and "\n" not in value, (name, value)
    assert not msg.defects, msg.defects
    assert msg.get_content_type() in ("text/plain", "multipart/alternative")
    for part in msg.walk():
        assert not part.defects, part.defects


async def stale_entry(db: Database, make_initiative: MakeInitiative) -> Initiative:
    """An entry last confirmed long ago: the next campaign tick sends it a reminder."""
    ini = await make_initiative(db)
    old = dbnow() - timedelta(days=800)
    async with db.write() as s:
        row = await s.get(Initiative, ini.id)
        assert row is not None
        row.created_at = row.last_confirmed_at = old
    return ini


# --- 1. header injection ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_encoded_crlf_in_a_field_line_injects_nothing(world: MailWorld) -> None:
    title = ("X =?utf-8?q?=0D=0ABcc:_b@evil.example=0D=0AContent-Type:_text/html"
             "=0D=0A=0D=0A<h1>owned</h1>?=")
    await world.receive(submission_mail(from_header="Victim <victim@example.dk>",
                                        title=title))
    (msg,) = await world.send_all()
    (got,) = world.sink.messages
    assert got.rcpt_tos == ["victim@example.dk"]  # no envelope Bcc either
    assert_only_our_headers(msg, "victim@example.dk")
    # The receipt is one text/plain part: no HTML part smuggled in, the title is text.
    assert msg.get_content_type() == "text/plain"
    assert [p.get_content_type() for p in msg.walk()] == ["text/plain"]
    assert "Bcc: b@evil.example" in str(msg["Subject"])  # shown as text, harmless


@pytest.mark.asyncio
async def test_encoded_crlf_in_the_display_name_injects_nothing(world: MailWorld) -> None:
    name = "=?utf-8?q?Anna=0D=0ABcc:_b@evil.example=0D=0A?="
    await world.receive(submission_mail(from_header=f"{name} <anna@example.dk>",
                                        title="Hjemmemonitorering"))
    (msg,) = await world.send_all()
    assert world.sink.messages[0].rcpt_tos == ["anna@example.dk"]
    assert_only_our_headers(msg, "anna@example.dk")
    assert msg["To"].addresses[0].display_name.startswith("Anna")


@pytest.mark.asyncio
async def test_a_hostile_message_id_is_not_echoed_into_in_reply_to(world: MailWorld) -> None:
    await world.receive(submission_mail(from_header="anna@example.dk", title="Video",
                                        message_id="<a@b>\r\n X-Evil: 1"))
    (msg,) = await world.send_all()
    assert_only_our_headers(msg, "anna@example.dk")


# --- the fuzz target -------------------------------------------------------------------

HOSTILE = ["\r", "\n", "\r\n", "=?utf-8?q?", "=?utf-8?b?", "?=", "=0D=0A", "=0A", "DQo=",
           "Bcc: x@evil.example", "Content-Type: text/html", ":", ";", ",", "<", ">", "\"",
           "\\", "\x00", "\x1b", "\u2028", "\u202e", "\t", " ", "æøå", "a", "@", "=", "_"]


def _encoded_word(inner: str, b64: bool) -> str:
    """An RFC 2047 encoded-word carrying ``inner`` (CR/LF and all)."""
    import base64
    import quopri

    if b64:
        return f"=?utf-8?b?{base64.b64encode(inner.encode()).decode()}?="
    q = quopri.encodestring(inner.encode(), header=True).decode()
    return f"=?utf-8?q?{q.replace(chr(10), '=0A').replace(chr(13), '=0D')}?="


def _hostile_cases(n: int) -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []
    inner = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=4), max_size=8).map("".join)
    word = st.builds(_encoded_word, inner, st.booleans())
    piece = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=4) | word,
                     max_size=12).map("".join)

    @hyp_settings(max_examples=n, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
    @given(piece, piece, piece)
    def collect(name: str, title: str, subject: str) -> None:
        cases.append((name, title, subject))

    collect()
    return cases


def _header_safe(text: str) -> str:
    # What a raw mail can carry in a header line at all (CR/LF would end the line).
    return text.replace("\r", "").replace("\n", "")


@pytest.mark.asyncio
async def test_fuzz_hostile_header_values_through_intake_and_outbox(
        sqlite_db: Database, settings: Settings) -> None:
    cases = _hostile_cases(60)
    async with SmtpSink() as sink:
        s = settings.replace(smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=sink.port,
                             smtp_security="plain", smtp_rate_per_minute=60_000,
                             auto_answers_per_day=1000)
        from intake.inbox.store import store_message

        for i, (name, title, subject) in enumerate(cases):
            raw = submission_mail(from_header=f"{_header_safe(name)} <p{i}@example.dk>",
                                  title=_header_safe(title) or "T",
                                  subject=_header_safe(subject) or "S")
            await store_message(sqlite_db, raw, source="lmtp")
        await process_pending(sqlite_db, s)
        sender = OutboxSender(s, sqlite_db, retry_base_seconds=0.0)
        try:
            await sender.drain()
        finally:
            await sender.stop()
        async with sqlite_db.read() as session:
            queued = (await session.scalars(select(OutboxMessage))).all()
        assert queued, "nothing was answered: the fuzz checked nothing"
        assert all(r.state == "sent" for r in queued), [
            (r.state, r.last_error) for r in queued if r.state != "sent"]
        assert len(sink.messages) == len(queued)
        for got in sink.messages:
            msg = message_from_bytes(got.data, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            assert len(got.rcpt_tos) == 1
            assert_only_our_headers(msg, got.rcpt_tos[0])


# --- 3. forged bounces -------------------------------------------------------------------


def dsn(recipient: str, *, cites: str | None = None, sender: str = "mailer-daemon@mx.example.net"
        ) -> bytes:
    n = next(_seq)
    original = (f"Message-ID: {cites}\r\nFrom: landkort@example.org\r\nTo: {recipient}\r\n"
                f"Subject: Påmindelse\r\n" if cites else
                f"From: landkort@example.org\r\nTo: {recipient}\r\nSubject: Påmindelse\r\n")
    return (f"From: {sender}\r\nTo: landkort@example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx>\r\n"
            f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
            f"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
            f"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
            f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}"
            f"--B--\r\n").encode()


async def contact_state(db: Database, contact_id: int) -> tuple[str, bool]:
    async with db.read() as s:
        c = await s.get(Contact, contact_id)
        ini = await s.scalar(select(Initiative).where(Initiative.contact_id == contact_id))
        assert c is not None and ini is not None
        return c.email_status, ini.needs_new_contact


@pytest.mark.asyncio
async def test_a_forged_bounce_changes_nobody(world: MailWorld,
                                              make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(world.db)
    async with world.db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.email
        victim = c.email
    await world.receive(dsn(victim), mail_from="")
    assert await contact_state(world.db, c.id) == ("ok", False)
    async with world.db.read() as s:
        row = (await s.scalars(select(InboundMessage))).one()
    assert (row.kind, row.outcome) == ("bounce", "unknown")  # shown to moderators
    # Citing a Message-ID we never sent does not help either.
    never_sent = "<landkort.0123456789abcdef0123456789abcdef@example.org>"
    await world.receive(dsn(victim, cites=never_sent), mail_from="")
    assert await contact_state(world.db, c.id) == ("ok", False)


@pytest.mark.asyncio
async def test_a_bounce_of_mail_we_sent_counts_for_its_recipient_only(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(world.db)
    other = await make_initiative(world.db)
    async with world.db.write() as s:
        c = await s.get(Contact, ini.contact_id)
        o = await s.get(Contact, other.contact_id)
        assert c is not None and c.email and o is not None and o.email
        msg = compose(world.settings, to_addr=c.email, kind="reminder",
                      mail=RenderedMail(subject="Påmindelse", text="Hej\n", html=None))
        await enqueue(s, msg, kind="reminder", contact_id=c.id, initiative_id=ini.id)
        ours, victim, other_email = str(msg["Message-ID"]), c.email, o.email
    await world.send_all()
    # A report citing that mail but naming someone else touches only our recipient.
    await world.receive(dsn(other_email, cites=ours), mail_from="")
    assert await contact_state(world.db, other.contact_id) == ("ok", False)
    assert await contact_state(world.db, ini.contact_id) == ("bouncing", True)
    assert victim


# --- 4. spoofed unsubscribe -------------------------------------------------------------


@pytest.mark.asyncio
async def test_afmeld_without_a_token_only_mails_a_confirmation_link(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(world.db)
    async with world.db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.email
        email = c.email
    raw = (f"From: {email}\r\nTo: landkort@example.org\r\nSubject: afmeld\r\n"
           f"Message-ID: <u-{next(_seq)}@example.net>\r\n\r\nafmeld\r\n").encode()
    await world.receive(raw)
    assert (await contact_state(world.db, c.id))[0] == "ok"
    (msg,) = await world.send_all()
    assert msg["To"].addresses[0].addr_spec == email
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    link = next(w for w in text.split() if "/unsubscribe/" in w)
    token = link.rsplit("/", 1)[1]
    # The link is what opts out (the web route's own tests cover GET vs POST).
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import create_app

    app = create_app(world.settings, world.db, start_workers=False)
    async with TestClient(TestServer(app)) as client:
        page = await client.get(f"/unsubscribe/{token}")
        assert page.status == 200
        assert (await contact_state(world.db, c.id))[0] == "ok"  # GET changes nothing
        done = await client.post(f"/unsubscribe/{token}",
                                 data={"List-Unsubscribe": "One-Click"})
        assert done.status == 200
    assert (await contact_state(world.db, c.id))[0] == "opted_out"


# --- 5. one bad contact stops no campaign -----------------------------------------------


@pytest.mark.asyncio
async def test_one_bad_name_or_address_fails_alone(world: MailWorld,
                                                   make_initiative: MakeInitiative) -> None:
    await stale_entry(world.db, make_initiative)
    bad_name = await stale_entry(world.db, make_initiative)
    bad_addr = await stale_entry(world.db, make_initiative)
    async with world.db.write() as s:
        c = await s.get(Contact, bad_name.contact_id)
        assert c is not None
        c.name = "Anna =?utf-8?q?=0D=0ABcc:_b@evil.example?=\r\nBcc: c@evil.example"
        c2 = await s.get(Contact, bad_addr.contact_id)
        assert c2 is not None
        c2.email = "anna@example.dk\r\nRCPT TO:<x@evil.example>"
    result = await run_tick(world.db, world.settings, dbnow(), ignore_window=True)
    assert result.sent == 2 and result.skipped == 1, result
    async with world.db.read() as s:
        step = await s.scalar(select(CampaignStep).where(
            CampaignStep.initiative_id == bad_addr.id))
        flagged = await s.get(Initiative, bad_addr.id)
    assert step is not None and step.state == "skipped"
    assert step.note and "cannot compose" in step.note
    assert flagged is not None and flagged.needs_new_contact
    sent = await world.send_all()
    assert len(sent) == 2
    for msg, got in zip(sent, world.sink.messages, strict=True):
        assert len(got.rcpt_tos) == 1
        names = {k.lower() for k in msg.keys()}
        assert "bcc" not in names


# --- 8. trust --------------------------------------------------------------------------


def reply_mail(sender: str, token: str, *, auth: list[str] | None = None) -> bytes:
    n = next(_seq)
    head = "".join(f"Authentication-Results: {a}\r\n" for a in auth or [])
    return (f"{head}From: {sender}\r\nTo: landkort+{token}@example.org\r\n"
            f"Subject: SV: Påmindelse [ref:{token}]\r\nMessage-ID: <r-{n}@example.net>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Status: Afsluttet\r\n").encode()


async def reminder_token(db: Database, ini: Initiative) -> str:
    from bot.mail.tokens import issue_token

    async with db.write() as s:
        return await issue_token(s, purpose="reminder", initiative_id=ini.id,
                                 contact_id=ini.contact_id)


@pytest.mark.asyncio
async def test_authentication_results_count_only_from_our_server_and_on_top(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    from moderation.models import Submission

    ours = "mx.landkort.example"
    world.settings = world.settings.replace(auth_serv_id=ours)
    ini = await make_initiative(world.db)
    contact = await contact_email(world.db, ini)
    forged = "mx.landkort.example.evil.example; spf=pass; dkim=pass; dmarc=pass"
    cases = [([forged], None),                                   # another authserv-id
             ([f"{ours}; spf=fail", f"{ours}; spf=pass"], f"{ours}; spf=fail"),  # topmost
             ([f"{ours}; dkim=pass"], f"{ours}; dkim=pass")]
    for auth, expected in cases:
        await world.receive(reply_mail(contact, await reminder_token(world.db, ini),
                                       auth=auth))
        async with world.db.read() as s:
            sub = (await s.scalars(select(Submission).order_by(Submission.id.desc()))).first()
        assert sub is not None and sub.auth_results == expected, (auth, sub)
    # Without the setting no claim is believed at all.
    world.settings = world.settings.replace(auth_serv_id="")
    await world.receive(reply_mail(contact, await reminder_token(world.db, ini),
                                   auth=[f"{ours}; dkim=pass"]))
    async with world.db.read() as s:
        sub = (await s.scalars(select(Submission).order_by(Submission.id.desc()))).first()
    assert sub is not None and sub.auth_results is None


async def contact_email(db: Database, ini: Initiative) -> str:
    async with db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.email
        return c.email


@pytest.mark.asyncio
async def test_a_token_used_from_another_address_is_trusted_as_nobody(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    from bot.mail.models import ReplyToken
    from intake.chat.store import ChatStore
    from moderation.models import Submission

    ini = await make_initiative(world.db)
    await world.receive(reply_mail("stranger@example.net",
                                   await reminder_token(world.db, ini)))
    async with world.db.read() as s:
        sub = (await s.scalars(select(Submission))).one()
        receipt = (await s.scalars(select(ReplyToken).where(
            ReplyToken.purpose.in_(("receipt", "problems"))))).one()
        assert not await ChatStore._token_stands_for_contact(s, receipt.token_hash)
    assert sub.initiative_id == ini.id and not sub.token_matched
    assert "sender_differs" in sub.flags
    # The receipt's token expires, and names no contact: its chat link proves nothing.
    assert receipt.expires_at is not None and receipt.contact_id is None
    # From the contact's own address the same reply is the contact's.
    await world.receive(reply_mail(await contact_email(world.db, ini),
                                   await reminder_token(world.db, ini)))
    async with world.db.read() as s:
        subs = (await s.scalars(select(Submission).order_by(Submission.id))).all()
        receipts = (await s.scalars(select(ReplyToken).where(
            ReplyToken.purpose.in_(("receipt", "problems"))).order_by(
            ReplyToken.created_at))).all()
        assert await ChatStore._token_stands_for_contact(s, receipts[-1].token_hash)
    assert [(x.token_matched, x.flags) for x in subs] == [
        (False, ["sender_differs"]), (True, [])]
    assert all(r.expires_at is not None for r in receipts)


# --- 9. no live tokens at rest ---------------------------------------------------------


@pytest.mark.asyncio
async def test_sent_mail_is_kept_without_its_live_tokens(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    from bot.mail.tokens import lookup_token

    await stale_entry(world.db, make_initiative)
    assert (await run_tick(world.db, world.settings, dbnow(), ignore_window=True)).sent == 1
    (msg,) = await world.send_all()
    reply_token = str(msg["X-Landkort-Token"])
    unsub_token = str(msg["List-Unsubscribe"]).rsplit("/unsubscribe/", 1)[1].rstrip(">")
    async with world.db.read() as s:
        (stored,) = (await s.scalars(select(OutboxMessage))).all()
        for token in (reply_token, unsub_token):
            assert await lookup_token(s, token) is not None  # the mail's links still work
    assert stored.state == "sent"
    kept = message_from_bytes(stored.raw, policy=default_policy)
    text = stored.raw.decode("ascii")
    unfolded = text.replace("=\r\n", "")
    for token in (reply_token, unsub_token):
        assert token not in unfolded, "a live token stayed in the stored mail"
    # What is needed to read a reply against it is still there: the form lines.
    body = kept.get_body(("plain",))
    assert body is not None and "Status:" in body.get_content()
    assert str(kept["Message-ID"]) == str(msg["Message-ID"])


@pytest.mark.asyncio
async def test_a_moderator_cannot_set_a_name_or_address_that_breaks_mail(
        db: Database, make_initiative: MakeInitiative) -> None:
    from moderation import decisions

    ini = await make_initiative(db)
    with pytest.raises(decisions.InvalidDecision):
        await decisions.set_contact(db, ini.id, actor="anna", contact_name="Anna",
                                    contact_email="anna@example.dk\r\nRCPT TO:<x@evil.example>")
    await decisions.set_contact(db, ini.id, actor="anna",
                                contact_name="Anna\r\nBcc: x@evil.example\x00",
                                contact_email="Anna@Example.dk")
    async with db.read() as s:
        row = await s.get(Initiative, ini.id)
        assert row is not None and row.contact is not None
        assert row.contact.name == "Anna Bcc: x@evil.example"
        assert row.contact.email == "anna@example.dk"


_OURS = "<landkort.0123456789abcdef0123456789abcdef@example.org>"


def _report(last_part: str) -> bytes:
    return ("From: MAILER-DAEMON@mx.example.net\r\nTo: landkort@example.org\r\n"
            "Subject: Undeliverable\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
            "report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain"
            "\r\n\r\nfailed\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; x@example.dk\r\n"
            f"Action: failed\r\nStatus: 5.1.1\r\n--B\r\n{last_part}\r\n--B--\r\n").encode()


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("last_part", [
    # the returned headers base64-encoded
    "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + _b64(f"From: landkort@example.org\r\nMessage-ID: {_OURS}\r\n"),
    # the whole original as message/rfc822
    f"Content-Type: message/rfc822\r\n\r\nFrom: landkort@example.org\r\nMessage-ID: {_OURS}"
    "\r\n\r\nbody",
    # quoted-printable with a soft line break inside the Message-ID
    "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Message-ID: <landkort.0123456789abcdef01234=\r\n56789abcdef@example.org>",
], ids=["base64-headers", "message-rfc822", "qp-soft-break"])
def test_a_bounce_finds_our_message_id_in_encoded_parts(last_part: str) -> None:
    from intake.parse.message import parse_message

    got = parse_message(_report(last_part))
    assert got.kind == "bounce" and got.cited_ids == [_OURS]


@pytest.mark.parametrize("raw,value", [
    ("jens@x.dk <mailto:jens@x.dk>", "jens@x.dk"),  # how Outlook writes a linked address
    ("jens@x.dk<mailto:jens@x.dk>", "jens@x.dk"),
    ("Jens Hansen <Jens@X.dk>", "jens@x.dk"),
    ("a@x.dk\r\nRCPT TO:<x@evil.example>", None),  # two things: neither is taken
    ("a.@x.dk", None), ("x" * 65 + "@x.dk", None), ('"a b"@example.com', None),
])
def test_the_one_address_rule(raw: str, value: str | None) -> None:
    from bot.registry.fields import parse_email

    got = parse_email(raw)
    assert got.value == value and (got.problem is None) == (value is not None)


@pytest.mark.asyncio
async def test_rejecting_an_item_from_an_unwritable_sender_works(
        db: Database, settings: Settings, make_submission: MakeSubmission) -> None:
    from moderation import decisions

    for sender in ('"a b"@example.com', "user@localhost", "jørgen@x.dk"):
        sub = await make_submission(kind="new", proposed={"title": "X"}, sender_email=sender)
        await decisions.reject(db, sub.id, actor="anna", reason="Ikke telemedicin",
                               settings=settings)
        async with db.read() as s:
            got = await s.get(Submission, sub.id)
            assert got is not None and got.state == "rejected"
            assert (await s.scalars(select(OutboxMessage).where(
                OutboxMessage.submission_id == sub.id))).first() is None


@pytest.mark.asyncio
async def test_a_token_without_a_from_is_trusted_as_nobody(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(world.db)
    raw = reply_mail("x@example.net", await reminder_token(world.db, ini))
    raw = raw.replace(b"From: x@example.net\r\n", b"")
    await world.receive(raw)
    async with world.db.read() as s:
        sub = (await s.scalars(select(Submission))).one()
    assert not sub.token_matched and "sender_differs" in sub.flags


@pytest.mark.asyncio
async def test_a_reply_that_lost_its_token_is_never_read_as_an_opt_out(
        world: MailWorld, make_initiative: MakeInitiative) -> None:
    ini = await stale_entry(world.db, make_initiative)
    await run_tick(world.db, world.settings, dbnow(), ignore_window=True)
    (reminder,) = await world.send_all()
    contact = await contact_email(world.db, ini)
    raw = (f"From: {contact}\r\nTo: landkort@example.org\r\nSubject: SV: Påmindelse\r\n"
           f"Message-ID: <lost-{next(_seq)}@example.dk>\r\n"
           f"In-Reply-To: {reminder['Message-ID']}\r\n\r\nIngen ændringer.\r\n").encode()
    await world.receive(raw)
    async with world.db.read() as s:
        sub = (await s.scalars(select(Submission))).one()
        c = await s.get(Contact, ini.contact_id)
    assert sub.kind == "confirmation" and c is not None and c.email_status == "ok"


@pytest.mark.asyncio
async def test_tokens_from_before_every_token_expired_get_an_expiry(tmp_path: Path) -> None:
    """Migration 0007: old tokens (no expiry) get one; an old receipt that went to someone
    other than the contact no longer stands for the contact."""
    from sqlalchemy import text

    from bot.core.migrate import upgrade

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await upgrade(db, "0006")
    async with db.write() as s:
        await s.execute(text(
            "INSERT INTO contacts (id, email, language, email_status, soft_bounces, "
            "created_at, updated_at) VALUES (1, 'c@example.dk', 'da', 'ok', 0, "
            "'2025-01-01', '2025-01-01')"))
        for mid, to in (("<a@x>", "c@example.dk"), ("<b@x>", "stranger@example.net")):
            await s.execute(text(
                "INSERT INTO outbox (message_id, kind, to_addr, from_addr, subject, raw, "
                "state, attempts, next_attempt_at, created_at) VALUES (:m, 'receipt', :t, "
                "'l@example.org', 's', x'00', 'sent', 1, '2025-01-01', '2025-01-01')"),
                {"m": mid, "t": to})
        for h, purpose, mid in (("h1", "receipt", "<a@x>"), ("h2", "receipt", "<b@x>"),
                                ("h3", "unsubscribe", None)):
            await s.execute(text(
                "INSERT INTO reply_tokens (token_hash, purpose, contact_id, "
                "outbox_message_id, created_at) VALUES (:h, :p, 1, :m, '2025-01-01')"),
                {"h": h, "p": purpose, "m": mid})
    await upgrade(db)
    async with db.read() as s:
        rows = {r.token_hash: r for r in (await s.scalars(select(ReplyToken))).all()}
    await db.dispose()
    assert all(r.expires_at is not None for r in rows.values())
    assert (rows["h3"].expires_at - rows["h3"].created_at).days == 400
    assert rows["h1"].contact_id == 1 and rows["h2"].contact_id is None


@pytest.mark.asyncio
async def test_a_cancelled_reminder_is_kept_without_its_live_tokens(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    from bot.mail.contacts import opt_out_contact

    ini = await stale_entry(db, make_initiative)
    await run_tick(db, settings, dbnow(), ignore_window=True)
    async with db.read() as s:
        (pending,) = (await s.scalars(select(OutboxMessage))).all()
    token = message_from_bytes(pending.raw, policy=default_policy)["X-Landkort-Token"]
    assert token and str(token) in pending.raw.decode()
    async with db.write() as s:
        assert ini.contact_id is not None
        await opt_out_contact(s, ini.contact_id)
    assert await outbox.redact_finished(db) == 1  # the sender's next idle pass
    async with db.read() as s:
        (cancelled,) = (await s.scalars(select(OutboxMessage))).all()
    assert cancelled.state == "cancelled"
    assert str(token) not in cancelled.raw.decode().replace("=\r\n", "")


@pytest.mark.asyncio
async def test_the_one_bounce_rule(db: Database, make_initiative: MakeInitiative) -> None:
    """Mail bounces and relay refusals share bot.mail.status.apply_bounce: the third soft
    bounce or one hard bounce makes the address bouncing, an opted-out contact stays
    opted out, and only unmerged entries are flagged for a new contact."""
    from bot.mail.status import apply_bounce

    ini = await make_initiative(db, contact_email="delt@example.dk")
    merged = await make_initiative(db, contact_email="delt@example.dk", title="Kopi")
    async with db.write() as s:
        m = await s.get(Initiative, merged.id)
        assert m is not None
        m.merged_into_id = ini.id
    async with db.write() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None
        became = [await apply_bounce(s, c, permanent=False) for _ in range(3)]
        assert became == [False, False, True] and c.email_status == "bouncing"
    async with db.read() as s:
        flags = {i.id: i.needs_new_contact for i in (await s.scalars(select(Initiative)))}
    assert flags == {ini.id: True, merged.id: False}
    async with db.write() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None
        c.email_status = "opted_out"
        assert not await apply_bounce(s, c, permanent=True)
        assert c.email_status == "opted_out"


@pytest.mark.parametrize("header", ["; spf=pass", "", "   ;", "mx.evil.example; dkim=pass"])
def test_authentication_results_naming_no_server_or_another_are_dropped(
        settings: Settings, header: str) -> None:
    from intake.mail.outcomes import trusted_auth_results

    s = settings.replace(auth_serv_id="mx.landkort.example")
    assert trusted_auth_results(header, s) is None  # never an exception on hostile text
    assert trusted_auth_results("MX.landkort.example; spf=pass", s) == \
        "MX.landkort.example; spf=pass"
