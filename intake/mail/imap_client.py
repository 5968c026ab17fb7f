"""The one place that reaches past aioimaplib's public API.

aioimaplib (GPL-3.0-only, :mod:`intake.mail.imap_fetch` uses it) has no STARTTLS command and
no way to end a session's reader task without a clean LOGOUT. Both are done here, on
the parts of its client this module names in :data:`RELIED_ON`;
``tests/test_imap_client.py`` checks that the installed aioimaplib still has every one
of them, so an upstream change fails loudly there instead of quietly at run time.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aioimaplib import aioimaplib

# (object, attribute) pairs this adapter uses beyond aioimaplib's documented commands.
RELIED_ON: tuple[tuple[str, str], ...] = (
    ("IMAP4", "protocol"), ("IMAP4", "tasks"), ("IMAP4", "_client_task"),
    ("IMAP4ClientProtocol", "capabilities"), ("IMAP4ClientProtocol", "new_tag"),
    ("IMAP4ClientProtocol", "execute"), ("IMAP4ClientProtocol", "transport"),
    ("IMAP4ClientProtocol", "tasks"), ("aioimaplib", "Command"),
)


class StartTlsRefused(Exception):
    """The server does not offer STARTTLS, or refused it: no login without TLS."""


async def starttls(client: aioimaplib.IMAP4, ctx: ssl.SSLContext, server_hostname: str,
                   *, timeout: float | None = None) -> None:
    """RFC 3501 §6.2.1 STARTTLS on a connected client, then CAPABILITY again (the list
    may change once the session is encrypted)."""
    proto = client.protocol
    if "STARTTLS" not in proto.capabilities:
        raise StartTlsRefused("server does not offer STARTTLS")
    cmd = aioimaplib.Command("STARTTLS", proto.new_tag(), loop=proto.loop)
    response = await asyncio.wait_for(proto.execute(cmd), timeout)
    if response.result != "OK":
        raise StartTlsRefused(f"STARTTLS refused: {response.lines!r}")
    loop = asyncio.get_running_loop()
    proto.transport = await loop.start_tls(proto.transport, proto, ctx,
                                           server_hostname=server_hostname)
    await asyncio.wait_for(proto.capability(), timeout)


def transport_of(client: aioimaplib.IMAP4) -> Any:
    """The client's transport, or None before connecting."""
    proto = getattr(client, "protocol", None)
    return getattr(proto, "transport", None) if proto is not None else None


async def discard(client: aioimaplib.IMAP4) -> None:
    """Close a session for good without waiting on the server: the transport, the
    client's reader task and every pending command task."""
    transport = transport_of(client)
    if transport is not None and not transport.is_closing():
        transport.close()
    reader: asyncio.Task[Any] = client._client_task
    if not reader.done():
        reader.cancel()
        try:
            await reader
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - being thrown away
            pass
    for task in list(client.tasks) + list(client.protocol.tasks):
        task.cancel()
    await asyncio.sleep(0)


__all__ = ["RELIED_ON", "StartTlsRefused", "discard", "starttls", "transport_of"]
