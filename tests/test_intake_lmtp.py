"""LMTP ingress (RFC 2033) over a real socket with smtplib.LMTP."""
from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import Settings
from intake.inbox.models import InboundMessage
from intake.mail.lmtp import LmtpListener, envelope_headers
from intake.mail.processor import process_pending
from moderation.models import Submission

MAIL = Path(__file__).parent / "fixtures" / "mail" / "intake"


@pytest_asyncio.fixture
async def listener(db: Database, settings: Settings) -> AsyncIterator[LmtpListener]:
    lmtp = LmtpListener(settings, db, host="127.0.0.1", port=0)
    await lmtp.start()
    try:
        yield lmtp
    finally:
        await lmtp.stop()


def deliver(port: int, raw: bytes, rcpts: list[str],
            mail_from: str = "hanne.krogh@odense.dk") -> dict[str, tuple[int, bytes]]:
    """One LMTP delivery; the per-recipient answers (RFC 2033 §4.2)."""
    client = smtplib.LMTP("127.0.0.1", port, timeout=30)
    try:
        client.ehlo_or_helo_if_needed()
        code, _ = client.mail(mail_from)
        assert code == 250
        for rcpt in rcpts:
            code, _ = client.rcpt(rcpt)
            assert code == 250
        code, _ = client.docmd("DATA")
        assert code == 354
        data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        data = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln
                            for ln in data.split(b"\r\n"))
        client.send(data + b"\r\n.\r\n")
        answers = {}
        for rcpt in rcpts:
            answers[rcpt] = client.getreply()
        return answers
    finally:
        client.close()


def test_envelope_headers() -> None:
    head = envelope_headers("", ["landkort+abc@example.org"], b"From: x\r\n\r\n")
    assert head == b"Return-Path: <>\r\nDelivered-To: landkort+abc@example.org\r\n"
    assert envelope_headers("a@b", [], b"Return-Path: <a@b>\r\n\r\n") == b""


@pytest.mark.asyncio
async def test_250_after_commit_one_line_per_recipient(
        db: Database, settings: Settings, listener: LmtpListener) -> None:
    raw = (MAIL / "new_submission_da.eml").read_bytes()
    rcpts = ["landkort@example.org", "landkort+x@example.org"]
    answers = await asyncio.to_thread(deliver, listener.port, raw, rcpts)
    assert [code for code, _ in answers.values()] == [250, 250]
    async with db.read() as s:
        rows = (await s.scalars(select(InboundMessage))).all()
    assert len(rows) == 1 and rows[0].source == "lmtp" and rows[0].state == "stored"
    assert rows[0].raw.startswith(b"Return-Path: <hanne.krogh@odense.dk>\r\n"
                                  b"Delivered-To: landkort@example.org\r\n")
    assert f"stored as {rows[0].id}".encode() in answers[rcpts[0]][1]
    # a redelivery (the mail server retrying after a lost 250) is the same row
    answers = await asyncio.to_thread(deliver, listener.port, raw, rcpts)
    assert [code for code, _ in answers.values()] == [250, 250]
    await process_pending(db, settings)
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert await s.scalar(select(func.count()).select_from(Submission)) == 1


@pytest.mark.asyncio
async def test_451_when_the_database_cannot_commit(
        sqlite_db: Database, settings: Settings) -> None:
    lmtp = LmtpListener(settings, sqlite_db, host="127.0.0.1", port=0)
    await lmtp.start()
    try:
        # The database is down (nothing listens where it should be).
        from tests.imap_servers import free_port
        broken = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone")
        lmtp.handler.db = broken
        raw = (MAIL / "new_submission_da.eml").read_bytes()
        answers = await asyncio.to_thread(deliver, lmtp.port, raw, ["landkort@example.org"])
        [(code, text)] = answers.values()
        assert code == 451 and text.startswith(b"4.3.0")
        await broken.dispose()
        # the mail server retries later, and then it is stored
        lmtp.handler.db = sqlite_db
        answers = await asyncio.to_thread(deliver, lmtp.port, raw, ["landkort@example.org"])
        assert [c for c, _ in answers.values()] == [250]
    finally:
        await lmtp.stop()


@pytest.mark.asyncio
async def test_too_big_is_refused_with_552(db: Database, settings: Settings) -> None:
    lmtp = LmtpListener(settings.replace(max_message_bytes=2000), db, host="127.0.0.1",
                        port=0)
    await lmtp.start()
    try:
        raw = b"From: a@b.dk\r\nSubject: big\r\n\r\n" + b"x" * 70 + (b"\r\n" + b"y" * 70) * 100
        answers = await asyncio.to_thread(deliver, lmtp.port, raw, ["landkort@example.org"])
        assert [c for c, _ in answers.values()] == [552]
    finally:
        await lmtp.stop()
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 0
