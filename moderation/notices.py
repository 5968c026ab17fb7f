"""Mails that tell a sender what moderators decided (queued in the decision's
transaction; the sender worker delivers them)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.mailheaders import is_mail_address
from bot.core.settings import Settings
from bot.mail.outbox import compose, enqueue
from bot.mail.templates import render_mail
from bot.mail.tokens import issue_token
from moderation.models import Submission


def _title(sub: Submission) -> str:
    return str(sub.proposed.get("title") or "")


async def enqueue_rejection(session: AsyncSession, settings: Settings, sub: Submission,
                            reason: str) -> bool:
    if not is_mail_address(sub.sender_email):
        return False  # a From we cannot write to (intake keeps what it was given)
    assert sub.sender_email
    mail = render_mail("rejection", sub.language, reason=reason, title=_title(sub),
                       submission_id=sub.id, base_url=settings.base_url)
    msg = compose(settings, to_addr=sub.sender_email, mail=mail, kind="rejection")
    row = await enqueue(session, msg, kind="rejection", idempotency_key=f"rejection:{sub.id}",
                        initiative_id=sub.initiative_id, submission_id=sub.id)
    return row is not None


async def enqueue_needs_info(session: AsyncSession, settings: Settings, sub: Submission,
                             message: str) -> bool:
    if not is_mail_address(sub.sender_email):
        return False
    assert sub.sender_email
    token = await issue_token(session, purpose="needs_info", initiative_id=sub.initiative_id,
                              submission_id=sub.id, ttl=timedelta(days=60))
    mail = render_mail("needs_info", sub.language, message=message, title=_title(sub),
                       submission_id=sub.id, base_url=settings.base_url)
    msg = compose(settings, to_addr=sub.sender_email, mail=mail, kind="needs_info",
                  reply_token=token)
    row = await enqueue(session, msg, kind="needs_info", initiative_id=sub.initiative_id,
                        submission_id=sub.id)
    return row is not None
