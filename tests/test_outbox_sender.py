"""The outbox sender against a real (aiosmtpd) SMTP server: retries, permanent
failures, a relay that is down, a worker that dies after claiming, connection reuse,
graceful stop."""
from __future__ import annotations

import random
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail import outbox
from bot.mail.models import BounceEvent, OutboxMessage
from bot.mail.sender import OutboxSender, TokenBucket, classify_error
from bot.mail.templates import RenderedMail
from bot.registry.models import Contact, Initiative
from tests.conftest import MakeInitiative
from tests.imap_servers import make_test_cert
from tests.smtp_sink import SmtpSink


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or dbnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sink_settings(settings: Settings, sink: SmtpSink, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(smtp_enabled=True, smtp_host="127.0.0.1",
                                  smtp_port=sink.port, smtp_security="plain",
                                  smtp_rate_per_minute=60_000, smtp_concurrency=2,
                                  smtp_max_attempts=4)
    values.update(kw)
    return settings.replace(**values)


async def put(db: Database, settings: Settings, to: str = "modtager@example.dk", *,
              contact_id: int | None = None, key: str | None = None,
              now: datetime | None = None) -> OutboxMessage:
    mail = RenderedMail(subject="Prøve", text="Hej\n", html="<p>Hej</p>")
    async with db.write() as session:
        row = await outbox.enqueue(
            session, outbox.compose(settings, to_addr=to, mail=mail, kind="receipt"),
            kind="receipt", contact_id=contact_id, idempotency_key=key, not_before=now)
        assert row is not None
        return row


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(
            OutboxMessage.id))).all())


def sender(settings: Settings, db: Database, clock: Clock, **kw: Any) -> OutboxSender:
    return OutboxSender(settings, db, clock=clock, rng=random.Random(1), **kw)


async def drain_rounds(worker: OutboxSender, clock: Clock, *, rounds: int,
                       advance: float) -> None:
    """``rounds`` times: move the clock by ``advance`` seconds and send what is due;
    then stop the worker."""
    try:
        for _ in range(rounds):
            clock.advance(advance)
            await worker.drain()
    finally:
        await worker.stop()


@pytest.mark.asyncio
async def test_451_451_250_is_one_mail_after_three_attempts(db: Database,
                                                            settings: Settings) -> None:
    async with SmtpSink(script=["451 4.3.0 busy", "451 4.3.0 busy"]) as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        row = await put(db, s, now=clock())
        worker = sender(s, db, clock)
        try:
            assert await worker.drain() == 1
            (r,) = await rows(db)
            assert (r.state, r.attempts, r.smtp_code) == ("pending", 1, 451)
            assert r.next_attempt_at > clock()
            assert await worker.drain() == 0  # not due yet
            clock.advance(3600)
            await worker.drain()
            clock.advance(3600)
            await worker.drain()
        finally:
            await worker.stop()
        (r,) = await rows(db)
        assert (r.state, r.attempts) == ("sent", 3)
        assert sink.handler.attempts == 3
        assert len(sink.messages) == 1
        assert sink.messages[0].message["Message-ID"] == row.message_id


@pytest.mark.asyncio
async def test_retries_stop_at_max_attempts(db: Database, settings: Settings) -> None:
    async with SmtpSink(script=["451 busy"] * 10) as sink:
        s = sink_settings(settings, sink, smtp_max_attempts=3)
        clock = Clock()
        await put(db, s, now=clock())
        worker = sender(s, db, clock)
        try:
            for _ in range(5):
                await worker.drain()
                clock.advance(24 * 3600)
        finally:
            await worker.stop()
        (r,) = await rows(db)
        assert (r.state, r.attempts) == ("failed", 3)
        assert sink.messages == []


@pytest.mark.asyncio
async def test_550_on_rcpt_fails_at_once_and_marks_the_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email="vaek@example.dk")
    async with SmtpSink(script=["RCPT:550 5.1.1 no such user"]) as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        await put(db, s, "vaek@example.dk", contact_id=entry.contact_id, now=clock())
        worker = sender(s, db, clock)
        try:
            await worker.drain()
            clock.advance(24 * 3600)
            assert await worker.drain() == 0
        finally:
            await worker.stop()
        assert sink.handler.attempts == 1
        assert sink.messages == []
    (r,) = await rows(db)
    assert (r.state, r.attempts, r.smtp_code) == ("failed", 1, 550)
    async with db.read() as session:
        contact = await session.get(Contact, entry.contact_id)
        assert contact is not None and contact.email_status == "bouncing"
        initiative = await session.get(Initiative, entry.id)
        assert initiative is not None and initiative.needs_new_contact
        bounce = await session.scalar(select(BounceEvent))
        assert bounce is not None and bounce.permanent and bounce.status == "550"


@pytest.mark.asyncio
async def test_552_on_rcpt_is_a_soft_bounce(db: Database, settings: Settings,
                                            make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email="fuld@example.dk")
    async with SmtpSink(script=["RCPT:552 5.2.2 mailbox full"]) as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        await put(db, s, "fuld@example.dk", now=clock())  # found by address
        worker = sender(s, db, clock)
        try:
            await worker.drain()
        finally:
            await worker.stop()
    async with db.read() as session:
        contact = await session.get(Contact, entry.contact_id)
        assert contact is not None
        assert (contact.email_status, contact.soft_bounces) == ("ok", 1)


@pytest.mark.asyncio
async def test_5xx_after_data_fails_without_touching_the_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email="spam@example.dk")
    async with SmtpSink(script=["554 5.7.1 content rejected"]) as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        await put(db, s, "spam@example.dk", contact_id=entry.contact_id, now=clock())
        worker = sender(s, db, clock)
        try:
            await worker.drain()
        finally:
            await worker.stop()
    (r,) = await rows(db)
    assert (r.state, r.smtp_code) == ("failed", 554)
    async with db.read() as session:
        contact = await session.get(Contact, entry.contact_id)
        assert contact is not None and contact.email_status == "ok"


@pytest.mark.asyncio
async def test_relay_down_loses_nothing_and_sends_when_it_returns(
        db: Database, settings: Settings) -> None:
    sink = SmtpSink()
    await sink.start()
    port = sink.port
    await sink.stop()  # the relay is down
    s = sink_settings(settings, sink, smtp_port=port)
    clock = Clock()
    for i in range(3):
        await put(db, s, f"m{i}@example.dk", now=clock())
    worker = sender(s, db, clock)
    try:
        await worker.drain()
        assert {(r.state, r.attempts) for r in await rows(db)} == {("pending", 1)}
        sink = SmtpSink(port=port)
        async with sink:
            clock.advance(3600)
            await worker.drain()
            assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
                "m0@example.dk", "m1@example.dk", "m2@example.dk"]
    finally:
        await worker.stop()
    assert {r.state for r in await rows(db)} == {"sent"}


@pytest.mark.asyncio
async def test_relay_dropping_the_connection_mid_run_reconnects(
        db: Database, settings: Settings) -> None:
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink, smtp_concurrency=1)
        clock = Clock()
        worker = sender(s, db, clock)
        try:
            await put(db, s, "a@example.dk", now=clock())
            await worker.drain()
            port = sink.port
            await sink.stop()
            await sink.start()
            assert sink.port == port
            await put(db, s, "b@example.dk", now=clock())
            await worker.drain()  # the old connection is dead: retry later
            clock.advance(3600)
            await worker.drain()
        finally:
            await worker.stop()
        assert [m.rcpt_tos[0] for m in sink.messages] == ["a@example.dk", "b@example.dk"]
    assert {r.state for r in await rows(db)} == {"sent"}


@pytest.mark.asyncio
async def test_a_worker_killed_after_claiming_loses_nothing(db: Database,
                                                            settings: Settings) -> None:
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        await put(db, s, now=clock())
        # Worker A claims and dies before sending anything.
        claimed = await outbox.claim_due(db, owner="A", now=clock(), limit=10,
                                         lease_seconds=s.outbox_lease_seconds)
        assert len(claimed) == 1
        worker_b = sender(s, db, clock, owner="B")
        try:
            assert await worker_b.drain() == 0  # A's lease is still live
            clock.advance(s.outbox_lease_seconds + 1)
            assert await worker_b.drain() == 1
            clock.advance(s.outbox_lease_seconds + 1)
            assert await worker_b.drain() == 0
        finally:
            await worker_b.stop()
        assert len(sink.messages) == 1
    (r,) = await rows(db)
    assert (r.state, r.attempts) == ("sent", 2)


@pytest.mark.asyncio
async def test_crash_after_acceptance_resends_once_with_the_same_message_id(
        db: Database, settings: Settings) -> None:
    """The server said 250 but worker A died before recording it: B resends once (same
    Message-ID); nothing sends it a third time."""
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        row = await put(db, s, now=clock())
        (item,) = await outbox.claim_due(db, owner="A", now=clock(), limit=10,
                                         lease_seconds=s.outbox_lease_seconds)
        worker_a = sender(s, db, clock, owner="A")
        result = await worker_a.connections[0].send(item)  # accepted, then A "crashes"
        await worker_a.stop()
        assert result.outcome == "sent"
        worker_b = sender(s, db, clock, owner="B")
        try:
            for _ in range(3):
                clock.advance(s.outbox_lease_seconds + 1)
                await worker_b.drain()
        finally:
            await worker_b.stop()
        assert len(sink.messages) == 2
        assert {m.message["Message-ID"] for m in sink.messages} == {row.message_id}


@pytest.mark.asyncio
async def test_two_senders_never_send_a_row_twice(db: Database, settings: Settings) -> None:
    import asyncio

    async with SmtpSink() as sink:
        s = sink_settings(settings, sink)
        clock = Clock()
        for i in range(40):
            await put(db, s, f"m{i}@example.dk", now=clock())
        other = db.clone()
        a = sender(s, db, clock, owner="A", batch_size=7)
        b = sender(s, other, clock, owner="B", batch_size=7)
        try:
            await asyncio.gather(a.drain(), b.drain())
        finally:
            await a.stop()
            await b.stop()
            await other.dispose()
        assert sorted(m.rcpt_tos[0] for m in sink.messages) == sorted(
            f"m{i}@example.dk" for i in range(40))
    assert {r.state for r in await rows(db)} == {"sent"}


@pytest.mark.asyncio
async def test_the_relay_never_gets_a_mail_while_the_one_before_is_unrecorded(
        db: Database, settings: Settings) -> None:
    """Mail k is recorded while mail k + 1's envelope goes out, and k + 1's DATA ends only
    after that commit: when recording fails, each connection has handed the relay one
    mail and no more; those are resent once after their lease, the rest sent once."""
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink, smtp_concurrency=2)
        clock = Clock()
        for i in range(6):
            await put(db, s, f"m{i}@example.dk", now=clock())
        worker = sender(s, db, clock)

        async def broken(items: list[Any]) -> None:
            raise OSError("disk full")

        worker.recorder._record = broken  # type: ignore[method-assign]
        await drain_rounds(worker, clock, rounds=1, advance=0)
        assert len(sink.messages) == 2  # one per connection, none behind it
        assert worker.recorder.commits == 0
        states = sorted(r.state for r in await rows(db))
        assert states.count("sending") == 2  # accepted, unrecorded: the lease brings them back
        worker = sender(s, db, clock)
        await drain_rounds(worker, clock, rounds=4, advance=s.outbox_lease_seconds + 7 * 3600)
        assert {r.state for r in await rows(db)} == {"sent"}
        received = sorted(m.rcpt_tos[0] for m in sink.messages)
        assert len(received) == 8 and sorted(set(received)) == [
            f"m{i}@example.dk" for i in range(6)]
        assert 0 < worker.recorder.commits <= 6


@pytest.mark.asyncio
async def test_one_connection_carries_many_messages(db: Database, settings: Settings) -> None:
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink, smtp_concurrency=2)
        clock = Clock()
        for i in range(20):
            await put(db, s, f"m{i}@example.dk", now=clock())
        worker = sender(s, db, clock)
        try:
            assert await worker.drain() == 20
        finally:
            await worker.stop()
        assert len(sink.messages) == 20
        assert sink.handler.connections <= 2


@pytest.mark.asyncio
async def test_stop_releases_claimed_but_untried_rows(db: Database,
                                                      settings: Settings) -> None:
    async with SmtpSink() as sink:
        s = sink_settings(settings, sink, smtp_concurrency=1)
        clock = Clock()
        for i in range(5):
            await put(db, s, f"m{i}@example.dk", now=clock())
        worker = sender(s, db, clock)
        worker._stopping.set()  # asked to stop while holding a claim
        claimed = await outbox.claim_due(db, owner=worker.owner, now=clock(), limit=5,
                                         lease_seconds=300)
        assert await outbox.release(db, claimed, owner=worker.owner) == 5
        assert {(r.state, r.attempts) for r in await rows(db)} == {("pending", 0)}
        assert await worker.run_once() == 0  # stopping: claims nothing
        await worker.stop()
        assert sink.messages == []


@pytest.mark.asyncio
async def test_worker_loop_sends_and_stops_gracefully(db: Database,
                                                      settings: Settings) -> None:
    import asyncio

    async with SmtpSink() as sink:
        s = sink_settings(settings, sink)
        await put(db, s)
        worker = OutboxSender(s, db, idle_seconds=0.05)
        await worker.start()
        for _ in range(200):
            if sink.messages:
                break
            await asyncio.sleep(0.02)
        await worker.stop()
        assert len(sink.messages) == 1


def relay_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server-side TLS context with a certificate made for the test, and the cert."""
    cert, key = make_test_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.mark.asyncio
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls(security: str, sqlite_db: Database, settings: Settings,
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """smtp_security "starttls" (the default) against a relay that requires STARTTLS
    (refuses MAIL before it), and "tls" against one that speaks TLS from the first byte.
    The sender's own context trusts the test certificate through SSL_CERT_FILE (the
    system store's override), so the certificate is verified as in production."""
    assert settings.smtp_security == "starttls"  # the default
    context, cert = relay_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with SmtpSink(tls_context=context, implicit_tls=security == "tls") as sink:
        s = sink_settings(settings, sink, smtp_security=security)
        clock = Clock()
        row = await put(sqlite_db, s, now=clock())
        worker = sender(s, sqlite_db, clock)
        try:
            assert await worker.drain() == 1
        finally:
            await worker.stop()
        (r,) = await rows(sqlite_db)
        assert (r.state, r.attempts) == ("sent", 1), r.last_error
        assert [(m.tls, m.message["Message-ID"]) for m in sink.messages] == [
            (True, row.message_id)]


@pytest.mark.asyncio
@pytest.mark.parametrize(("security", "relay", "error"), [
    ("starttls", "untrusted", "CERTIFICATE_VERIFY_FAILED"),
    ("tls", "untrusted", "CERTIFICATE_VERIFY_FAILED"),
    ("starttls", "plain", "STARTTLS"),
])
async def test_no_mail_to_an_untrusted_or_unencrypted_relay(
        security: str, relay: str, error: str, sqlite_db: Database, settings: Settings,
        tmp_path: Path) -> None:
    """The relay's certificate is checked (one the system does not trust is a retry), and
    "starttls" never falls back to plain text when the relay does not offer STARTTLS."""
    context = relay_tls(tmp_path)[0] if relay == "untrusted" else None
    async with SmtpSink(tls_context=context, implicit_tls=security == "tls") as sink:
        s = sink_settings(settings, sink, smtp_security=security)
        clock = Clock()
        await put(sqlite_db, s, now=clock())
        worker = sender(s, sqlite_db, clock)
        try:
            await worker.drain()
        finally:
            await worker.stop()
        (r,) = await rows(sqlite_db)
        assert (r.state, r.attempts) == ("pending", 1)
        assert r.last_error and error in r.last_error, r.last_error
        assert sink.messages == [] and sink.handler.attempts == 0


@pytest.mark.asyncio
async def test_token_bucket_paces() -> None:
    """60 a minute with a burst of 2: two at once, then one a second. The clock and the
    sleep are injected (a sleep moves the clock), so no wall time passes."""
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(60, capacity=2, monotonic=lambda: now[0], sleep=sleep)
    granted = []
    for _ in range(5):
        await bucket.acquire()
        granted.append(now[0])
    assert granted == pytest.approx([0.0, 0.0, 1.0, 2.0, 3.0])  # one token a second
    assert slept == pytest.approx([1.0, 1.0, 1.0])
    assert bucket.tokens < 1
    # Time that passed while idle counts: 1.5 s gives one token at once, half of the next.
    now[0] += 1.5
    await bucket.acquire()
    assert len(slept) == 3
    await bucket.acquire()
    assert slept[3:] == pytest.approx([0.5])
    # A long idle spell refills up to the capacity, no further.
    now[0] += 100.0
    await bucket.acquire()
    await bucket.acquire()
    assert len(slept) == 4
    await bucket.acquire()
    assert slept[4:] == pytest.approx([1.0])


def test_classify_error() -> None:
    import aiosmtplib

    assert classify_error(aiosmtplib.SMTPDataError(451, "later")).outcome == "retry"
    assert classify_error(aiosmtplib.SMTPDataError(554, "no")).outcome == "failed"
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "unknown", "x@example.dk")])
    r = classify_error(refused)
    assert (r.outcome, r.code, r.recipient_refused) == ("failed", 550, True)
    assert classify_error(ConnectionRefusedError()).outcome == "retry"
    assert classify_error(aiosmtplib.SMTPConnectResponseError(554, "go away")).outcome \
        == "retry"
