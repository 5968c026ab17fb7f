"""A contact's e-mail status after a bounce: the one bounce rule.

Two paths report a dead or full mailbox: a bounce that arrives by mail (intake, tied to
a mail we sent) and a relay that refuses the recipient while we send (the outbox
sender, RFC 5321 5xx on RCPT). Both call :func:`apply_bounce`, so they cannot drift:
a hard (permanent, 5.x.x) bounce makes the address ``bouncing`` at once, soft ones
(4.x.x) count and the third does; an opted-out contact stays opted out; when the
address becomes ``bouncing`` its (unmerged) entries are flagged for a new contact.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.registry.models import Contact, Initiative

SOFT_BOUNCE_LIMIT = 3


def bounce_transition(status: str, soft_bounces: int, permanent: bool) -> tuple[str, int]:
    """The contact's (email_status, soft_bounces) after one more bounce (pure)."""
    soft = soft_bounces if permanent else soft_bounces + 1
    if status == "opted_out":
        return status, soft
    if permanent or soft >= SOFT_BOUNCE_LIMIT:
        return "bouncing", soft
    return status, soft


async def apply_bounce(session: AsyncSession, contact: Contact, *, permanent: bool,
                       now: datetime | None = None) -> bool:
    """Apply one bounce to ``contact`` in the caller's transaction; True when the address
    has just become ``bouncing`` (the caller records that in its audit trail)."""
    before = contact.email_status
    contact.email_status, contact.soft_bounces = bounce_transition(
        contact.email_status, contact.soft_bounces or 0, permanent)
    contact.last_bounce_at = now or dbnow()
    if contact.email_status != "bouncing" or before == "bouncing":
        return False
    await session.execute(
        update(Initiative).where(Initiative.contact_id == contact.id,
                                 Initiative.merged_into_id.is_(None))
        .values(needs_new_contact=True).execution_options(synchronize_session=False))
    return True


__all__ = ["SOFT_BOUNCE_LIMIT", "apply_bounce", "bounce_transition"]
