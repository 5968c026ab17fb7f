"""Bad input through the real intake path (store → processor), SQLite and PostgreSQL.

Each hostile mail is stored, then answered, left for moderators or quarantined *with a
reason* — the worker never crashes on it (it is processed, not retried as an error) and a
good mail stored right after it still becomes a queue item. Plus the mail-loop case: a
naive auto-responder on the other side gets at most ``auto_answers_per_day`` answers,
and one that marks itself (RFC 3834 ``Auto-Submitted``) gets none.

(tests/test_intake_processor.py covers the ordinary outcomes, the daily limit for a
person, retry/quarantine of failing handlers and the plain too-large case; this file is
about hostile bytes.)
"""
from __future__ import annotations

import io
import itertools
import zipfile
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from intake.inbox.models import InboundMessage
from intake.inbox.store import store_message
from intake.mail.processor import Processor, process_pending
from intake.parse.message import parse_message
from moderation.models import Submission
from moderation.web.item_view import load_item

_seq = itertools.count(1)


def good_mail() -> bytes:
    """A valid new submission, unique per call (no content-hash dedupe)."""
    n = next(_seq)
    return (f"From: Hanne Krogh <hanne{n}@odense.dk>\r\nTo: landkort@example.org\r\n"
            f"Subject: Nyt initiativ\r\nMessage-ID: <good-{n}@odense.dk>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: Videokonsultationer nr. {n}\r\nBeskrivelse: Video i hjemmeplejen.\r\n"
            f"Status: Projekt\r\nDeltagere: Kommune\r\nRegioner: Region Syddanmark\r\n"
            f"Kommuner: Odense\r\nOrganisation: Odense Kommune\r\n").encode()


async def row(db: Database, inbound_id: int) -> InboundMessage:
    async with db.read() as s:
        r = await s.get(InboundMessage, inbound_id)
        assert r is not None
        return r


async def bad_then_good(db: Database, settings: Settings, bad: bytes, *,
                        max_bytes: int | None = None) -> InboundMessage:
    """Store ``bad`` then a good mail, run one processor; the good one must become a queue
    item and the worker must not have failed on the bad one. Returns the bad row."""
    bad_res = await store_message(db, bad, source="lmtp",
                                  max_bytes=max_bytes or settings.max_message_bytes)
    good_res = await store_message(db, good_mail(), source="lmtp")
    worker = Processor(settings, db, owner="bad-input", retry_base_seconds=0.0)
    failures: list[int] = []
    original = worker._release

    async def spy(claimed: object, error: str, *, retry: float) -> None:
        failures.append(getattr(claimed, "id", -1))
        await original(claimed, error, retry=retry)  # type: ignore[arg-type]

    worker._release = spy  # type: ignore[method-assign]
    while await worker.run_once():
        pass
    assert failures == [], "the worker failed on a message (ours, not the sender's fault)"
    good = await row(db, good_res.id)
    assert (good.state, good.outcome) == ("done", "submission")
    async with db.read() as s:
        sub = await s.scalar(select(Submission).where(
            Submission.inbound_message_id == good_res.id))
    assert sub is not None and sub.state == "pending" and sub.kind == "new"
    got = await row(db, bad_res.id)
    assert got.state in ("done", "quarantined"), got.state
    if got.state == "quarantined":
        assert got.last_error, "quarantined without a reason"
    else:
        assert got.outcome and got.last_error is None
    return got


def header(extra: str = "", ctype: str = "text/plain; charset=utf-8") -> str:
    n = next(_seq)
    return (f"From: Bad Sender <bad{n}@example.net>\r\nTo: landkort@example.org\r\n"
            f"Subject: hostile {n}\r\nMessage-ID: <bad-{n}@example.net>\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\n\r\n")


# ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_oversized_mail_is_quarantined_unparsed(db: Database, settings: Settings) -> None:
    small = settings.replace(max_message_bytes=50_000)
    raw = header().encode() + b"Titel: Stor mail\r\n" + b"A" * 200_000
    got = await bad_then_good(db, small, raw)
    assert (got.state, got.outcome) == ("quarantined", "too_large")
    assert got.size == len(raw) and got.kind is None
    assert got.last_error and "max_message_bytes" in got.last_error
    assert b"AAAA" not in got.raw  # only the header section is kept
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Submission)) == 1


@pytest.mark.asyncio
async def test_deeply_nested_mime(db: Database, settings: Settings) -> None:
    depth = 500
    body = b"Titel: Dybt inde\r\n"
    for i in range(depth):
        b = f"n{i}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n--" + b +
                b"\r\n" + body + b"\r\n--" + b + b"--\r\n")
    raw = header(ctype="text/plain").encode().rsplit(b"Content-Type", 1)[0] + body
    got = await bad_then_good(db, settings, raw)
    # The decoder reads 20 levels (intake/parse/decode.py), and the innermost "Titel:" line is
    # a part header, not text: the mail has no text, so nothing makes it a submission.
    # Contract: that is "unknown" (it still goes to the moderators).
    assert (got.state, got.outcome, got.kind) == ("done", "unknown", "unknown")
    parsed = parse_message(raw)
    assert (parsed.kind, parsed.fields, parsed.text_body) == ("unknown", {}, "")


@pytest.mark.asyncio
async def test_huge_header_and_ten_thousand_headers(db: Database, settings: Settings) -> None:
    long_subject = header().replace("Subject: hostile", "Subject: " + "x" * 120_000)
    got = await bad_then_good(db, settings, long_subject.encode() + b"Hej\r\n")
    assert got.state == "done" and got.subject is not None and len(got.subject) <= 1000
    many = "".join(f"X-Junk-{i}: {'y' * 20}\r\n" for i in range(10_000))
    got = await bad_then_good(db, settings, header(extra=many).encode() + b"Hej\r\n")
    assert got.state == "done"


@pytest.mark.asyncio
async def test_broken_charsets(db: Database, settings: Settings) -> None:
    cases = [
        header(ctype="text/plain; charset=x-no-such-charset").encode() +
        "Titel: Søvnapnø\r\n".encode(),
        header(ctype="text/plain; charset=big5").encode() + "Titel: Ærø\r\n".encode(),
        header(ctype="text/plain; charset=utf-8").encode() + "Titel: Ærø\r\n".encode("cp1252"),
        header(ctype="text/plain; charset=utf-7").encode() + b"Titel: +AGEAYgBj-+ZZZ\xff-\r\n",
        header(ctype='text/plain; charset="\x00"').encode() + b"\xfe\xff\x00T\r\n",
        header().replace("Subject: hostile", "Subject: =?x-bogus?B?!!!?= =?utf-8?Q?=ZZ?=")
        .encode() + b"x\r\n",
    ]
    for raw in cases:
        got = await bad_then_good(db, settings, raw)
        assert got.state == "done"


@pytest.mark.asyncio
async def test_zip_among_a_hundred_attachments(db: Database, settings: Settings) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inside.txt", "Titel: ZIPTITEL fra en zip-fil\nKommuner: Aarhus\n")
    import base64

    parts = [b"--BND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Titel: Hjemmemonitorering med bilag\r\nKommuner: Odense\r\n"]
    parts.append(b"--BND\r\nContent-Type: application/zip; name=\"bilag.zip\"\r\n"
                 b"Content-Disposition: attachment; filename=\"bilag.zip\"\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n" +
                 base64.encodebytes(buf.getvalue()))
    for i in range(100):
        ctype = ("text/plain" if i % 3 == 0 else "application/pdf" if i % 3 == 1
                 else "image/png")
        parts.append(f"--BND\r\nContent-Type: {ctype}; name=\"f{i}\"\r\n"
                     f"Content-Disposition: attachment; filename=\"f{i}.dat\"\r\n\r\n"
                     f"Titel: ATTACHTITEL {i}\r\n".encode())
    raw = header(ctype='multipart/mixed; boundary="BND"').encode() + b"".join(parts) + \
        b"--BND--\r\n"
    got = await bad_then_good(db, settings, raw)
    assert (got.state, got.outcome) == ("done", "submission")
    parsed = parse_message(raw)
    assert parsed.fields.get("title") == "Hjemmemonitorering med bilag"
    assert "ZIPTITEL" not in parsed.text_body and "ATTACHTITEL" not in parsed.text_body
    names = [a["name"] for a in parsed.attachments]
    assert "bilag.zip" in names and len(parsed.attachments) == 101
    async with db.read() as s:
        sub = await s.scalar(select(Submission).where(
            Submission.inbound_message_id == got.id))
    assert sub is not None and "ZIPTITEL" not in repr(sub.proposed) + (sub.note or "")
    view = await load_item(db, sub.id)
    assert view is not None and view.mail is not None
    assert len(view.mail.attachments) == 101


@pytest.mark.asyncio
async def test_empty_and_garbage(db: Database, settings: Settings) -> None:
    import random

    rng = random.Random(20260322)
    for raw in (b"", b"\r\n", b"\x00" * 64, bytes(rng.randrange(256) for _ in range(20_000)),
                b"From: \x00\xff\r\n\r\n" + bytes(rng.randrange(256) for _ in range(5_000))):
        got = await bad_then_good(db, settings, raw)
        # No sender, no form, no subject: nothing makes it a submission (contract).
        assert (got.state, got.outcome, got.kind) == ("done", "unknown", "unknown"), raw[:40]
    async with db.read() as s:  # nothing was answered: no valid sender
        n = await s.scalar(select(func.count()).select_from(OutboxMessage)
                           .where(OutboxMessage.to_addr.not_like("hanne%")))
    assert n == 0


# --- mail loops ---------------------------------------------------------------------------


def naive_answer(ours: OutboxMessage, responder: str, n: int, extra: str = "") -> bytes:
    """What a naive vacation responder sends back: Re: + the whole mail quoted, to the
    Reply-To (our tokenised address), no RFC 3834 headers (unless ``extra``)."""
    msg = message_from_bytes(ours.raw, policy=default_policy)
    to = str(msg["Reply-To"] or msg["From"])
    part = msg.get_body(("plain",))
    text = part.get_content() if part is not None else ""
    quoted = "\r\n".join("> " + line for line in text.splitlines())
    return (f"From: Ferie <{responder}>\r\nTo: {to}\r\nSubject: Re: {msg['Subject']}\r\n"
            f"Message-ID: <vacation-{n}@responder.example>\r\n"
            f"In-Reply-To: {msg['Message-ID']}\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Jeg er på ferie til og med mandag.\r\n\r\n{quoted}\r\n").encode()


async def answers_to(db: Database, addr: str) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboxMessage).where(
            OutboxMessage.to_addr == addr).order_by(OutboxMessage.id))).all())


@pytest.mark.parametrize("marked", [False, True], ids=["naive", "auto-submitted"])
@pytest.mark.asyncio
async def test_mail_loop_with_an_auto_responder(db: Database, settings: Settings,
                                                marked: bool) -> None:
    responder = "ferie@responder.example"
    extra = "Auto-Submitted: auto-replied\r\n" if marked else ""
    first = (f"From: Ferie <{responder}>\r\nTo: landkort@example.org\r\n"
             f"Subject: Nyt initiativ\r\nMessage-ID: <start@responder.example>\r\n{extra}"
             f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             f"Titel: Sløjfe-test\r\nKommuner: Aarhus\r\nStatus: Projekt\r\n").encode()
    stored = [(await store_message(db, first, source="lmtp")).id]
    await process_pending(db, settings)
    rounds = 10
    for n in range(rounds):
        sent = await answers_to(db, responder)
        if sent:  # it answers the newest mail it got (again, if nothing new came)
            raw = naive_answer(sent[-1], responder, n, extra)
        else:  # nothing to answer: it writes anyway (an auto-responder on a list, say)
            raw = first.replace(b"<start@", f"<again-{n}@".encode())
        stored.append((await store_message(db, raw, source="lmtp")).id)
        await process_pending(db, settings)
    sent = await answers_to(db, responder)
    assert len(sent) == (0 if marked else settings.auto_answers_per_day)
    rows = [await row(db, i) for i in stored]
    assert len(set(stored)) == rounds + 1
    assert all(r.state == "done" and r.last_error is None for r in rows)
    if not marked:
        answered = [r for r in rows if r.detail and r.detail.get("answer") in (
            "receipt", "problems")]
        assert len(answered) == settings.auto_answers_per_day
        assert rows[-1].detail and rows[-1].detail.get("answer") == "suppressed:daily_limit"
    # and the next person's mail is still handled
    await bad_then_good(db, settings, b"")
