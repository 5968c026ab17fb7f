"""The IMAP fetcher against real servers: pymap always, Dovecot when installed.

The tests against a server run on both databases and both servers: sqlite×pymap,
postgres×pymap and sqlite×dovecot (the two dimensions are independent, so the fourth
combination is not collected). TLS (STARTTLS and implicit) runs with a certificate made
for the test. Waits poll the database with a generous deadline; nothing asserts
wall-clock time.
"""
from __future__ import annotations

import asyncio
import imaplib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.settings import Settings
from intake.inbox.models import ImapCursor, InboundMessage
from intake.inbox.store import ClaimedMessage
from intake.mail.imap_fetch import (
    ImapFetcher,
    cursor_key,
    parse_fetch,
    parse_search,
    parse_select,
    plan_batches,
    uid_set,
)
from intake.mail.processor import Processor
from intake.parse.message import ParseResult
from moderation.models import Submission
from tests.conftest import fresh_database, skip_or_fail
from tests.imap_servers import ImapServer, dovecot_available, make_server, make_test_cert

MAIL = Path(__file__).parent / "fixtures" / "mail" / "intake"


def mail(n: int, extra: str = "") -> bytes:
    """A distinct new-submission mail."""
    return (f"From: Hanne Krogh <hanne{n}@odense.dk>\r\nTo: landkort@example.org\r\n"
            f"Subject: Nyt initiativ {n}{extra}\r\nMessage-ID: <imap-test-{n}@odense.dk>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: Videokonsultationer {n}\r\nStatus: Projekt\r\n").encode()


# (database, server). The database and the server are independent dimensions:
# sqlite×dovecot and postgres×pymap cover both without paying for postgres×dovecot.
BACKENDS = [pytest.param(("sqlite", "pymap"), id="sqlite-pymap"),
            pytest.param(("postgres", "pymap"), id="postgres-pymap",
                         marks=pytest.mark.postgres),
            pytest.param(("sqlite", "dovecot"), id="sqlite-dovecot",
                         marks=pytest.mark.dovecot)]
SQLITE_BACKENDS = [p for p in BACKENDS if p.values[0][0] == "sqlite"]
SERVERS = ["pymap", pytest.param("dovecot", marks=pytest.mark.dovecot)]


def require_server(kind: str) -> str:
    if kind == "dovecot" and not dovecot_available():
        skip_or_fail("dovecot is not installed (apt-get install -y dovecot-imapd)")
    return kind


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    database, server = request.param
    return database, require_server(server)


@pytest_asyncio.fixture
async def db(backend: tuple[str, str], tmp_path: Path) -> AsyncIterator[Database]:
    """This module's ``db``: the database of the test's (database, server) combination."""
    async with fresh_database(backend[0], tmp_path) as database:
        yield database


@pytest.fixture
def server_kind(backend: tuple[str, str]) -> str:
    return backend[1]


@pytest_asyncio.fixture
async def imap_server(server_kind: str) -> AsyncIterator[ImapServer]:
    server = make_server(server_kind)
    await server.astart()
    try:
        yield server
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


def imap_settings(settings: Settings, server: ImapServer, **kw: Any) -> Settings:
    values: dict[str, Any] = {**server.settings_overrides(), "imap_poll_seconds": 0.2}
    values.update(kw)
    return settings.replace(**values)


@asynccontextmanager
async def running(settings: Settings, db: Database, *,
                  fetcher_cls: type[ImapFetcher] = ImapFetcher,
                  processor_cls: type[Processor] = Processor,
                  ) -> AsyncIterator[tuple[ImapFetcher, Processor]]:
    processor = processor_cls(settings, db, owner="test-processor", retry_base_seconds=0.0,
                              idle_seconds=0.1)
    fetcher = fetcher_cls(settings, db, on_stored=processor.wake, backoff_initial=0.05,
                          backoff_max=0.5, timeout=10.0, owner="test-fetcher")
    await processor.start()
    await fetcher.start()
    try:
        yield fetcher, processor
    finally:
        await fetcher.stop()
        await processor.stop()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def counts_at_least(db: Database, model: Any, n: int, *where: Any
                    ) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await count(db, model, *where) >= n
    return check


async def all_flagged(server: ImapServer, n: int, mailbox: str = "INBOX") -> bool:
    flags = await server.flags(mailbox)
    return len(flags) == n and all("\\Seen" in f for f in flags.values())


# ---------------------------------------------------------------------------------------
# pure helpers


def test_parse_select_and_fetch() -> None:
    state = parse_select([b"3 EXISTS", b"OK [UIDVALIDITY 42] UIDs valid",
                          b"OK [UIDNEXT 7] next", b"Select completed"])
    assert (state.uidvalidity, state.uidnext, state.exists) == (42, 7, 3)
    lines: list[Any] = [b"1 FETCH (UID 5 RFC822.SIZE 3 BODY[] {3}", bytearray(b"abc"), b")",
                        b"2 FETCH (BODY[] {2}", bytearray(b"de"), b" UID 6)",
                        b"3 FETCH (FLAGS (\\Seen))", b"Fetch completed"]
    got = [(f.uid, f.size, f.data) for f in parse_fetch(lines)]
    assert got == [(5, 3, b"abc"), (6, None, b"de")]


def test_parse_search() -> None:
    assert parse_search([b"101 102 7", b"UID SEARCH completed."]) == [101, 102, 7]
    assert parse_search([b"SEARCH 4 5", b"Search completed (0.001 secs)."]) == [4, 5]
    assert parse_search([b"UID SEARCH completed."]) == []


def test_uid_set_and_batches() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    assert plan_batches([(1, 10), (2, 10), (3, 10)], max_count=2, max_bytes=100) == [
        [(1, 10), (2, 10)], [(3, 10)]]
    assert plan_batches([(1, 60), (2, 60), (3, 500)], max_count=9, max_bytes=100) == [
        [(1, 60)], [(2, 60)], [(3, 500)]]


# ---------------------------------------------------------------------------------------
# against servers


@pytest.mark.asyncio
async def test_new_mail_becomes_exactly_one_queue_item(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server)
    await imap_server.append([mail(1), mail(2)])
    async with running(s, db) as (fetcher, _):
        await wait_until(counts_at_least(db, Submission, 2))
        await wait_until(lambda: all_flagged(imap_server, 2))
        await imap_server.append(mail(3))
        await wait_until(counts_at_least(db, Submission, 3))
    assert await count(db, InboundMessage) == 3
    assert await count(db, Submission) == 3
    uidvalidity = await asyncio.to_thread(imap_server.uidvalidity_sync)
    async with db.read() as session:
        rows = (await session.scalars(select(InboundMessage).order_by(
            InboundMessage.uid))).all()
        assert {r.uidvalidity for r in rows} == {uidvalidity}
        assert all(r.source == "imap" and r.mailbox == cursor_key(s) for r in rows)
        assert rows[0].message_id == "<imap-test-1@odense.dk>"
        assert all(len(r.content_hash) == 64 for r in rows)
        cursor = await session.get(ImapCursor, cursor_key(s))
        assert cursor is not None and cursor.last_uid == rows[-1].uid


@pytest.mark.asyncio
async def test_move_after_store(db: Database, settings: Settings,
                                imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server, imap_after_store="move",
                      imap_move_to="Processed")
    await imap_server.append([mail(1), mail(2)])
    async with running(s, db):
        await wait_until(counts_at_least(db, Submission, 2))

        async def moved() -> bool:
            return (len(await imap_server.flags("INBOX")) == 0
                    and len(await imap_server.flags("Processed")) == 2)
        await wait_until(moved)
    assert await count(db, InboundMessage) == 2


class Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing in the worker catches it)."""


class DiesAfterCommit(ImapFetcher):
    async def after_commit(self, uids: list[int]) -> None:
        raise Killed(f"killed after committing {uids}")


@pytest.mark.asyncio
async def test_killed_between_commit_and_flag_still_one_item(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server)
    await imap_server.append([mail(1), mail(2)])
    doomed = DiesAfterCommit(s, db, owner="test-fetcher", backoff_initial=0.05, timeout=10.0)
    await doomed.start()
    assert doomed._task is not None
    with pytest.raises(Killed):
        await asyncio.wait_for(doomed._task, 30)
    await doomed._disconnect()  # the dead process's socket closes
    doomed._task = None
    await doomed.lease.close()
    assert await count(db, InboundMessage) == 2
    flags = await imap_server.flags()
    assert not any("\\Seen" in f for f in flags.values())  # committed, never flagged
    async with running(s, db):  # the restarted process
        await wait_until(lambda: all_flagged(imap_server, 2))
        await wait_until(counts_at_least(db, Submission, 2))
    assert await count(db, InboundMessage) == 2
    assert await count(db, Submission) == 2


@pytest.mark.asyncio
async def test_uidvalidity_change_never_makes_a_second_item(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server, imap_mailbox="Intake")
    await imap_server.append([mail(1), mail(2)], "Intake")
    async with running(s, db):
        await wait_until(counts_at_least(db, Submission, 2))
        await wait_until(lambda: all_flagged(imap_server, 2, "Intake"))
    old, new = await imap_server.recreate("Intake")
    # the same two messages come back under new UIDs, plus a new one
    await imap_server.append([mail(1), mail(2), mail(3)], "Intake")
    async with running(s, db):
        await wait_until(counts_at_least(db, Submission, 3))
        await wait_until(lambda: all_flagged(imap_server, 3, "Intake"))
    assert await count(db, InboundMessage) == 3
    assert await count(db, Submission) == 3
    async with db.read() as session:
        cursor = await session.get(ImapCursor, cursor_key(s))
        assert cursor is not None and cursor.uidvalidity == new != old


@pytest.mark.asyncio
async def test_server_restart_mid_session(db: Database, settings: Settings,
                                          imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server)
    async with running(s, db) as (fetcher, _):
        await imap_server.append(mail(1))
        await wait_until(counts_at_least(db, InboundMessage, 1))
        await imap_server.arestart()
        await imap_server.append(mail(2))
        await wait_until(counts_at_least(db, Submission, 2))
        assert fetcher.connects >= 2
    assert await count(db, InboundMessage) == 2


class PoisonProcessor(Processor):
    async def apply(self, session: AsyncSession, claimed: ClaimedMessage,
                    parsed: ParseResult) -> Any:
        if b"POISON" in claimed.raw:
            raise RuntimeError("cannot process this one")
        return await super().apply(session, claimed, parsed)


@pytest.mark.asyncio
async def test_poison_message_quarantined_next_goes_through(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server)
    await imap_server.append([mail(1, " POISON"), mail(2)])
    async with running(s, db, processor_cls=PoisonProcessor):
        await wait_until(counts_at_least(db, Submission, 1))
        await wait_until(counts_at_least(db, InboundMessage, 1,
                                         InboundMessage.state == "quarantined"))
    async with db.read() as session:
        bad = (await session.scalars(select(InboundMessage).where(
            InboundMessage.state == "quarantined"))).one()
        assert bad.subject and "POISON" in bad.subject
        assert bad.last_error and "cannot process" in bad.last_error
    assert await all_flagged(imap_server, 2)  # both were taken off the server


@pytest.mark.asyncio
async def test_idle_wakes_the_fetcher_before_the_poll_interval(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server, imap_poll_seconds=3600.0)
    async with running(s, db) as (fetcher, _):
        await wait_until(lambda: _in_idle(fetcher))
        await imap_server.append(mail(1))
        await wait_until(counts_at_least(db, Submission, 1), timeout=60)
        assert fetcher.idle_wakeups >= 1


async def _in_idle(fetcher: ImapFetcher) -> bool:
    client = fetcher._client
    return client is not None and client.has_pending_idle()


@pytest.mark.asyncio
async def test_too_large_message_is_quarantined_header_only(
        db: Database, settings: Settings, imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server, max_message_bytes=2000)
    big = mail(1) + b"x" * 5000 + b"\r\n"
    await imap_server.append([big, mail(2)])
    async with running(s, db):
        await wait_until(counts_at_least(db, Submission, 1))
        await wait_until(lambda: all_flagged(imap_server, 2))
    async with db.read() as session:
        row = (await session.scalars(select(InboundMessage).where(
            InboundMessage.outcome == "too_large"))).one()
        assert row.state == "quarantined" and row.size >= 5000
        assert b"xxxx" not in row.raw and b"Nyt initiativ 1" in row.raw


@asynccontextmanager
async def tls_server(kind: str, tmp_path: Path) -> AsyncIterator[tuple[ImapServer, Path]]:
    """A server of ``kind`` with a certificate made for the test: (server, cert.pem).
    pymap offers STARTTLS; Dovecot requires TLS (no LOGIN before it) and also listens
    for implicit TLS on ``tls_port``."""
    cert, key = make_test_cert(tmp_path)
    server = make_server(require_server(kind), cert=cert, key=key)
    await server.astart()
    try:
        yield server, cert
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


def plain_login_refused(server: ImapServer) -> bool:
    """Whether the server refuses LOGIN on its plain port before STARTTLS."""
    c = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        c.login(server.user, server.password)
    except imaplib.IMAP4.error:
        return True
    finally:
        c.shutdown()
    return False


async def fetch_one_over_tls(db: Database, s: Settings, cert: Path) -> None:
    """Run a fetcher trusting ``cert`` until the one message is stored, and check that its
    session is TLS with the server's certificate."""
    fetcher = ImapFetcher(s, db, owner="tls", timeout=10.0,
                          ssl_context=ssl.create_default_context(cafile=str(cert)))
    await fetcher.start()
    try:
        await wait_until(counts_at_least(db, InboundMessage, 1))
        assert fetcher._client is not None
        session = fetcher._client.protocol.transport.get_extra_info("ssl_object")
        assert session is not None, "the IMAP session is not encrypted"
        assert session.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(
            cert.read_text())
    finally:
        await fetcher.stop()
    assert fetcher.connects >= 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_starttls(kind: str, sqlite_db: Database, settings: Settings,
                        tmp_path: Path) -> None:
    """STARTTLS (RFC 3501 §6.2.1) with a certificate made for the test. pymap takes a
    plain LOGIN from loopback, Dovecot here does not: the session must be TLS either way,
    and TLS must come before LOGIN."""
    async with tls_server(kind, tmp_path) as (server, cert):
        # Dovecot refuses to log in without TLS, so skipping STARTTLS (or sending LOGIN
        # first) cannot pass against it.
        assert await asyncio.to_thread(plain_login_refused, server) == (kind == "dovecot")
        await server.append(mail(1))
        s = imap_settings(settings, server, imap_security="starttls")
        await fetch_one_over_tls(sqlite_db, s, cert)


@pytest.mark.asyncio
@pytest.mark.dovecot
async def test_implicit_tls(sqlite_db: Database, settings: Settings, tmp_path: Path) -> None:
    """imap_security = "tls" (the default): TLS from the first byte (RFC 8314), against
    Dovecot's imaps listener with a certificate made for the test."""
    async with tls_server("dovecot", tmp_path) as (server, cert):
        await server.append(mail(1))
        s = imap_settings(settings, server, imap_security="tls",
                          imap_port=server.tls_port)
        await fetch_one_over_tls(sqlite_db, s, cert)


class NoMoveFetcher(ImapFetcher):
    """A server without RFC 6851 MOVE: COPY + \\Deleted + UID EXPUNGE instead."""

    async def _connect(self) -> None:
        await super()._connect()
        assert self._client is not None
        self._client.protocol.capabilities.discard("MOVE")


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", SQLITE_BACKENDS, indirect=True)
async def test_move_without_move_capability(sqlite_db: Database, settings: Settings,
                                            imap_server: ImapServer) -> None:
    s = imap_settings(settings, imap_server, imap_after_store="move",
                      imap_move_to="Processed")
    await imap_server.append([mail(1), mail(2)])
    async with running(s, sqlite_db, fetcher_cls=NoMoveFetcher):
        async def moved() -> bool:
            return (len(await imap_server.flags("INBOX")) == 0
                    and len(await imap_server.flags("Processed")) == 2)
        await wait_until(moved)
    assert await count(sqlite_db, InboundMessage) == 2


# ---------------------------------------------------------------------------------------
# contract v2 end to end: the reminder as sent, a reply typed into its quoted form


@pytest.mark.asyncio
async def test_edits_typed_into_the_quoted_reminder_reach_the_queue(
        db: Database, settings: Settings, imap_server: ImapServer,
        make_initiative: Any) -> None:
    """A reminder goes through the outbox to an SMTP server (aiosmtpd); the contact
    answers in Outlook's way, changing the status and emptying the end date inside the
    quoted form (no ">" markers); the reply is appended to the IMAP server, fetched and
    processed: the queue item holds the inline edit and the clear, marked as coming from
    the quoted form."""
    from email.message import EmailMessage

    from bot.campaigns.reminders import render_reminder
    from bot.mail import outbox
    from bot.mail.sender import OutboxSender
    from bot.mail.tokens import issue_token, new_token
    from tests.smtp_sink import SmtpSink

    entry = await make_initiative(db, contact_email="mette.jensen@example.dk",
                                  status="i_drift", end_date="2026-12-31")
    record = entry.record()
    async with SmtpSink() as sink:
        s = imap_settings(settings, imap_server, smtp_enabled=True, smtp_host="127.0.0.1",
                          smtp_port=sink.port, smtp_security="plain")
        unsub = new_token()
        message_id = outbox.new_message_id(s.mail_domain)
        async with db.write() as session:
            reply = await issue_token(session, purpose="reminder", initiative_id=entry.id,
                                      contact_id=entry.contact_id,
                                      outbox_message_id=message_id)
            mail = render_reminder(s, record, step=1, lang="da", reply_token=reply,
                                   unsubscribe_token=unsub)
            msg = outbox.compose(s, to_addr="mette.jensen@example.dk", mail=mail,
                                 kind="reminder", reply_token=reply, unsubscribe_token=unsub,
                                 message_id=message_id)
            await outbox.enqueue(session, msg, kind="reminder", contact_id=entry.contact_id,
                                 initiative_id=entry.id)
        worker = OutboxSender(s, db)
        try:
            assert await worker.drain() == 1
        finally:
            await worker.stop()
        (received,) = sink.messages
    from email import message_from_bytes
    from email.policy import default as default_policy

    sent = message_from_bytes(received.data, policy=default_policy)
    body = sent.get_body(("plain",))  # type: ignore[attr-defined]
    assert body is not None
    original = body.get_content()
    assert "Status: I drift" in original and "Slutdato: 2026-12-31" in original
    edited = (original.replace("Status: I drift", "Status: Afsluttet")
              .replace("Slutdato: 2026-12-31", "Slutdato:"))
    answer = EmailMessage()
    answer["From"] = "Mette Jensen <mette.jensen@example.dk>"
    answer["To"] = str(sent["Reply-To"] or sent["From"])
    answer["Subject"] = "SV: " + str(sent["Subject"])
    answer["Message-ID"] = "<AM0PR07MB4242.mette@example.dk>"
    answer["In-Reply-To"] = str(sent["Message-ID"])
    answer.set_content(
        "Hej, jeg har rettet i formularen nedenfor.\n\nMvh Mette\n\n"
        f"Fra: Det telemedicinske landkort <{s.intake_address}>\n"
        "Sendt: 9. marts 2026 10:00\nTil: Mette Jensen <mette.jensen@example.dk>\n"
        f"Emne: {sent['Subject']}\n\n{edited}")
    await imap_server.append(answer.as_bytes())
    async with running(s, db):
        await wait_until(counts_at_least(db, Submission, 1))
    async with db.read() as session:
        (sub,) = (await session.scalars(select(Submission))).all()
    assert sub.initiative_id == entry.id and sub.token_matched
    assert sub.proposed == {"status": "afsluttet", "end_date": None}
    assert {k: v["via"] for k, v in sub.field_sources.items()} == {
        "status": "quoted_form", "end_date": "quoted_form"}
