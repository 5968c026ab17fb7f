"""Leads: initiatives someone mentioned that may not be on the map (#19).

Mail replies, the one-page form and the chat record what people mention
(:func:`record_leads`, found by :func:`intake.parse.leads.find_leads`); a moderator then
*invites* someone to register it — a mail with a personal link to ``/indmeld`` that
opens the form prefilled with what the lead tells (:func:`invite_lead`) — or *dismisses*
it. When the invited person sends the form and verifies their address, the lead is
*registered* and the new entry goes through the queue like any other. Every decision is
a conditional UPDATE (two moderators at once: one wins) and is audited.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.core.mailheaders import is_mail_address
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from bot.mail.outbox import compose, enqueue
from bot.mail.templates import render_mail
from bot.mail.tokens import hash_token, new_token
from intake.parse.leads import LeadMention
from moderation.audit import record_event
from moderation.models import Lead

INVITE_TTL = timedelta(days=60)
LEAD_STATES = ("open", "invited", "registered", "dismissed")


class LeadError(Exception):
    """A lead action that cannot be done; ``key`` is the catalogue key saying why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def record_leads(session: AsyncSession, mentions: Sequence[LeadMention], *,
                       channel: str, key: str, mentioned_by: str | None = None,
                       mentioned_by_name: str | None = None,
                       initiative_id: int | None = None, submission_id: int | None = None,
                       inbound_message_id: int | None = None) -> int:
    """Add the mentions as open leads, in the caller's transaction; ``key`` makes a retry
    add nothing (``<key>:<n>`` per mention). Returns how many were added."""
    if not mentions:
        return 0
    keys = [f"{key}:{n}"[:200] for n in range(len(mentions))]
    existing = set(await session.scalars(select(Lead.idempotency_key)
                                         .where(Lead.idempotency_key.in_(keys))))
    added = 0
    for k, m in zip(keys, mentions, strict=True):
        if k in existing:
            continue
        session.add(Lead(
            idempotency_key=k, channel=channel, text=m.text, municipality=m.municipality,
            organisation=(m.organisation or "")[:300] or None,
            contact_email=m.contact_email if m.contact_email and is_mail_address(
                m.contact_email) else None,
            mentioned_by=(mentioned_by or "")[:320] or None,
            mentioned_by_name=(mentioned_by_name or "")[:200] or None,
            initiative_id=initiative_id, submission_id=submission_id,
            inbound_message_id=inbound_message_id, state="open"))
        added += 1
    if added:
        await session.flush()
        await record_event(session, actor=f"{channel}:{mentioned_by or '?'}"[:200],
                           action="lead.added", initiative_id=initiative_id,
                           submission_id=submission_id, detail={"count": added})
    return added


async def invite_lead(db: Database, settings: Settings, lead_id: int, *, to_addr: str,
                      actor: str, lang: str, note: str = "") -> Lead:
    """Mail ``to_addr`` an invitation to register the lead's initiative, with a personal
    link; the lead becomes *invited*. The mail and the state change are one transaction.

    The mail names the organisation and municipality the lead tells, and the moderator's
    own ``note`` — never the words of whoever mentioned it (mail from anyone is not
    forwarded to a third party under our name)."""
    to_addr = to_addr.strip().lower()
    if not is_mail_address(to_addr):
        raise LeadError("err.lead_address")
    token = new_token()
    now = dbnow()
    async with db.write() as session:
        done = await session.execute(
            update(Lead).where(Lead.id == lead_id, Lead.state == "open")
            .values(state="invited", invited_to=to_addr, decided_by=actor, decided_at=now,
                    invite_token_hash=hash_token(token), invite_expires_at=now + INVITE_TTL)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise LeadError("err.lead_decided")
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        await _send_invitation(session, settings, lead, to_addr=to_addr, token=token,
                               lang=lang, note=note, key=f"lead-invite:{lead_id}")
        await record_event(session, actor=actor, action="lead.invited",
                           initiative_id=lead.initiative_id,
                           detail={"lead": lead_id, "to": to_addr})
    return lead


async def reinvite_lead(db: Database, settings: Settings, lead_id: int, *, actor: str,
                        lang: str, note: str = "") -> Lead:
    """Send the invitation again (the invited person never registered, the link may have
    expired): a new personal link replaces the old one, which stops working. A
    conditional UPDATE on a lead still *invited*; each sending has its own key."""
    token = new_token()
    now = dbnow()
    async with db.write() as session:
        lead = await session.get(Lead, lead_id, populate_existing=True)
        if lead is None or lead.state != "invited" or not lead.invited_to:
            raise LeadError("err.lead_decided")
        done = await session.execute(
            update(Lead).where(Lead.id == lead_id, Lead.state == "invited",
                               Lead.invite_token_hash == lead.invite_token_hash)
            .values(invite_token_hash=hash_token(token), invite_expires_at=now + INVITE_TTL,
                    decided_by=actor, decided_at=now)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise LeadError("err.lead_decided")
        sent_before = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(or_(
                OutboxMessage.idempotency_key == f"lead-invite:{lead_id}",
                OutboxMessage.idempotency_key.like(f"lead-invite:{lead_id}:%"))))
        await _send_invitation(session, settings, lead, to_addr=lead.invited_to, token=token,
                               lang=lang, note=note,
                               key=f"lead-invite:{lead_id}:{int(sent_before or 0) + 1}")
        await record_event(session, actor=actor, action="lead.reinvited",
                           initiative_id=lead.initiative_id,
                           detail={"lead": lead_id, "to": lead.invited_to})
    return lead


async def _send_invitation(session: AsyncSession, settings: Settings, lead: Lead, *,
                           to_addr: str, token: str, lang: str, note: str, key: str) -> None:
    """Queue the invitation mail with its personal link (in the caller's transaction)."""
    link = f"{settings.base_url.rstrip('/')}/indmeld?lead={token}"
    mail = render_mail("lead_invite", lang, link=link, days=INVITE_TTL.days,
                       where=", ".join(v for v in (lead.organisation, lead.municipality)
                                       if v),
                       note=" ".join(note.split())[:500])
    await enqueue(session, compose(settings, to_addr=to_addr, mail=mail, kind="lead_invite"),
                  kind="lead_invite", idempotency_key=key)


async def dismiss_lead(db: Database, lead_id: int, *, actor: str, reason: str = "") -> None:
    """The lead is not worth an invitation (already on the map, not telemedicine, …)."""
    async with db.write() as session:
        done = await session.execute(
            update(Lead).where(Lead.id == lead_id, Lead.state == "open")
            .values(state="dismissed", decided_by=actor, decided_at=dbnow())
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise LeadError("err.lead_decided")
        await record_event(session, actor=actor, action="lead.dismissed",
                           detail={"lead": lead_id, "reason": reason[:500]})


async def lead_for_token(session: AsyncSession, token: str) -> Lead | None:
    """The invited lead a personal link belongs to (None: unknown, used or expired)."""
    if not token or len(token) > 100:
        return None
    lead = await session.scalar(select(Lead).where(
        Lead.invite_token_hash == hash_token(token), Lead.state == "invited"))
    if lead is None or (lead.invite_expires_at and lead.invite_expires_at < dbnow()):
        return None
    return lead


async def claim_for_registration(session: AsyncSession, token: str,
                                 submission_id: int) -> bool:
    """The invited person sent the form: the lead points at the new (still unverified)
    case, in the caller's transaction. It becomes *registered* only when the address is
    verified (:func:`registration_verified`); sent again with the same link, the lead
    points at the newest case. A conditional UPDATE on the live, invited lead."""
    if not token or len(token) > 100:
        return False
    done = await session.execute(
        update(Lead).where(Lead.invite_token_hash == hash_token(token),
                           Lead.state == "invited", Lead.invite_expires_at > dbnow())
        .values(registered_submission_id=submission_id)
        .execution_options(synchronize_session=False))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def registration_verified(session: AsyncSession, submission_id: int) -> None:
    """The case an invitation led to was verified and entered the queue: its lead is
    *registered* (in the caller's transaction; nothing when no lead points at it)."""
    done = await session.execute(
        update(Lead).where(Lead.registered_submission_id == submission_id,
                           Lead.state == "invited")
        .values(state="registered").returning(Lead.id, Lead.invited_to))
    for row in done.all():
        await record_event(session, actor=f"web:{row.invited_to or '?'}",
                           action="lead.registered", submission_id=submission_id,
                           detail={"lead": row.id})


def prefill(lead: Lead) -> dict[str, Any]:
    """What the invitation's form starts with: the organisation, the municipality and
    the invited address (the person fills in the rest)."""
    out: dict[str, Any] = {}
    if lead.organisation:
        out["organisation"] = lead.organisation
    if lead.municipality:
        out["municipalities"] = [lead.municipality]
    if lead.invited_to:
        out["contact_email"] = lead.invited_to
    return out


async def list_leads(db: Database, state: str = "open", limit: int = 200) -> list[Lead]:
    """Leads in ``state``, newest first."""
    async with db.read() as session:
        return list(await session.scalars(
            select(Lead).where(Lead.state == state).order_by(Lead.id.desc()).limit(limit)))


async def lead_counts(db: Database) -> dict[str, int]:
    from sqlalchemy import func

    async with db.read() as session:
        rows = (await session.execute(select(Lead.state, func.count())
                                      .group_by(Lead.state))).all()
    return {state: 0 for state in LEAD_STATES} | {s: int(n) for s, n in rows}


__all__ = ["INVITE_TTL", "LEAD_STATES", "LeadError", "dismiss_lead", "invite_lead",
           "reinvite_lead",
           "claim_for_registration", "lead_counts", "lead_for_token", "list_leads", "prefill",
           "record_leads", "registration_verified"]
