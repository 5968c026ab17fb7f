"""The outbox: every outgoing mail is a row written in the same transaction as the
decision that causes it; a sender worker delivers it later (bot.sender).

:func:`compose` builds the complete message (Message-ID fixed here, before any SMTP
conversation, so a resend after a crash is recognisably the same mail) and
:func:`enqueue` stores it. Both are pure/DB-only: no network.
"""
from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import utcnow
from bot.mailtemplates import RenderedMail
from bot.models import OutboxMessage
from bot.settings import Settings

# Our Message-IDs start with this, so intake recognises replies to our own mail by
# In-Reply-To/References even when the reply token was lost.
MESSAGE_ID_PREFIX = "landkort."


def new_message_id(domain: str) -> str:
    return f"<{MESSAGE_ID_PREFIX}{uuid.uuid4().hex}@{domain}>"


def compose(settings: Settings, *, to_addr: str, mail: RenderedMail, kind: str,
            reply_token: str | None = None, unsubscribe_token: str | None = None,
            to_name: str | None = None, in_reply_to: str | None = None,
            extra_headers: dict[str, str] | None = None,
            message_id: str | None = None) -> EmailMessage:
    """Build a complete mail with the headers that make automatic mail behave.

    - ``Auto-Submitted: auto-generated`` (RFC 3834 §5) so auto-responders stay quiet, and
      ``X-Auto-Response-Suppress: All`` for Exchange, which ignores RFC 3834;
    - the reply token in ``Reply-To`` (``landkort+TOKEN@domain``), ``X-Landkort-Token`` and
      a ``[ref:TOKEN]`` subject tag, so at least one survives a mail client;
    - ``List-Unsubscribe`` with a mailto and an HTTPS URL plus ``List-Unsubscribe-Post:
      List-Unsubscribe=One-Click`` (RFC 8058) when an unsubscribe token is given.
    """
    msg = EmailMessage()
    msg["From"] = formataddr((settings.from_name, settings.intake_address))
    msg["To"] = formataddr((to_name or "", to_addr)) if to_name else to_addr
    subject = mail.subject
    if reply_token:
        subject = f"{subject} [ref:{reply_token}]"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id or new_message_id(settings.mail_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Landkort-Kind"] = kind
    if reply_token:
        msg["Reply-To"] = settings.reply_address(reply_token)
        msg["X-Landkort-Token"] = reply_token
    else:
        msg["Reply-To"] = settings.intake_address
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if unsubscribe_token:
        base = settings.base_url.rstrip("/")
        mailto = f"mailto:{settings.intake_address}?subject=afmeld%20{unsubscribe_token}"
        msg["List-Unsubscribe"] = f"<{mailto}>, <{base}/unsubscribe/{unsubscribe_token}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    return msg


async def enqueue(session: AsyncSession, message: EmailMessage, *, kind: str,
                  idempotency_key: str | None = None, contact_id: int | None = None,
                  initiative_id: int | None = None,
                  submission_id: int | None = None) -> OutboxMessage | None:
    """Store a composed mail for sending, in the caller's transaction.

    With an ``idempotency_key`` that is already used, nothing is stored and None is
    returned (the caller's action was done before: a retry or a second instance).
    """
    if idempotency_key is not None:
        existing = await session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.idempotency_key == idempotency_key))
        if existing is not None:
            return None
    to_addr = message["To"].addresses[0].addr_spec if message["To"] else ""
    row = OutboxMessage(
        message_id=str(message["Message-ID"]), idempotency_key=idempotency_key, kind=kind,
        to_addr=to_addr.lower(), from_addr=settings_from(message), subject=str(message["Subject"]),
        raw=message.as_bytes(), state="pending", attempts=0, contact_id=contact_id,
        initiative_id=initiative_id, submission_id=submission_id)
    if idempotency_key is None:
        session.add(row)
        await session.flush()
        return row
    # A concurrent writer may take the key between our check and insert: a savepoint keeps
    # the caller's transaction alive when the unique constraint says so.
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def settings_from(message: EmailMessage) -> str:
    header: Any = message["From"]
    return header.addresses[0].addr_spec if header else ""
