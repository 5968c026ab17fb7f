"""Outages the service must ride out without exiting or losing anything.

- PostgreSQL unreachable for a while (a TCP proxy between the service and the database is
  cut and restored): the service keeps running, reports itself degraded, does not flag
  mail it could not store, and catches up when the database returns. Also at start-up:
  ``landkort run`` waits for the database instead of exiting.
- SQLite with concurrent writers in several processes: no "database is locked" error
  surfaces (WAL, busy timeout, BEGIN IMMEDIATE).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.core.db import Database
from bot.core.migrate import upgrade
from intake.inbox.models import InboundMessage
from moderation.models import Submission
from tests.conftest import pg_url, skip_or_fail
from tests.faults.harness import Service, ThrowawayPostgres, build_mailbox, seed, service_env
from tests.imap_servers import make_server
from tests.smtp_sink import SmtpSink

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]


class TcpProxy:
    """Forwards a loopback port to a target; ``cut()`` drops the listener and every open
    connection (the network to the database is gone), ``restore()`` brings it back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()


async def _health(port: int) -> int:
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/healthz",
                         timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status
    except (TimeoutError, aiohttp.ClientError):
        return 0


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _processed(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)
                                        .where(InboundMessage.state != "stored")) or 0)


@pytest.mark.timeout(600)
async def test_database_outage_is_ridden_out(tmp_path: Path) -> None:
    base = pg_url()
    if base is None:
        skip_or_fail("LANDKORT_TEST_DATABASE_URL is not set")
        return
    pg = ThrowawayPostgres(base)
    url = await pg.create()
    db = Database(url)  # the test's own, direct connection
    imap = make_server("pymap")
    await imap.astart()
    target = make_url(url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    try:
        await upgrade(db)
        tokens = await seed(db)
        raws, _ = build_mailbox(tokens[:4])
        await proxy.restore()
        proxied = make_url(url).set(host="127.0.0.1", port=proxy.port)
        async with SmtpSink() as sink:
            env = service_env(proxied.render_as_string(hide_password=False), imap, sink.port,
                              tmp_path / "var")
            env["LANDKORT_CAMPAIGN_ENABLED"] = "false"
            # Start-up while the database is away: the service waits, it does not exit.
            await proxy.cut()
            service = Service(env, tmp_path / "service.log")
            service.start()
            await asyncio.sleep(3)
            assert service.proc is not None and service.proc.poll() is None
            await proxy.restore()
            await service.wait_healthy()

            await imap.append(raws[:2])
            await _wait(lambda: _count_is(db, 2), 60, "the first mails")
            # The database goes away mid-run.
            await proxy.cut()
            await imap.append(raws[2:4])
            await _wait(lambda: _status_is(service.port, 503), 30, "a degraded /healthz")
            await asyncio.sleep(4)
            assert service.proc.poll() is None, "the service exited during the outage"
            unflagged = [uid for uid, f in (await imap.flags()).items() if "\\Seen" not in f]
            assert len(unflagged) == 2, "mail was flagged although it could not be stored"
            await proxy.restore()
            await _wait(lambda: _count_is(db, 4), 90, "catching up after the outage")
            await _wait(lambda: _status_is(service.port, 200), 30, "a healthy /healthz")
            assert all("\\Seen" in f for f in (await imap.flags()).values())
            assert await service.terminate() == 0
    finally:
        await proxy.cut()
        await imap.astop()
        await db.dispose()
        await pg.drop()


async def _count_is(db: Database, n: int) -> bool:
    return await _processed(db) >= n


async def _status_is(port: int, status: int) -> bool:
    return await _health(port) == status


WRITER = textwrap.dedent("""
    import asyncio, random, sys
    import bot.schema  # every table (Database checks the schema is whole)
    from bot.core.db import Database
    from moderation.submissions import create_submission

    async def main(url, tag, n):
        db = Database(url)
        rng = random.Random(tag)
        for i in range(n):
            async with db.write() as session:
                await create_submission(session, kind="new", channel="import",
                                        proposed={"title": f"{tag}-{i}"},
                                        idempotency_key=f"{tag}:{i}")
            await asyncio.sleep(rng.uniform(0, 0.003))
        await db.dispose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


@pytest.mark.timeout(600)
async def test_sqlite_concurrent_writers_never_see_locked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    db = Database(url)
    await upgrade(db)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{i}", "80"],
                              cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(4)]

    async def local_writer(tag: str) -> None:
        for i in range(40):
            async with db.write() as session:
                await create_local(session, tag, i)

    from moderation.submissions import create_submission

    async def create_local(session, tag: str, i: int) -> None:  # type: ignore[no-untyped-def]
        await create_submission(session, kind="new", channel="import",
                                proposed={"title": f"{tag}-{i}"}, idempotency_key=f"{tag}:{i}")

    await asyncio.gather(*(local_writer(f"l{i}") for i in range(3)))
    outputs = [await asyncio.to_thread(p.communicate, timeout=240) for p in procs]
    try:
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert b"locked" not in err, err.decode(errors="replace")[-2000:]
            assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        async with db.read() as session:
            count = await session.scalar(select(func.count()).select_from(Submission))
        assert count == 4 * 80 + 3 * 40
    finally:
        await db.dispose()
