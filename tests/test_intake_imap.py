"""The IMAP fetcher against real servers: pymap always, Dovecot when installed.

Every test runs on SQLite and PostgreSQL (the ``db`` fixture) and on each server. Waits
poll the database with a generous deadline; nothing asserts wall-clock time.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.db import Database
from bot.settings import Settings
from intake.imap_fetch import (
    ImapFetcher,
    cursor_key,
    parse_fetch,
    parse_search,
    parse_select,
    plan_batches,
    uid_set,
)
from intake.models import ImapCursor, InboundMessage
from intake.processor import Processor
from intake.store import Claimed
from moderation.models import Submission
from tests.conftest import skip_or_fail
from tests.imap_servers import ImapServer, dovecot_available, make_server

MAIL = Path(__file__).parent / "fixtures" / "mail" / "intake"


def mail(n: int, extra: str = "") -> bytes:
    """A distinct new-submission mail."""
    return (f"From: Hanne Krogh <hanne{n}@odense.dk>\r\nTo: landkort@example.org\r\n"
            f"Subject: Nyt initiativ {n}{extra}\r\nMessage-ID: <imap-test-{n}@odense.dk>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Titel: Videokonsultationer {n}\r\nStatus: Projekt\r\n").encode()


@pytest.fixture(params=["pymap", pytest.param("dovecot", marks=pytest.mark.dovecot)])
def server_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "dovecot" and not dovecot_available():
        skip_or_fail("dovecot is not installed (apt-get install -y dovecot-imapd)")
    return str(request.param)


@pytest_asyncio.fixture
async def imap_server(server_kind: str, request: pytest.FixtureRequest
                      ) -> AsyncIterator[ImapServer]:
    params = getattr(request.node, "callspec", None)
    if params is not None and params.params.get("db") == "postgres" and \
            server_kind == "dovecot":
        # The database and the server are independent dimensions: sqlite×dovecot and
        # postgres×pymap cover both without paying for the fourth combination.
        pytest.skip("covered by sqlite-dovecot and postgres-pymap")
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
    async def handle(self, claimed: Claimed) -> Any:
        if b"POISON" in claimed.raw:
            raise RuntimeError("cannot process this one")
        return await super().handle(claimed)


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


@pytest.mark.asyncio
async def test_starttls(sqlite_db: Database, settings: Settings, tmp_path: Path) -> None:
    """STARTTLS (RFC 3501 §6.2.1) against pymap with a certificate made for the test."""
    import shutil
    import ssl
    import subprocess

    from tests.imap_servers import PymapServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = PymapServer(cert=cert, key=key)
    await server.astart()
    try:
        s = imap_settings(settings, server, imap_security="starttls", imap_host="localhost")
        c = server._client
        server._client = lambda: _tls_client(server, cert)  # type: ignore[method-assign]
        await server.append(mail(1))
        fetcher = ImapFetcher(s, sqlite_db, owner="tls", timeout=10.0,
                              ssl_context=ssl.create_default_context(cafile=str(cert)))
        await fetcher.start()
        try:
            await wait_until(counts_at_least(sqlite_db, InboundMessage, 1))
        finally:
            await fetcher.stop()
        server._client = c  # type: ignore[method-assign]
    finally:
        await server.astop()


def _tls_client(server: ImapServer, cert: Path) -> Any:
    import imaplib
    import ssl

    c = imaplib.IMAP4("127.0.0.1", server.port, timeout=30)
    c.starttls(ssl.create_default_context(cafile=str(cert)))
    c.login(server.user, server.password)
    return c


class NoMoveFetcher(ImapFetcher):
    """A server without RFC 6851 MOVE: COPY + \\Deleted + UID EXPUNGE instead."""

    async def _connect(self) -> None:
        await super()._connect()
        assert self._client is not None
        self._client.protocol.capabilities.discard("MOVE")


@pytest.mark.asyncio
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
