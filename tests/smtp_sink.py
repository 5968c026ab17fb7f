"""An aiosmtpd SMTP server for tests, in the test's own event loop, on a free port.

``SmtpSink`` records every accepted message and can be scripted to answer attempts
with chosen replies (RFC 5321 reply lines)::

    async with SmtpSink(script=["451 4.3.0 try later", "451 4.3.0 try later"]) as sink:
        ...  # the first two DATA attempts get 451, then 250
    async with SmtpSink(script=["RCPT:550 5.1.1 no such user"]) as sink:
        ...  # the first RCPT is refused with 550

A script item applies to one attempt (one MAIL transaction); ``RCPT:`` items answer the
RCPT command, others answer after DATA. When the script is used up, everything is
accepted with 250. ``stop()``/``start()`` simulate a relay that goes away and comes back
on the same port.

With ``tls_context`` the sink offers STARTTLS and requires it (RFC 3207: no MAIL before
it); with ``implicit_tls=True`` as well it speaks TLS from the first byte instead (RFC
8314). ``Received.tls`` says whether a message came over TLS.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SinkHandler:
    """The aiosmtpd handler: scripted replies, recorded messages and attempts."""

    script: list[str] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)
    attempts: int = 0
    connections: int = 0
    _current: str | None = None

    def _next_reply(self) -> str | None:
        return self.script.pop(0) if self.script else None

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.attempts += 1
        self._current = self._next_reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self._current and self._current.startswith("RCPT:"):
            reply, self._current = self._current[5:], None
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._current:
            reply, self._current = self._current, None
            return reply
        content = envelope.original_content or b""
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                      bytes(content), tls))
        return "250 2.0.0 OK queued"


class SmtpSink:
    """An SMTP server on 127.0.0.1 and a free port (async context manager)."""

    def __init__(self, script: list[str] | None = None, *, port: int = 0,
                 handler: Any = None, tls_context: ssl.SSLContext | None = None,
                 implicit_tls: bool = False) -> None:
        self.handler = handler or SinkHandler(script=list(script or []))
        self.port = port
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self._server: asyncio.base_events.Server | None = None
        self._protocols: list[SMTP] = []

    @property
    def messages(self) -> list[Received]:
        return list(self.handler.messages)

    def _factory(self) -> SMTP:
        self.handler.connections = getattr(self.handler, "connections", 0) + 1
        starttls = self.tls_context if not self.implicit_tls else None
        proto = SMTP(self.handler, hostname="sink.test", ident="smtp-sink",
                     data_size_limit=50_000_000, tls_context=starttls,
                     require_starttls=starttls is not None)
        self._protocols.append(proto)
        return proto

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._factory, "127.0.0.1", self.port, reuse_address=True,
            ssl=self.tls_context if self.implicit_tls else None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # Drop open client connections too (a relay that goes away drops them).
            for proto in self._protocols:
                transport = getattr(proto, "transport", None)
                if transport is not None:
                    transport.close()
            self._protocols.clear()
            await server.wait_closed()
        # Give connection handlers a turn to see their transports close.
        await asyncio.sleep(0)

    async def __aenter__(self) -> SmtpSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
