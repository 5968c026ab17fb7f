"""Mails that tell a sender what moderators decided (queued in the decision's
transaction; the sender worker delivers them).

Each names the initiative (the proposal's title, else the entry's), greets the sender by
name, calls an update an update, and carries a reply token so an answer finds its way
back to the item or the entry. After an approval of the contact's own answer the contact
is thanked with the public page (one mail per contact for a bulk approval).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.mailheaders import is_mail_address
from bot.core.settings import Settings
from bot.mail.outbox import compose, enqueue
from bot.mail.templates import render_mail
from bot.mail.tokens import issue_token
from bot.registry.models import Initiative
from moderation.models import Submission
from moderation.states import CONTACT_CHANNELS

REPLY_TTL = timedelta(days=60)


async def _title(session: AsyncSession, sub: Submission) -> str:
    title = str((sub.proposed or {}).get("title") or "")
    if not title and sub.initiative_id is not None:
        initiative = await session.get(Initiative, sub.initiative_id)
        title = initiative.title if initiative is not None else ""
    return title


async def enqueue_rejection(session: AsyncSession, settings: Settings, sub: Submission,
                            reason: str) -> bool:
    if not is_mail_address(sub.sender_email):
        return False  # a From we cannot write to (intake keeps what it was given)
    assert sub.sender_email
    token = await issue_token(session, purpose="receipt", initiative_id=sub.initiative_id,
                              submission_id=sub.id, ttl=REPLY_TTL)
    mail = render_mail("rejection", sub.language, reason=reason, title=await _title(session, sub),
                       person=sub.sender_name or "", kind=sub.kind, submission_id=sub.id,
                       base_url=settings.base_url)
    msg = compose(settings, to_addr=sub.sender_email, mail=mail, kind="rejection",
                  to_name=sub.sender_name, reply_token=token)
    row = await enqueue(session, msg, kind="rejection", idempotency_key=f"rejection:{sub.id}",
                        initiative_id=sub.initiative_id, submission_id=sub.id)
    return row is not None


async def enqueue_needs_info(session: AsyncSession, settings: Settings, sub: Submission,
                             message: str) -> bool:
    if not is_mail_address(sub.sender_email):
        return False
    assert sub.sender_email
    token = await issue_token(session, purpose="needs_info", initiative_id=sub.initiative_id,
                              submission_id=sub.id, ttl=REPLY_TTL)
    mail = render_mail("needs_info", sub.language, message=message,
                       title=await _title(session, sub), person=sub.sender_name or "",
                       kind=sub.kind, submission_id=sub.id, base_url=settings.base_url)
    msg = compose(settings, to_addr=sub.sender_email, mail=mail, kind="needs_info",
                  to_name=sub.sender_name, reply_token=token)
    row = await enqueue(session, msg, kind="needs_info", initiative_id=sub.initiative_id,
                        submission_id=sub.id)
    return row is not None


def thanks_due(settings: Settings, sub: Submission) -> bool:
    """Whether approving ``sub`` thanks its sender: the contact's own answer (trusted as
    the token's contact, from mail, chat or the answer pages), to an address we can
    write to, and thank-you mails on."""
    return bool(settings.thanks_mail and sub.token_matched and sub.channel in CONTACT_CHANNELS
                and is_mail_address(sub.sender_email))


async def enqueue_thanks(session: AsyncSession, settings: Settings,
                         subs: Sequence[Submission]) -> int:
    """One "the map is updated" mail per contact for these approved submissions (all of
    one bulk approval, or the one just approved), listing each entry with its public
    page. Returns how many mails were queued."""
    by_sender: dict[str, list[Submission]] = {}
    for sub in subs:
        if thanks_due(settings, sub) and sub.result_initiative_id is not None:
            assert sub.sender_email
            by_sender.setdefault(sub.sender_email.lower(), []).append(sub)
    queued = 0
    base = settings.base_url.rstrip("/")
    for address, group in by_sender.items():
        entries = []
        for sub in group:
            initiative = await session.get(Initiative, sub.result_initiative_id)
            if initiative is None:
                continue
            entries.append({"title": initiative.title, "url": f"{base}/initiativ/{initiative.slug}",
                            "confirmed": sub.kind == "confirmation"})
        if not entries:
            continue
        first = group[0]
        mail = render_mail("thanks", first.language, person=first.sender_name or "",
                           entries=entries)
        msg = compose(settings, to_addr=address, mail=mail, kind="thanks",
                      to_name=first.sender_name)
        key = "thanks:" + ",".join(str(s.id) for s in sorted(group, key=lambda s: s.id))
        row = await enqueue(session, msg, kind="thanks", idempotency_key=key[:255],
                            initiative_id=first.result_initiative_id,
                            submission_id=first.id)
        queued += int(row is not None)
    return queued


VERIFY_PURPOSE = "chat_verify"


async def enqueue_verification(session: AsyncSession, settings: Settings, sub: Submission,
                               initiative: Initiative | None) -> None:
    """Mail the sender of an unverified submission (the chat, the new-entry form) the
    link that proves the address; only then does it enter the queue
    (:func:`moderation.submissions.enter_queue`, from ``/chat/verify/{token}``)."""
    token = await issue_token(session, purpose=VERIFY_PURPOSE, submission_id=sub.id,
                              initiative_id=initiative.id if initiative else None,
                              ttl=timedelta(hours=settings.chat_verify_hours))
    title = (sub.proposed.get("title") or (initiative.title if initiative else "")) or ""
    mail = render_mail(
        "chat_verify", sub.language, title=title, kind=sub.kind,
        link=f"{settings.base_url.rstrip('/')}/chat/verify/{token}",
        hours=settings.chat_verify_hours, site=settings.from_name)
    assert sub.sender_email is not None
    message = compose(settings, to_addr=sub.sender_email, mail=mail, kind="verification",
                      to_name=sub.sender_name)
    await enqueue(session, message, kind="verification",
                  idempotency_key=f"chat_verify:{sub.id}", submission_id=sub.id,
                  initiative_id=initiative.id if initiative else None)


__all__ = ["VERIFY_PURPOSE", "enqueue_needs_info", "enqueue_rejection",
           "enqueue_thanks", "enqueue_verification", "thanks_due"]
