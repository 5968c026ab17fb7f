"""Contacts: the one place a contact is opted out, and the one place their consent to
publication is recorded.

The one-click unsubscribe link (bot.public.unsubscribe) and an "afmeld" mail (intake.mail.outcomes)
both call :func:`opt_out_contact`, so the two paths cannot drift apart.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.mail.outbox import cancel_pending_for_contact
from bot.registry.models import Contact, Initiative


def mail_refusal(email: str | None, email_status: str | None) -> str | None:
    """Why scheduled mail (a reminder, an outreach mail) may not go to this address now,
    or None when it may: the one rule both campaigns ask. No address; an address that
    opted out (RFC 8058 one-click or an "afmeld" reply); an address that bounces (a hard
    bounce or the third soft one, :mod:`bot.mail.status`)."""
    if not email:
        return "no contact e-mail"
    if email_status == "opted_out":
        return "contact opted out"
    if email_status == "bouncing":
        return "contact address bounces"
    return None


# Scheduled mail an opt-out cancels when it is still waiting in the outbox.
SCHEDULED_KINDS = ("reminder", "outreach")


async def opt_out_contact(session: AsyncSession, contact_id: int, *,
                          now: datetime | None = None) -> Contact | None:
    """Opt a contact out (in the caller's transaction): ``email_status = opted_out``,
    ``opted_out_at``, their published entries flagged ``needs_new_contact`` and their
    unsent reminders cancelled. Idempotent; returns the contact (None if unknown)."""
    contact = await session.get(Contact, contact_id, populate_existing=True)
    if contact is None:
        return None
    if contact.email_status != "opted_out":
        contact.email_status = "opted_out"
        contact.opted_out_at = now or dbnow()
    await session.execute(
        update(Initiative).where(Initiative.contact_id == contact.id,
                                 Initiative.merged_into_id.is_(None))
        .values(needs_new_contact=True).execution_options(synchronize_session=False))
    await cancel_pending_for_contact(session, contact.id, kinds=SCHEDULED_KINDS)
    await session.flush()
    return contact


CONSENT_SOURCES = ("link", "moderator")


async def record_consent(session: AsyncSession, contact_id: int, given: bool, *,
                         source: str, now: datetime | None = None) -> Contact | None:
    """Record whether a contact lets us publish their name, e-mail and phone (in the
    caller's transaction): the one place consent changes. ``source`` says how it was
    given — the contact's own button (``link``) or a moderator recording consent given
    another way (``moderator``)."""
    if source not in CONSENT_SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    contact = await session.get(Contact, contact_id, populate_existing=True)
    if contact is None:
        return None
    contact.publish_consent = given
    contact.publish_consent_at = now or dbnow()
    contact.publish_consent_source = source
    await session.flush()
    return contact


async def reset_mail_status(session: AsyncSession, contact_id: int, *,
                            now: datetime | None = None) -> tuple[Contact, str] | None:
    """Set a bouncing or opted-out contact's address back to ``ok`` (in the caller's
    transaction; an administrator does this when the mailbox works again or the contact
    asked to hear from us again). The soft-bounce count starts over; entries flagged
    ``needs_new_contact`` because of this address are unflagged. Returns the contact and
    its status before (None if unknown); the caller writes the audit row."""
    contact = await session.get(Contact, contact_id, populate_existing=True)
    if contact is None:
        return None
    before = contact.email_status
    if before != "ok":
        contact.email_status = "ok"
        contact.soft_bounces = 0
        contact.opted_out_at = None
        await session.execute(
            update(Initiative).where(Initiative.contact_id == contact.id,
                                     Initiative.merged_into_id.is_(None))
            .values(needs_new_contact=False).execution_options(synchronize_session=False))
        contact.updated_at = now or dbnow()
    await session.flush()
    return contact, before
