"""Reply tokens: unguessable, per mail, stored only as a hash.

A token is 32 characters of URL-safe base64 from :func:`secrets.token_urlsafe` (192 random
bits, above the 128 the service promises). The database keeps its SHA-256, so a leaked
database does not hand out working reply or unsubscribe links.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.core.deferred_inserts import insert_later
from bot.mail.models import ReplyToken
from bot.registry.models import Contact

_TOKENS = cast(Table, ReplyToken.__table__)
_INSERT_TOKEN = insert(_TOKENS)

TOKEN_BYTES = 24
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    """A fresh random token (192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "ignore")).hexdigest()


# A token's life unless its purpose asks for another (bot.campaigns.reminders,
# intake.mail.outcomes).
DEFAULT_TTL = timedelta(days=180)

async def issue_token(session: AsyncSession, *, purpose: str, initiative_id: int | None = None,
                      contact_id: int | None = None, submission_id: int | None = None,
                      outbox_message_id: str | None = None,
                      ttl: timedelta | None = None) -> str:
    """Create a token row and return the token itself (the only time it is known).

    Every token has a purpose and an expiry (``ttl``; None means :data:`DEFAULT_TTL`,
    half a year — there is no token that never expires)."""
    token = new_token()
    await insert_later(session, _TOKENS, _INSERT_TOKEN, {
        "token_hash": hash_token(token), "purpose": purpose, "initiative_id": initiative_id,
        "contact_id": contact_id, "submission_id": submission_id,
        "outbox_message_id": outbox_message_id,
        "expires_at": dbnow() + (ttl if ttl is not None else DEFAULT_TTL)})
    return token


async def lookup_token(session: AsyncSession, token: str | None, *,
                       now: datetime | None = None) -> ReplyToken | None:
    """The live token row for a token, or None (unknown, malformed or expired)."""
    if not token or not TOKEN_RE.match(token):
        return None
    row = await session.get(ReplyToken, hash_token(token))
    if row is None:
        return None
    if row.expires_at is not None and row.expires_at < (now or dbnow()):
        return None
    return row


async def token_contact(session: AsyncSession, token: str | None,
                        purposes: Collection[str]) -> Contact | None:
    """The contact a live token of one of ``purposes`` stands for, or None: the
    credential of the personal pages (unsubscribe, consent)."""
    row = await lookup_token(session, token)
    if row is None or row.purpose not in purposes or row.contact_id is None:
        return None
    return await session.get(Contact, row.contact_id)


async def tokens_for_initiative(session: AsyncSession, initiative_id: int) -> list[ReplyToken]:
    rows = await session.scalars(select(ReplyToken).where(
        ReplyToken.initiative_id == initiative_id))
    return list(rows)
