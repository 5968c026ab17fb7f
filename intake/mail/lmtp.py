"""LMTP ingress (RFC 2033): the local mail server hands mail over, we commit it, then say 250.

The mail server (Postfix ``lmtp:``, Dovecot …) connects to ``lmtp_host:lmtp_port`` and
delivers with LHLO/MAIL/RCPT/DATA. After DATA, LMTP answers once **per recipient**
(RFC 2033 §4.2). All recipients of one delivery are our intake address (plus tokens), and
the message is stored once, so every recipient gets the same answer:

- ``250 2.0.0`` only after the raw message is committed (:func:`store_message`) — the
  mail server may delete its copy as soon as it reads 250;
- ``451 4.3.0`` when it cannot be committed (database away, disk full): a temporary
  failure, so the mail server keeps the message and retries later (RFC 5321 §4.2.5);
- messages larger than ``max_message_bytes`` are refused by aiosmtpd with
  ``552 5.3.4`` before they are read to the end (the sender's mail server tells them).

The handler is thin: it moves bytes and commits a row; the processor does the rest. The
envelope recipient and sender are added in front of the message as ``Delivered-To`` and
``Return-Path`` (as a delivering MTA does, RFC 5321 §4.4), so a ``landkort+TOKEN@``
recipient and a null sender ``<>`` (a bounce, RFC 3834 §2) are visible to parsing.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session

from bot.core.db import Database
from bot.core.settings import Settings
from intake.inbox.store import store_message

log = logging.getLogger(__name__)


def envelope_headers(mail_from: str | None, rcpt_tos: list[str], raw: bytes) -> bytes:
    """``Return-Path``/``Delivered-To`` trace headers for a delivery, unless the message
    already starts with them (pure)."""
    head = raw[:4096].lower()
    lines: list[bytes] = []
    if not head.startswith(b"return-path:"):
        lines.append(b"Return-Path: <" + (mail_from or "").encode("utf-8", "replace") + b">")
    if rcpt_tos and b"delivered-to:" not in head:
        lines.append(b"Delivered-To: " + rcpt_tos[0].encode("utf-8", "replace"))
    return b"".join(line + b"\r\n" for line in lines)


class IntakeHandler:
    """aiosmtpd handler: commit, then answer (one line per recipient)."""

    def __init__(self, settings: Settings, db: Database, *,
                 on_stored: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.db = db
        self.on_stored = on_stored
        self.delivered = 0

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        rcpts = list(envelope.rcpt_tos)
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        raw = envelope_headers(envelope.mail_from, rcpts, raw) + raw
        try:
            result = await store_message(self.db, raw, source="lmtp",
                                         max_bytes=self.settings.max_message_bytes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ours: the mail server keeps the message and retries
            log.error("LMTP: could not commit a message from %s: %s", envelope.mail_from, exc,
                      exc_info=True)
            return "\r\n".join(["451 4.3.0 Temporary failure storing the message; "
                                "try again later"] * max(len(rcpts), 1))
        self.delivered += 1
        log.info("LMTP: stored inbound %s (%s) from %s", result.id,
                 "new" if result.created else "already stored", envelope.mail_from)
        if result.created and self.on_stored is not None:
            self.on_stored()
        return "\r\n".join([f"250 2.0.0 Ok: stored as {result.id}"] * max(len(rcpts), 1))


class LmtpListener:
    """The LMTP server under the app's lifecycle (start/stop like a worker)."""

    name = "intake-lmtp"

    def __init__(self, settings: Settings, db: Database, *,
                 on_stored: Callable[[], None] | None = None,
                 host: str | None = None, port: int | None = None) -> None:
        self.settings = settings
        self.handler = IntakeHandler(settings, db, on_stored=on_stored)
        self.host = host if host is not None else settings.lmtp_host
        self.port = port if port is not None else settings.lmtp_port
        self._server: asyncio.base_events.Server | None = None

    def _factory(self) -> LMTP:
        return LMTP(self.handler, data_size_limit=self.settings.max_message_bytes,
                    enable_SMTPUTF8=True, decode_data=False,
                    hostname=self.settings.mail_domain, ident="landkort LMTP")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, host=self.host, port=self.port,
                                                family=socket.AF_UNSPEC, reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("LMTP listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()


__all__ = ["IntakeHandler", "LmtpListener", "envelope_headers"]
