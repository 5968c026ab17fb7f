"""Shared pieces of the fault tests: the service as a child process, its settings, a
throw-away PostgreSQL database, seeded entries and a mailbox of mixed mail."""
from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiohttp

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.core.db import Database, dbnow
from bot.mail.models import OutboxMessage
from bot.mail.outbox import new_message_id
from bot.mail.tokens import issue_token
from bot.registry.repository import create_initiative
from tests.conftest import sample_record
from tests.imap_servers import ImapServer, free_port

ENTRIES = 24
# New submissions in the mailbox: enough that a wave fills whole chunks of the processor
# (25), so kills land inside a chunk's transaction, not only between single messages.
NEW_SUBMISSIONS = 126
DOMAIN = "example.org"


# --- the mailbox ------------------------------------------------------------------------

def _mail(frm: str, subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = f"landkort@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.dk")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def _bounce(recipient: str, original_id: str) -> bytes:
    """An RFC 3464 delivery status notification for ``recipient``, returning the headers
    of our mail ``original_id`` (a bounce must cite mail we sent to count)."""
    boundary = "dsn-boundary-42"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.dk>\r\n"
        f"To: landkort@{DOMAIN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.dk')}\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        f" boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.dk\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: landkort@{DOMAIN}\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n"
        f"\r\n--{boundary}--\r\n").encode()


def build_mailbox(tokens: list[tuple[str, str]], sent: list[tuple[str, str]] | None = None
                  ) -> tuple[list[bytes], dict[str, int]]:
    """Mixed mail: replies with tokens (changes and confirmations), new submissions,
    auto-replies, bounces of the mail in ``sent`` ((address, Message-ID) of earlier mail,
    :func:`seed_sent_mail`) and one oversized message. Returns (raws, expected kinds)."""
    raws: list[bytes] = []
    kinds: collections.Counter[str] = collections.Counter()
    for i, (token, email) in enumerate(tokens):
        if i % 3 == 0:
            body = "Status: Afsluttet\nSlutdato: 1. marts 2026\n\nMvh\nKontakten"
        else:
            body = "Ingen ændringer.\n\nVenlig hilsen"
        raws.append(_mail(email, f"SV: Er oplysningerne stadig korrekte? [ref:{token}]", body))
        kinds["reply"] += 1
    for i in range(NEW_SUBMISSIONS):
        raws.append(_mail(f"ny{i}@example.dk", "Nyt initiativ",
                          f"Titel: Digital genoptræning {i}\nStatus: Projekt\n"
                          "Deltagere: Kommune\nRegion: Syddanmark\nOrganisation: Odense "
                          "Kommune\nKontaktperson: Per Hansen\n"
                          f"E-mail: ny{i}@example.dk\n"))
        kinds["submission"] += 1
    for i in range(5):
        raws.append(_mail(f"ferie{i}@example.dk", "Automatisk svar: Er oplysningerne korrekte?",
                          "Jeg er på ferie til og med mandag.", Auto_Submitted="auto-replied"))
        kinds["auto_reply"] += 1
    for address, message_id in sent or []:
        raws.append(_bounce(address, message_id))
        kinds["bounce"] += 1
    raws.append(_mail("stor@example.dk", "Bilag", "x" * 400_000))  # over the size limit
    kinds["oversized"] += 1
    return raws, dict(kinds)


# --- the service under test -------------------------------------------------------------

class Service:
    """``landkort run`` as a child process with settings from the environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = int(env["LANDKORT_HTTP_PORT"])

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, cwd=str(Path(__file__).resolve().parents[2]))
        log.close()

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"service exited with {self.proc.returncode}; "
                                         f"see {self.log_path}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("service did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        for _ in range(600):
            if self.proc.poll() is not None:
                return self.proc.returncode
            await asyncio.sleep(0.05)
        self.proc.kill()
        raise AssertionError("service did not stop on SIGTERM within 30 s")


def service_env(db_url: str, imap: ImapServer, smtp_port: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANDKORT_")}
    settings = {
        "DATABASE_URL": db_url, "DATA_DIR": str(data_dir), "HTTP_PORT": str(free_port()),
        "SECRET_KEY": "fault-test-secret-key-0123456789", "MAIL_DOMAIN": DOMAIN,
        "IMAP_ENABLED": "true", "IMAP_HOST": "127.0.0.1", "IMAP_PORT": str(imap.port),
        "IMAP_SECURITY": "plain", "IMAP_USER": imap.user, "IMAP_PASSWORD": imap.password,
        "IMAP_POLL_SECONDS": "0.5", "MAX_MESSAGE_BYTES": "200000",
        "SMTP_ENABLED": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "plain", "SMTP_RATE_PER_MINUTE": "100000",
        "OUTBOX_LEASE_SECONDS": "3", "PROCESSING_LEASE_SECONDS": "3",
        "IMAP_LEASE_SECONDS": "3",
        "CAMPAIGN_ENABLED": "true", "CAMPAIGN_TICK_SECONDS": "0.5",
        "SENDING_DAYS": "mon,tue,wed,thu,fri,sat,sun", "SENDING_WINDOW": "00:00-23:59",
        "LOG_LEVEL": "WARNING",
    }
    env.update({f"LANDKORT_{k}": v for k, v in settings.items()})
    return env


async def seed(db: Database) -> list[tuple[str, str]]:
    """ENTRIES stale entries (never confirmed); a reply token for each."""
    tokens: list[tuple[str, str]] = []
    async with db.write() as session:
        for i in range(ENTRIES):
            entry = await create_initiative(
                session, sample_record(title=f"Telemedicinsk forløb nr. {i}",
                                       contact_email=f"kontakt{i}@example.dk"),
                actor="test", channel="import")
            entry.created_at = dbnow() - timedelta(days=400)
            token = await issue_token(session, purpose="reminder", initiative_id=entry.id,
                                      contact_id=entry.contact_id)
            tokens.append((token, f"kontakt{i}@example.dk"))
    return tokens


# Earlier mail of ours, to addresses with no entry: what the mailbox's bounces report on.
SEEDED_KEY = "seed:earlier-mail:"


async def seed_sent_mail(db: Database, n: int = 4) -> list[tuple[str, str]]:
    """``n`` mails we sent before the run (outbox rows, state sent); (address, Message-ID)
    of each, for :func:`build_mailbox`'s bounces to cite."""
    sent: list[tuple[str, str]] = []
    async with db.write() as session:
        for i in range(n):
            address, message_id = f"kontakt{i + 100}@example.dk", new_message_id(DOMAIN)
            session.add(OutboxMessage(
                message_id=message_id, idempotency_key=f"{SEEDED_KEY}{i}", kind="reminder",
                to_addr=address, from_addr=f"landkort@{DOMAIN}", subject="Påmindelse",
                raw=b"(sent before the run)", state="sent", attempts=1,
                sent_at=dbnow() - timedelta(days=1)))
            sent.append((address, message_id))
    return sent


class ThrowawayPostgres:
    """A fresh PostgreSQL database (not just a schema: the child process connects by URL
    alone), dropped afterwards."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"landkort_faults_{os.getpid()}_{random.randrange(10**9)}"
        self.url = base_url.rsplit("/", 1)[0] + "/" + self.name

    async def _admin(self, sql: str) -> None:
        from tests.postgres import admin

        await admin(self.base_url, sql)

    async def create(self) -> str:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        return self.url

    async def drop(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class FaultWorld:
    """What every fault test starts from: a migrated database (an SQLite file, or a
    throw-away PostgreSQL database the child processes reach by URL alone) with
    :data:`ENTRIES` stale entries, a mixed mailbox built from their reply tokens, and a
    running IMAP server (Dovecot when installed, else pymap)."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.pg: ThrowawayPostgres | None = None

    async def __aenter__(self) -> FaultWorld:
        from bot.core.migrate import upgrade
        from tests.conftest import pg_url, skip_or_fail
        from tests.imap_servers import dovecot_available, make_server

        if self.backend == "sqlite":
            self.url = f"sqlite+aiosqlite:///{self.tmp_path / 'faults.db'}"
        else:
            base = pg_url()
            if base is None:
                skip_or_fail("LANDKORT_TEST_DATABASE_URL is not set")
            assert base is not None
            self.pg = ThrowawayPostgres(base)
            self.url = await self.pg.create()
        self.db = Database(self.url)
        self.imap: ImapServer = make_server("dovecot" if dovecot_available() else "pymap")
        await self.imap.astart()
        await upgrade(self.db)
        self.tokens = await seed(self.db)
        self.sent = await seed_sent_mail(self.db)
        self.raws, self.kinds = build_mailbox(self.tokens, self.sent)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.imap.astop()
        await self.db.dispose()
        if self.pg is not None:
            await self.pg.drop()
