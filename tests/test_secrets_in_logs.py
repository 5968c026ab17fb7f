"""Secrets never reach the logs: ``landkort -v run`` (DEBUG logging) as a child process
with a secret key, an IMAP password (pymap, tests/imap_servers.py) and an SMTP password
(an SMTP sink that offers AUTH), while mail is fetched and answered, a moderator logs in
over HTTP and a reminder is sent. Afterwards the whole captured stdout/stderr is searched
for every secret value (``Settings.secret_values()``), the moderator's password, the
session cookie, and every reply/unsubscribe token that was issued or mailed.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from bot.core.db import Database, dbnow
from bot.core.settings import load_settings
from bot.mail.tokens import issue_token
from bot.registry.repository import create_initiative
from moderation.accounts import create_user
from tests.conftest import sample_record, skip_or_fail
from tests.imap_servers import PymapServer, free_port
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent
MOD_PASSWORD = "Moderator-Pw-Zq81xT4kLm"
SMTP_USER, SMTP_PASSWORD = "relay-user", "Smtp-Pw-Jd92kXw0Qp"
IMAP_PASSWORD = "Imap-Pw-Hv63nRt7Ys"
SECRET_KEY = "Secret-Key-Bn47cWq2Lx-0123456789abcdef"
TOKEN_RE = re.compile(rb"(?:landkort\+|\[ref:|/unsubscribe/|/chat/u/|afmeld%20)"
                      rb"([A-Za-z0-9_-]{32})")


class AuthSink(SmtpSink):
    """The test sink, offering AUTH PLAIN/LOGIN over the plain loopback connection."""

    def _factory(self) -> SMTP:
        def check(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and \
                data.login.decode() == SMTP_USER and data.password.decode() == SMTP_PASSWORD
            return AuthResult(success=ok)

        proto = SMTP(self.handler, hostname="sink.test", ident="smtp-sink",
                     auth_require_tls=False, authenticator=check)
        self._protocols.append(proto)
        return proto


async def wait_for(cond: Any, what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.asyncio
async def test_no_secret_reaches_the_logs(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'landkort.db'}"
    db = Database(db_url)
    from bot.core.migrate import upgrade

    await upgrade(db)
    await create_user(db, "mette", MOD_PASSWORD, role="moderator", actor="test")
    async with db.write() as s:
        entry = await create_initiative(s, sample_record(contact_email="kontakt@example.dk"),
                                        actor="test", channel="import")
        entry.created_at = dbnow() - timedelta(days=400)  # due for a reminder
        reply_token = await issue_token(s, purpose="reminder", initiative_id=entry.id,
                                        contact_id=entry.contact_id)
    await db.dispose()

    imap = PymapServer()
    imap.password = IMAP_PASSWORD
    try:
        imap.start()
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"pymap could not start: {exc}")
    log_path = tmp_path / "service.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        async with AuthSink() as sink:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("LANDKORT_")}
            env.update({f"LANDKORT_{k}": v for k, v in {
                "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path / "var"),
                "HTTP_PORT": str(port), "BASE_URL": f"http://127.0.0.1:{port}",
                "SECRET_KEY": SECRET_KEY, "MAIL_DOMAIN": "example.org", "LOG_LEVEL": "DEBUG",
                "IMAP_ENABLED": "true", "IMAP_HOST": "127.0.0.1",
                "IMAP_PORT": str(imap.port), "IMAP_SECURITY": "plain",
                "IMAP_USER": imap.user, "IMAP_PASSWORD": IMAP_PASSWORD,
                "IMAP_POLL_SECONDS": "0.3",
                "SMTP_ENABLED": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port),
                "SMTP_SECURITY": "plain", "SMTP_USER": SMTP_USER,
                "SMTP_PASSWORD": SMTP_PASSWORD,
                "CAMPAIGN_ENABLED": "true", "CAMPAIGN_TICK_SECONDS": "0.3",
                "SENDING_DAYS": "mon,tue,wed,thu,fri,sat,sun",
                "SENDING_WINDOW": "00:00-23:59"}.items()})
            settings = load_settings(environ=env)
            secrets = settings.secret_values()
            assert set(secrets) >= {SECRET_KEY, IMAP_PASSWORD, SMTP_PASSWORD}
            with log_path.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "-v", "run"],
                                        env=env, stdout=out, stderr=subprocess.STDOUT,
                                        cwd=str(ROOT))
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(
                    cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async def healthy() -> bool:
                    assert proc is not None and proc.poll() is None, log_path.read_text()
                    try:
                        async with http.get(f"{base}/healthz") as r:
                            return r.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_for(healthy, "the service")
                # a reply that carries the token, fetched over IMAP and answered by SMTP
                await imap.append(
                    f"From: Kontakt <kontakt@example.dk>\r\nTo: landkort+{reply_token}"
                    f"@example.org\r\nSubject: SV: [ref:{reply_token}]\r\n"
                    f"Message-ID: <secret-test-1@example.dk>\r\n"
                    f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
                    f"Status: Afsluttet\r\n".encode())
                # a moderator logs in with a password
                async with http.get(f"{base}/login") as r:
                    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                                     await r.text())
                assert csrf is not None
                async with http.post(f"{base}/login", data={
                        "csrf_token": csrf.group(1), "username": "mette",
                        "password": MOD_PASSWORD}, allow_redirects=False) as r:
                    assert r.status == 303
                    session_cookie = r.cookies["landkort_session"].value
                async with http.get(f"{base}/moderation") as r:
                    assert r.status == 200

                async def mailed() -> bool:
                    kinds = {m.message.get("X-Landkort-Kind") for m in sink.messages}
                    return {"reminder", "receipt"} <= kinds

                await wait_for(mailed, "a reminder and a receipt over SMTP")
            proc.send_signal(signal.SIGTERM)  # shutdown logs count too
            for _ in range(600):  # the sink lives in this loop: never block it
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        imap.stop()

    log = log_path.read_bytes()
    assert b"inbound" in log and b"DEBUG" in log, "the log is not the one expected"
    mailed_tokens = {t for m in sink.messages for t in TOKEN_RE.findall(m.data)}
    assert mailed_tokens, "no tokens found in the mails sent"
    needles = {**{f"secret {i}": s.encode() for i, s in enumerate(secrets)},
               "moderator password": MOD_PASSWORD.encode(),
               "session cookie": session_cookie.encode(),
               "reply token": reply_token.encode(),
               **{f"mailed token {t.decode()[:4]}…": t for t in mailed_tokens}}
    leaked = [name for name, value in needles.items() if value in log]
    assert leaked == [], f"found in the log ({log_path}): {leaked}"
