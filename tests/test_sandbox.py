"""The demo's mail sandbox: the service's mail lands in the sandbox SMTP server, is
listed on /sandbox, and an answer goes into the sandbox IMAP inbox (real pymap), where
the intake fetcher picks it up and queues it for moderation."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email import message_from_bytes
from typing import Any

import aioimaplib
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.campaigns.reminders import run_tick
from bot.core.appkeys import EXTRA
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.demo.sandbox import MailSandbox, build_reply, quoted_reply
from bot.demo.seed import demo_settings
from bot.mail.sender import OutboxSender
from bot.registry.repository import create_initiative
from intake.parse.message import parse_message
from tests.conftest import sample_record


@pytest.fixture
def sandbox_settings(settings: Settings) -> Settings:
    s = demo_settings(settings)
    return s.replace(sandbox_smtp_port=0, sandbox_imap_port=0, imap_idle=False)


@pytest_asyncio.fixture
async def client(sqlite_db: Database, sandbox_settings: Settings
                 ) -> AsyncIterator[TestClient]:
    app = create_app(sandbox_settings, sqlite_db, components=("bot.demo.sandbox",))
    async with TestClient(TestServer(app)) as c:
        yield c


def sandbox_of(client: TestClient) -> MailSandbox:
    app = client.app
    assert app is not None
    sandbox: MailSandbox = app[EXTRA]["mail_sandbox"]
    return sandbox


async def send_a_reminder(db: Database, settings: Settings, sandbox: MailSandbox) -> None:
    async with db.write() as session:
        await create_initiative(session, sample_record(), actor="test", channel="import")
    assert (await run_tick(db, settings, dbnow())).sent == 1
    sender = OutboxSender(settings.replace(smtp_port=sandbox.smtp_port), db)
    try:
        assert await sender.drain() == 1
    finally:
        await sender.stop()


async def inbox(sandbox: MailSandbox) -> list[bytes]:
    c = aioimaplib.IMAP4(host="127.0.0.1", port=sandbox.imap.port, timeout=10)
    await c.wait_hello_from_server()
    assert (await c.login(sandbox.imap.user, sandbox.imap.password)).result == "OK"
    await c.select("INBOX")
    resp = await c.uid("fetch", "1:*", "(RFC822)")
    await c.logout()
    return [bytes(x) for x in resp.lines if isinstance(x, bytearray)]


def csrf_from(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


@pytest.mark.asyncio
async def test_sent_mail_is_listed_and_shown(client: TestClient, sqlite_db: Database,
                                             sandbox_settings: Settings) -> None:
    sandbox = sandbox_of(client)
    await send_a_reminder(sqlite_db, sandbox_settings, sandbox)
    page = await (await client.get("/sandbox")).text()
    assert "mette.jensen@example.dk" in page
    assert "Er oplysningerne om" in page
    assert ">reminder<" in page
    mail_id = re.search(r'href="/sandbox/(\d+)"', page)
    assert mail_id
    resp = await client.get(f"/sandbox/{mail_id.group(1)}")
    assert resp.status == 200
    page = await resp.text()
    assert "Svar &#39;Ingen ændringer&#39;" in page  # the text part, escaped
    assert "Ingen ændringer\n\nDen " in page  # the prefilled answer
    assert "&gt; Titel: Telemedicinsk hjemmemonitorering af KOL" in page
    assert (await client.get("/sandbox/999")).status == 404


@pytest.mark.asyncio
async def test_an_answer_needs_the_csrf_token(client: TestClient, sqlite_db: Database,
                                              sandbox_settings: Settings) -> None:
    sandbox = sandbox_of(client)
    await send_a_reminder(sqlite_db, sandbox_settings, sandbox)
    resp = await client.post("/sandbox/1/reply", data={"body": "Ingen ændringer",
                                                       "csrf": "x" * 43},
                             allow_redirects=False)
    assert resp.status == 403
    assert await inbox(sandbox) == []


@pytest.mark.asyncio
async def test_an_answer_lands_in_the_imap_inbox_and_in_the_queue(
        client: TestClient, sqlite_db: Database, sandbox_settings: Settings) -> None:
    from intake.mail.imap_fetch import ImapFetcher
    from intake.mail.processor import Processor
    from moderation.models import Submission

    sandbox = sandbox_of(client)
    await send_a_reminder(sqlite_db, sandbox_settings, sandbox)
    page = await (await client.get("/sandbox/1")).text()
    body = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)
    assert body
    import html
    resp = await client.post("/sandbox/1/reply",
                             data={"body": html.unescape(body.group(1)),
                                   "csrf": csrf_from(page)}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/sandbox/1?sent=1"
    (raw,) = await inbox(sandbox)
    reply = message_from_bytes(raw)
    assert reply["From"] == "mette.jensen@example.dk"
    assert reply["To"].startswith("landkort+") and reply["To"].endswith("@example.org")
    assert reply["Subject"].startswith("SV: Er oplysningerne om")
    assert reply["In-Reply-To"].startswith("<landkort.")
    parsed = parse_message(raw, own_domain=sandbox_settings.mail_domain)
    assert parsed.kind == "reply" and parsed.confirmed_unchanged and parsed.reply_token

    # The intake fetcher (pointed at the sandbox by demo_settings) picks it up.
    s = sandbox_settings.replace(imap_port=sandbox.imap.port)
    fetcher = ImapFetcher(s, sqlite_db)
    processor = Processor(s, sqlite_db)
    try:
        assert await fetcher.run_once() >= 1
        for _ in range(3):
            await processor.run_once()
    finally:
        await fetcher.stop()
        await processor.stop()
    async with sqlite_db.read() as session:
        sub = await session.scalar(select(Submission))
    assert sub is not None and sub.kind == "confirmation" and sub.state == "pending"


def test_quoted_reply_and_reply_headers() -> None:
    from email.message import EmailMessage

    original = EmailMessage()
    original["From"] = "Landkort <landkort@example.org>"
    original["To"] = "Mette <mette@example.dk>"
    original["Reply-To"] = "landkort+TOKEN1234567890123456@example.org"
    original["Subject"] = "Påmindelse: Er oplysningerne stadig korrekte?"
    original["Message-ID"] = "<landkort.1@example.org>"
    original["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    original.set_content("Linje 1\n\nReply 'No changes' if everything is still correct.\n")
    text = quoted_reply(original)
    assert text.startswith("No changes\n\nOn Mon, 02 Mar 2026")
    assert "> Linje 1\n>\n> Reply" in text
    reply = build_reply(original, text)
    assert reply["From"] == "mette@example.dk"
    assert reply["To"] == "landkort+TOKEN1234567890123456@example.org"
    assert reply["Subject"] == "SV: Påmindelse: Er oplysningerne stadig korrekte?"
    assert reply["In-Reply-To"] == "<landkort.1@example.org>"
    assert reply["References"] == "<landkort.1@example.org>"
    again: Any = build_reply(reply, "x")
    assert again["Subject"] == "SV: Påmindelse: Er oplysningerne stadig korrekte?"


def test_sandbox_is_off_outside_the_demo(settings: Settings, tmp_path: Any) -> None:
    from aiohttp import web

    from bot.core.appkeys import SETTINGS, WORKERS
    from bot.demo.sandbox import setup

    app = web.Application()
    app[SETTINGS] = settings
    app[WORKERS] = []
    setup(app)
    assert app[WORKERS] == [] and len(app.router.routes()) == 0
