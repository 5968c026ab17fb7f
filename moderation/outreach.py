"""Outreach campaigns: mailing the organisations whose area has no or few initiatives
(#19), and what came of it.

An administrator makes a campaign (a name, which kinds of organisation, and "few": at
most ``max_initiatives`` ongoing initiatives of the organisation's own sector in its
area) and sees exactly who it would mail (:func:`targets`). Starting it fixes the
recipients (:func:`start_campaign`); the scheduler in :mod:`bot.campaigns.outreach` then
sends the invitation and its follow-ups inside the sending window, once per step. Each
mail carries a personal link to ``/indmeld``, prefilled with the organisation; a case
sent through it and verified makes the recipient *registered* and stops the follow-ups.

Coverage (:func:`covered`, pure) is the map's and the report's rule: an initiative
covers the municipalities it names; an organisation without a municipality (a hospital,
a region) is covered by the initiatives in its region. Only initiatives with the
organisation's own sector among their participants count: a municipality with five
hospital projects and none of its own is still uncovered, and general practice — the
sector MedCom finds missing — is counted on its own.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.mail.models import OutboxMessage
from bot.mail.tokens import hash_token
from bot.registry.models import Contact, Initiative
from bot.registry.vocabulary import ONGOING_STATUSES, PARTICIPANT_KEYS
from moderation.audit import record_event
from moderation.models import (
    Organisation,
    OutreachCampaign,
    OutreachRecipient,
    OutreachStep,
    Submission,
)

CAMPAIGN_STATES = ("draft", "running", "finished", "stopped")
# How long an outreach mail's personal link works.
LINK_TTL = timedelta(days=90)


class OutreachError(Exception):
    """An outreach action that cannot be done; ``key`` is the catalogue key saying why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


# ---------------------------------------------------------------------------------------
# Coverage (pure)


@dataclass(frozen=True)
class Coverage:
    """How many ongoing initiatives of each sector cover each municipality and region."""

    by_municipality: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_region: Counter[tuple[str, str]] = field(default_factory=Counter)


def coverage(entries: Iterable[tuple[Sequence[str], Sequence[str], Sequence[str]]]
             ) -> Coverage:
    """Count ``(participants, municipalities, regions)`` of ongoing initiatives by
    (sector, municipality) and (sector, region)."""
    result = Coverage()
    for participants, municipalities, regions in entries:
        for kind in set(participants or ()):
            for m in set(municipalities or ()):
                result.by_municipality[(kind, m)] += 1
            for r in set(regions or ()):
                result.by_region[(kind, r)] += 1
    return result


def covered(cov: Coverage, kind: str, municipality: str | None, region: str) -> int:
    """The ongoing initiatives of sector ``kind`` in the organisation's area."""
    if municipality:
        return cov.by_municipality[(kind, municipality)]
    return cov.by_region[(kind, region)]


async def load_coverage(session: AsyncSession) -> Coverage:
    """The coverage of the published, ongoing entries (one query)."""
    rows = (await session.execute(
        select(Initiative.participants, Initiative.municipalities, Initiative.regions)
        .where(Initiative.merged_into_id.is_(None),
               Initiative.status.in_(sorted(ONGOING_STATUSES))))).all()
    return coverage((r.participants or [], r.municipalities or [], r.regions or [])
                    for r in rows)


# ---------------------------------------------------------------------------------------
# Campaigns


@dataclass(frozen=True)
class Target:
    """An organisation a campaign would mail, with its area's coverage and address."""

    organisation: Organisation
    covered: int
    email: str
    email_status: str


async def _targets(session: AsyncSession, max_initiatives: int, kinds: Sequence[str]
                   ) -> list[Target]:
    cov = await load_coverage(session)
    query = (select(Organisation, Contact.email, Contact.email_status)
             .join(Contact, Contact.id == Organisation.contact_id)
             .where(Organisation.active.is_(True)).order_by(Organisation.region,
                                                            Organisation.name))
    if kinds:
        query = query.where(Organisation.kind.in_(list(kinds)))
    out: list[Target] = []
    for org, email, status in (await session.execute(query)).all():
        n = covered(cov, org.kind, org.municipality, org.region)
        if n <= max_initiatives:
            out.append(Target(org, n, email or "", status or "ok"))
    return out


async def targets(db: Database, campaign_id: int) -> list[Target]:
    """Who the campaign mails (a draft: who it would mail if started now)."""
    async with db.read() as session:
        campaign = await session.get(OutreachCampaign, campaign_id)
        if campaign is None:
            raise OutreachError("err.outreach_unknown")
        if campaign.state == "draft":
            return await _targets(session, campaign.max_initiatives, campaign.kinds or [])
        rows = (await session.execute(
            select(OutreachRecipient, Organisation, Contact.email, Contact.email_status)
            .join(Organisation, Organisation.id == OutreachRecipient.organisation_id)
            .join(Contact, Contact.id == OutreachRecipient.contact_id)
            .where(OutreachRecipient.campaign_id == campaign_id)
            .order_by(Organisation.region, Organisation.name))).all()
        return [Target(org, rec.covered, email or "", status or "ok")
                for rec, org, email, status in rows]


async def create_campaign(db: Database, *, name: str, max_initiatives: int,
                          kinds: Sequence[str], note: str, actor: str) -> OutreachCampaign:
    """A new campaign in *draft* (nothing is sent until it is started)."""
    name = " ".join(name.split())[:200]
    if not name:
        raise OutreachError("err.outreach_name")
    if not 0 <= max_initiatives <= 100:
        raise OutreachError("err.outreach_threshold")
    chosen = [k for k in PARTICIPANT_KEYS if k in set(kinds)]
    async with db.write() as session:
        campaign = OutreachCampaign(name=name, max_initiatives=max_initiatives,
                                    kinds=chosen, note=" ".join(note.split())[:1000] or None,
                                    state="draft", created_by=actor, created_at=dbnow())
        session.add(campaign)
        await session.flush()
        await record_event(session, actor=actor, action="outreach.created",
                           detail={"campaign": campaign.id, "name": name})
    return campaign


async def start_campaign(db: Database, campaign_id: int, *, actor: str) -> int:
    """Start a draft: the recipients are chosen now (who the preview showed), and the
    scheduler mails them. A conditional UPDATE: started twice, it starts once. Returns
    how many organisations it will mail."""
    now = dbnow()
    async with db.write() as session:
        done = await session.execute(
            update(OutreachCampaign)
            .where(OutreachCampaign.id == campaign_id, OutreachCampaign.state == "draft")
            .values(state="running", started_at=now, started_by=actor)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise OutreachError("err.outreach_state")
        campaign = await session.get(OutreachCampaign, campaign_id)
        assert campaign is not None
        chosen = await _targets(session, campaign.max_initiatives, campaign.kinds or [])
        # An organisation still waiting in another running campaign gets one series of
        # mails, not two.
        busy = set(await session.scalars(
            select(OutreachRecipient.organisation_id)
            .join(OutreachCampaign, OutreachCampaign.id == OutreachRecipient.campaign_id)
            .where(OutreachCampaign.state == "running", OutreachCampaign.id != campaign_id,
                   OutreachRecipient.state == "waiting")))
        chosen = [t for t in chosen if t.organisation.id not in busy]
        session.add_all([OutreachRecipient(
            campaign_id=campaign_id, organisation_id=t.organisation.id,
            contact_id=t.organisation.contact_id, kind=t.organisation.kind,
            region=t.organisation.region, covered=t.covered, state="waiting",
            created_at=now) for t in chosen])
        await session.flush()
        await record_event(session, actor=actor, action="outreach.started",
                           detail={"campaign": campaign_id, "recipients": len(chosen)})
    return len(chosen)


async def stop_campaign(db: Database, campaign_id: int, *, actor: str) -> None:
    """Stop a running campaign: no further mail (mail already queued still goes)."""
    async with db.write() as session:
        done = await session.execute(
            update(OutreachCampaign)
            .where(OutreachCampaign.id == campaign_id, OutreachCampaign.state == "running")
            .values(state="stopped", stopped_at=dbnow())
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise OutreachError("err.outreach_state")
        cancelled = await _cancel_pending(session, OutreachRecipient.campaign_id == campaign_id)
        await record_event(session, actor=actor, action="outreach.stopped",
                           detail={"campaign": campaign_id, "cancelled": cancelled})


async def _cancel_pending(session: AsyncSession, which: Any) -> int:
    """Cancel the outreach mail still waiting in the outbox for the recipients ``which``
    selects (a campaign stopped, a recipient registered); mail a sender already took
    goes."""
    done = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "pending", OutboxMessage.id.in_(
            select(OutreachStep.outbox_id)
            .join(OutreachRecipient, OutreachRecipient.id == OutreachStep.recipient_id)
            .where(which, OutreachStep.outbox_id.is_not(None))))
        .values(state="cancelled", last_error="outreach stopped or answered")
        .execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


async def list_campaigns(db: Database) -> list[OutreachCampaign]:
    """Every campaign, newest first."""
    async with db.read() as session:
        return list(await session.scalars(select(OutreachCampaign)
                                          .order_by(OutreachCampaign.id.desc())))


async def get_campaign(db: Database, campaign_id: int) -> OutreachCampaign | None:
    async with db.read() as session:
        return await session.get(OutreachCampaign, campaign_id)


# ---------------------------------------------------------------------------------------
# The personal link


async def recipient_for_token(session: AsyncSession, token: str
                              ) -> tuple[Organisation, Contact] | None:
    """The organisation and address an outreach mail's personal link was made for
    (None: unknown or expired)."""
    if not token or len(token) > 100:
        return None
    row = (await session.execute(
        select(Organisation, Contact, OutreachStep.expires_at)
        .join(OutreachRecipient, OutreachRecipient.organisation_id == Organisation.id)
        .join(OutreachStep, OutreachStep.recipient_id == OutreachRecipient.id)
        .join(Contact, Contact.id == OutreachRecipient.contact_id)
        .where(OutreachStep.token_hash == hash_token(token)))).first()
    if row is None or (row.expires_at is not None and row.expires_at < dbnow()):
        return None
    return row.Organisation, row.Contact


def prefill(organisation: Organisation, contact: Contact) -> dict[str, Any]:
    """What the form starts with: the organisation, its sector, municipality or region,
    and the address we wrote to."""
    out: dict[str, Any] = {"organisation": organisation.name,
                           "participants": [organisation.kind],
                           "regions": [organisation.region]}
    if organisation.municipality:
        out["municipalities"] = [organisation.municipality]
    if contact.email:
        out["contact_email"] = contact.email
    if contact.name:
        out["contact_name"] = contact.name
    return out


async def claim_for_registration(session: AsyncSession, token: str,
                                 submission_id: int) -> bool:
    """A case was sent through an outreach link: its recipient points at the case (the
    newest, if sent again), in the caller's transaction. *Registered* only once the
    address is verified (:func:`registration_verified`)."""
    if not token or len(token) > 100:
        return False
    recipient_id = await session.scalar(
        select(OutreachStep.recipient_id).where(OutreachStep.token_hash == hash_token(token),
                                                OutreachStep.expires_at > dbnow()))
    if recipient_id is None:
        return False
    # Only while waiting: a later case through the same link (a second initiative) does
    # not replace the one that registered it.
    await session.execute(
        update(OutreachRecipient).where(OutreachRecipient.id == recipient_id,
                                        OutreachRecipient.state == "waiting")
        .values(submission_id=submission_id).execution_options(synchronize_session=False))
    return True


async def registration_verified(session: AsyncSession, submission_id: int) -> None:
    """The case an outreach link led to was verified: the recipient is *registered*
    and gets no more follow-ups (in the caller's transaction)."""
    done = await session.execute(
        update(OutreachRecipient)
        .where(OutreachRecipient.submission_id == submission_id,
               OutreachRecipient.state == "waiting")
        .values(state="registered", registered_at=dbnow())
        .returning(OutreachRecipient.id, OutreachRecipient.campaign_id))
    for row in done.all():
        await _cancel_pending(session, OutreachRecipient.id == row.id)
        await record_event(session, actor="web", action="outreach.registered",
                           submission_id=submission_id,
                           detail={"campaign": row.campaign_id, "recipient": row.id})


# ---------------------------------------------------------------------------------------
# Statistics


@dataclass
class OutreachStats:
    """How a campaign went, overall or for one kind or region."""

    recipients: int = 0
    invited: int = 0          # at least one mail was sent
    followed_up: int = 0      # more than one mail was sent
    skipped: int = 0          # every step so far skipped (opted out or bouncing before)
    bounced: int = 0
    opted_out: int = 0        # opted out after the campaign started
    registered: int = 0       # sent a case through the link and verified it
    approved: int = 0         # … and a moderator approved it
    no_answer: int = 0        # mailed, and none of the above yet

    def add(self, other: OutreachStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


async def outreach_stats(db: Database, campaign_id: int
                         ) -> tuple[OutreachStats, dict[str, OutreachStats],
                                    dict[str, OutreachStats]]:
    """The campaign's figures: overall, by kind and by region (the one place they are
    counted). A recipient *bounced* when a mail to it failed or its address bounces,
    *opted out* when that happened after the start."""
    async with db.read() as session:
        campaign = await session.get(OutreachCampaign, campaign_id)
        if campaign is None:
            raise OutreachError("err.outreach_unknown")
        started = campaign.started_at
        recipients = (await session.execute(
            select(OutreachRecipient.id, OutreachRecipient.state, OutreachRecipient.kind,
                   OutreachRecipient.region, Contact.email_status, Contact.opted_out_at,
                   Submission.state.label("sub_state"))
            .join(Contact, Contact.id == OutreachRecipient.contact_id)
            .outerjoin(Submission, Submission.id == OutreachRecipient.submission_id)
            .where(OutreachRecipient.campaign_id == campaign_id))).all()
        steps = (await session.execute(
            select(OutreachStep.recipient_id, OutreachStep.step, OutreachStep.state,
                   OutboxMessage.state.label("mail_state"))
            .join(OutreachRecipient, OutreachRecipient.id == OutreachStep.recipient_id)
            .outerjoin(OutboxMessage, OutboxMessage.id == OutreachStep.outbox_id)
            .where(OutreachRecipient.campaign_id == campaign_id))).all()
    by_recipient: dict[int, list[Any]] = {}
    for s in steps:
        by_recipient.setdefault(s.recipient_id, []).append(s)
    total = OutreachStats()
    by_kind: dict[str, OutreachStats] = {}
    by_region: dict[str, OutreachStats] = {}
    for r in recipients:
        mine = by_recipient.get(r.id, [])
        st = OutreachStats(recipients=1)
        sent = sum(1 for s in mine if s.mail_state == "sent")
        st.invited = int(sent >= 1)
        st.followed_up = int(sent >= 2)
        st.skipped = int(bool(mine) and all(s.state == "skipped" for s in mine))
        st.bounced = int(any(s.mail_state == "failed" for s in mine)
                         or (r.email_status == "bouncing" and not st.skipped))
        st.opted_out = int(r.email_status == "opted_out" and r.opted_out_at is not None
                           and started is not None and r.opted_out_at >= started)
        st.registered = int(r.state == "registered")
        st.approved = int(st.registered and r.sub_state == "approved")
        st.no_answer = int(st.invited and not (st.registered or st.bounced or st.opted_out))
        total.add(st)
        by_kind.setdefault(r.kind, OutreachStats()).add(st)
        by_region.setdefault(r.region, OutreachStats()).add(st)
    return total, dict(sorted(by_kind.items())), dict(sorted(by_region.items()))


async def recipient_counts(db: Database) -> dict[int, int]:
    """Recipients per campaign (for the list)."""
    async with db.read() as session:
        rows = (await session.execute(
            select(OutreachRecipient.campaign_id, func.count())
            .group_by(OutreachRecipient.campaign_id))).all()
    return {int(c): int(n) for c, n in rows}


__all__ = ["CAMPAIGN_STATES", "LINK_TTL", "Coverage", "OutreachError", "OutreachStats",
           "Target", "claim_for_registration", "coverage", "covered", "create_campaign",
           "get_campaign", "list_campaigns", "load_coverage", "outreach_stats", "prefill",
           "recipient_counts", "recipient_for_token", "registration_verified",
           "start_campaign", "stop_campaign", "targets"]
