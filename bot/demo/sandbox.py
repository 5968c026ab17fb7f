"""The demo's mail sandbox: an SMTP server that keeps every mail the service sends, an
IMAP server that holds the service's inbox, and a page to read mail and answer it.

On only when ``sandbox_enabled`` (``landkort demo``); never in production.

* **SMTP** (aiosmtpd, in the service's event loop, 127.0.0.1:``sandbox_smtp_port``):
  every message is stored in ``sandbox_mails`` and answered ``250``. The sender worker
  is pointed at it by :func:`bot.demo.seed.demo_settings`.
* **IMAP** (pymap's in-memory ``dict`` backend, in-process,
  127.0.0.1:``sandbox_imap_port``): one user, ``imap_user``/``imap_password`` from the
  settings, which the intake fetcher logs in with. The inbox lives in memory (a restart
  empties it; intake has committed what it fetched).
* **/sandbox**: the sent mails, newest first; one mail's text; and an answer form
  prefilled with "Ingen ændringer" and the original quoted with "> ". Sending builds a
  real reply (From the original recipient, To its Reply-To, In-Reply-To/References,
  "SV: …") and APPENDs it to the IMAP inbox, where the intake fetcher finds it like any
  other mail. The page needs no login (demo only); its POST is protected by a
  double-submit CSRF token (a cookie and a form field that must match).
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import re
import secrets
from contextlib import AsyncExitStack
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.core.appkeys import DB, EXTRA, SETTINGS, WORKERS
from bot.core.db import Database, utcnow
from bot.core.pages import PageError, render
from bot.core.settings import Settings
from bot.demo.models import SandboxMail

log = logging.getLogger(__name__)

CSRF_COOKIE = "sandbox_csrf"
CSRF_FIELD = "csrf"
PAGE_SIZE = 100
DEFAULT_IMAP_USER = "landkort"




# ---------------------------------------------------------------------------------------
# SMTP: store everything


def _header(msg: Message, name: str) -> str:
    try:
        return " ".join(str(msg.get(name, "") or "").split())
    except Exception:  # noqa: BLE001 - a broken header must not lose the mail
        return ""


class SandboxSmtpHandler:
    """aiosmtpd handler: store the message in ``sandbox_mails`` and say 250."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or b"")
        msg = message_from_bytes(raw, policy=policy.default)
        try:
            async with self.db.write() as s:
                s.add(SandboxMail(
                    message_id=_header(msg, "Message-ID")[:998] or None,
                    mail_from=str(envelope.mail_from or "")[:320],
                    rcpt_to=", ".join(envelope.rcpt_tos),
                    subject=_header(msg, "Subject")[:1000],
                    kind=_header(msg, "X-Landkort-Kind")[:32], raw=raw))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - tell the client to retry, like a real server
            log.exception("sandbox: could not store a mail")
            return "451 4.3.0 sandbox could not store the mail; try again"
        return "250 2.0.0 stored in the sandbox"


# ---------------------------------------------------------------------------------------
# IMAP: pymap's dict backend in-process


class ImapSandbox:
    """pymap's in-memory IMAP server with one user, served on a port of ours."""

    def __init__(self, user: str, password: str, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self._stack: AsyncExitStack | None = None
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.backend.dict import DictBackend
        from pymap.imap import IMAPServer, IMAPService

        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--debug", action="store_true")
        parser.set_defaults(skip_services=[], passlib_cfg=None)
        IMAPService.add_arguments(parser)
        sub = parser.add_subparsers(dest="backend")
        DictBackend.add_subparser("dict", sub)
        args = parser.parse_args(["--no-tls", "dict", "--demo-user", self.user,
                                  "--demo-password", self.password])
        backend, config = await DictBackend.init(args)
        config.apply_context()
        stack = AsyncExitStack()
        await backend.start(stack)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config))
        try:
            self._server = await asyncio.start_server(callback, self.host, self.port)
        except BaseException:
            await stack.aclose()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        self._stack = stack

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        """APPEND a message, as any IMAP client would."""
        import aioimaplib

        client = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=10)
        try:
            await client.wait_hello_from_server()
            resp = await client.login(self.user, self.password)
            if resp.result != "OK":
                raise RuntimeError(f"sandbox IMAP login failed: {resp.lines}")
            resp = await client.append(raw, mailbox=mailbox)
            if resp.result != "OK":
                raise RuntimeError(f"sandbox IMAP APPEND failed: {resp.lines}")
            await client.logout()
        finally:
            if client.protocol is not None and client.protocol.transport is not None:
                client.protocol.transport.close()


class MailSandbox:
    """The worker that runs both servers under the app's lifecycle."""

    name = "mail-sandbox"

    def __init__(self, settings: Settings, db: Database, *, smtp_port: int | None = None,
                 imap_port: int | None = None) -> None:
        self.settings = settings
        self.db = db
        self.smtp_port = settings.sandbox_smtp_port if smtp_port is None else smtp_port
        self.imap = ImapSandbox(settings.imap_user or DEFAULT_IMAP_USER,
                                settings.imap_password or sandbox_password(settings),
                                port=settings.sandbox_imap_port if imap_port is None
                                else imap_port)
        self._smtp: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        from aiosmtpd.smtp import SMTP

        handler = SandboxSmtpHandler(self.db)
        # aiosmtpd logs every SMTP command at INFO; the sandbox page shows the mail.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(
            lambda: SMTP(handler, hostname="sandbox.landkort.test", ident="landkort sandbox",
                         data_size_limit=self.settings.max_message_bytes),
            "127.0.0.1", self.smtp_port)
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]
        try:
            await self.imap.start()
        except BaseException:
            await self._close_smtp()
            raise
        log.info("mail sandbox: SMTP on 127.0.0.1:%d, IMAP on 127.0.0.1:%d (user %s)",
                 self.smtp_port, self.imap.port, self.imap.user)

    async def _close_smtp(self) -> None:
        server, self._smtp = self._smtp, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def stop(self) -> None:
        await self._close_smtp()
        await self.imap.stop()


def sandbox_password(settings: Settings) -> str:
    """The sandbox IMAP password when none is configured (derived from the secret)."""
    import hashlib

    return hashlib.sha256(f"sandbox:{settings.secret_key}".encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------
# Replies


_PREFIX = re.compile(r"^\s*(?:(?:sv|re|aw|vs)\s*:\s*)+", re.IGNORECASE)


def text_part(msg: Message) -> str:
    """The mail's text (the text/plain part, else the HTML part as it is)."""
    fallback = ""
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            text = payload.decode("utf-8", "replace")
        if ctype == "text/plain":
            return text
        fallback = fallback or text
    return fallback


def quoted_reply(msg: Message) -> str:
    """The answer's prefilled text: the confirmation on top, the original quoted."""
    text = text_part(msg)
    english = "Reply 'No changes'" in text
    top = "No changes" if english else "Ingen ændringer"
    sender = _header(msg, "From")
    date = _header(msg, "Date")
    intro = f"On {date}, {sender} wrote:" if english else f"Den {date} skrev {sender}:"
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{top}\n\n{intro}\n{quoted}\n"


def build_reply(original: Message, body: str, *, fallback_from: str = "") -> EmailMessage:
    """A reply as a mail client writes it (RFC 5322 §3.6.4 threading fields)."""
    tos = [a for _, a in getaddresses([_header(original, "To")]) if a]
    me = tos[0] if tos else fallback_from
    reply_to = parseaddr(_header(original, "Reply-To"))[1] or \
        parseaddr(_header(original, "From"))[1]
    subject = _PREFIX.sub("", _header(original, "Subject"))
    reply = EmailMessage()
    reply["From"] = me
    reply["To"] = reply_to
    reply["Subject"] = f"SV: {subject}"
    reply["Date"] = format_datetime(utcnow())
    domain = me.rsplit("@", 1)[-1] if "@" in me else "sandbox.invalid"
    reply["Message-ID"] = make_msgid(domain=domain)
    original_id = _header(original, "Message-ID")
    if original_id:
        reply["In-Reply-To"] = original_id
        refs = _header(original, "References")
        reply["References"] = f"{refs} {original_id}".strip()
    reply["User-Agent"] = "landkort demo sandbox"
    reply.set_content(body.replace("\r\n", "\n"), charset="utf-8")
    return reply


# ---------------------------------------------------------------------------------------
# Pages


def _csrf(request: web.Request) -> tuple[str, bool]:
    token = request.cookies.get(CSRF_COOKIE, "")
    if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token):
        return token, False
    return secrets.token_urlsafe(32), True


def _with_csrf(request: web.Request, response: web.Response, token: str,
               new: bool) -> web.Response:
    if new:
        response.set_cookie(CSRF_COOKIE, token, path="/sandbox", httponly=True,
                            samesite="Strict")
    response.headers["Cache-Control"] = "no-store"
    return response


async def sandbox_list(request: web.Request) -> web.Response:
    async with request.app[DB].read() as session:
        rows = (await session.execute(
            select(SandboxMail.id, SandboxMail.received_at, SandboxMail.rcpt_to,
                   SandboxMail.subject, SandboxMail.kind)
            .order_by(SandboxMail.id.desc()).limit(PAGE_SIZE))).all()
        total = int(await session.scalar(select(func.count()).select_from(SandboxMail)) or 0)
    token, new = _csrf(request)
    return _with_csrf(request, render(request, "sandbox.html", mails=rows, total=total),
                      token, new)


async def _load(request: web.Request) -> SandboxMail:
    try:
        mail_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with request.app[DB].read() as session:
        row = await session.get(SandboxMail, mail_id)
    if row is None:
        raise PageError(404, "err.no_mail")
    return row


async def sandbox_mail(request: web.Request) -> web.Response:
    row = await _load(request)
    msg = message_from_bytes(row.raw, policy=policy.default)
    token, new = _csrf(request)
    reply_to = parseaddr(_header(msg, "Reply-To"))[1] or parseaddr(_header(msg, "From"))[1]
    return _with_csrf(request, render(
        request, "sandbox_mail.html", mail=row, text=text_part(msg),
        headers=[(n, _header(msg, n)) for n in ("From", "To", "Reply-To", "Subject", "Date",
                                                 "Message-ID", "Auto-Submitted",
                                                 "List-Unsubscribe")
                 if _header(msg, n)],
        reply=quoted_reply(msg), reply_to=reply_to, csrf=token, csrf_field=CSRF_FIELD,
        sent=request.query.get("sent") == "1"), token, new)


async def sandbox_raw(request: web.Request) -> web.Response:
    row = await _load(request)
    return web.Response(body=row.raw, content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def sandbox_reply(request: web.Request) -> web.Response:
    row = await _load(request)
    form = await request.post()
    cookie = request.cookies.get(CSRF_COOKIE, "")
    field = str(form.get(CSRF_FIELD, ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
        raise PageError(403, "err.form_expired")
    body = str(form.get("body", ""))
    if not body.strip():
        raise PageError(400, "err.write_answer")
    original = message_from_bytes(row.raw, policy=policy.default)
    reply = build_reply(original, body, fallback_from=row.rcpt_to.split(",")[0].strip())
    sandbox: MailSandbox = request.app[EXTRA]["mail_sandbox"]
    await sandbox.imap.append(reply.as_bytes(policy=policy.SMTP))
    raise web.HTTPSeeOther(f"/sandbox/{row.id}?sent=1")


def setup(app: web.Application) -> None:
    """Routes and the servers, only when ``sandbox_enabled``."""
    settings = app[SETTINGS]
    if not settings.sandbox_enabled:
        return
    sandbox = MailSandbox(settings, app[DB])
    # First to start and last to stop: the sender and the IMAP fetcher talk to it.
    app[WORKERS].insert(0, sandbox)
    app[EXTRA]["mail_sandbox"] = sandbox
    app.router.add_get("/sandbox", sandbox_list, name="sandbox")
    app.router.add_get("/sandbox/{id}", sandbox_mail, name="sandbox_mail")
    app.router.add_get("/sandbox/{id}/raw", sandbox_raw, name="sandbox_raw")
    app.router.add_post("/sandbox/{id}/reply", sandbox_reply, name="sandbox_reply")
