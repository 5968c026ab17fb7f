"""Sending the outreach campaigns (#19): the invitation and its follow-ups, once each.

Which organisations a campaign mails, and what came of it, is
:mod:`moderation.outreach`; this module sends. It keeps the reminder campaign's rules
(:mod:`bot.campaigns.reminders`): the same sending window, the same gaps between steps
(``reminder_step2_days``, ``reminder_last_step_days``), no mail to an address that opted
out or bounces (the step is *skipped*, with the reason), a List-Unsubscribe link in every
mail, and each step written once — an ``outreach_steps`` row unique per (recipient,
step) and its outbox row (key ``outreach:RECIPIENT:STEP``) in one transaction, each in a
savepoint, so a second instance or a restart that plans the same step writes nothing.

A recipient whose case came back verified (*registered*) gets no follow-up. A campaign
with no step left to take is *finished*.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.campaigns.reminders import (
    UNSUBSCRIBE_TOKEN_TTL,
    CampaignScheduler,
    days_after_step,
    in_sending_window,
)
from bot.core.db import Database, dbnow
from bot.core.i18n import language_of, language_query
from bot.core.settings import Settings
from bot.mail import outbox
from bot.mail.contacts import mail_refusal
from bot.mail.models import OutboxMessage, ReplyToken
from bot.mail.templates import RenderedMail, render_mail
from bot.mail.tokens import hash_token, new_token
from bot.registry.models import Contact
from bot.registry.vocabulary import REGIONS, label_of, official_municipality_name
from moderation.models import (
    Organisation,
    OutreachCampaign,
    OutreachRecipient,
    OutreachStep,
)
from moderation.outreach import LINK_TTL

log = logging.getLogger(__name__)

# The invitation and two follow-ups; no closing step (there is no entry to mark).
LAST_STEP = 3


@dataclass(frozen=True)
class Due:
    """One recipient of a running campaign, with what the planner needs."""

    recipient_id: int
    campaign_id: int
    started_at: datetime
    state: str
    last_step: int | None
    last_step_at: datetime | None


def next_step(d: Due, settings: Settings) -> tuple[int, datetime] | None:
    """(step, due at) of the recipient's next mail, or None when it is done (pure)."""
    if d.state != "waiting":
        return None  # registered: no follow-up
    if d.last_step is None:
        return 1, d.started_at
    gap = days_after_step(d.last_step, settings)
    if d.last_step >= LAST_STEP or gap is None or d.last_step_at is None:
        return None
    return d.last_step + 1, d.last_step_at + timedelta(days=gap)


def due_now(rows: Sequence[Due], now: datetime, settings: Settings, *,
            ignore_window: bool = False) -> list[tuple[Due, int]]:
    """The steps to take at ``now`` (pure): each due recipient once, in id order; none
    outside the sending window."""
    if not ignore_window and not in_sending_window(now, settings):
        return []
    out: list[tuple[Due, int]] = []
    for d in sorted(rows, key=lambda r: r.recipient_id):
        nxt = next_step(d, settings)
        if nxt is not None and nxt[1] <= now:
            out.append((d, nxt[0]))
    return out


async def load_due(db: Database) -> list[Due]:
    """The recipients of running campaigns with their latest step (one query)."""
    last = (select(OutreachStep.recipient_id, func.max(OutreachStep.step).label("step"))
            .group_by(OutreachStep.recipient_id).subquery("last"))
    async with db.read() as session:
        rows = (await session.execute(
            select(OutreachRecipient.id, OutreachRecipient.campaign_id,
                   OutreachCampaign.started_at, OutreachRecipient.state, last.c.step,
                   OutreachStep.created_at)
            .join(OutreachCampaign, OutreachCampaign.id == OutreachRecipient.campaign_id)
            .outerjoin(last, last.c.recipient_id == OutreachRecipient.id)
            .outerjoin(OutreachStep, (OutreachStep.recipient_id == OutreachRecipient.id)
                       & (OutreachStep.step == last.c.step))
            .where(OutreachCampaign.state == "running"))).all()
    return [Due(*r) for r in rows]


def _area(org: Organisation, lang: str) -> str:
    if org.municipality:
        return official_municipality_name(org.municipality)
    return label_of(REGIONS, org.region, lang)


def invitation_link(settings: Settings, token: str, lang: str) -> str:
    """The personal link to /indmeld, in the reader's language."""
    query = {"invitation": token}
    if language_query(lang):
        query["lang"] = language_of(lang)
    return f"{settings.base_url.rstrip('/')}/indmeld?{urlencode(query)}"


def render_outreach(settings: Settings, campaign: OutreachCampaign, org: Organisation,
                    contact: Contact, *, step: int, covered: int, link_token: str,
                    unsubscribe_token: str) -> RenderedMail:
    """The outreach mail: who we are, what the map shows for the organisation's sector
    in its area, the personal link, and how to stop these mails."""
    lang = language_of(contact.language)
    return render_mail(
        "outreach", lang, step=step, organisation=org.name, area=_area(org, lang),
        kind=org.kind, covered=covered,
        contact_name=contact.name or "", link=invitation_link(settings, link_token, lang),
        days=LINK_TTL.days, note=campaign.note or "",
        map_url=settings.base_url.rstrip("/") + "/kort" + language_query(lang),
        unsubscribe_url=outbox.unsubscribe_url(settings, unsubscribe_token))


@dataclass
class TickResult:
    sent: int = 0
    skipped: int = 0
    already: int = 0
    finished: int = 0
    failed: int = 0


def _skip_reason(org: Organisation, contact: Contact) -> str | None:
    """Why no mail can go to this organisation now: the one rule on addresses
    (:func:`bot.mail.contacts.mail_refusal`), or it left the address book."""
    if not org.active:
        return "organisation removed from the address book"
    return mail_refusal(contact.email, contact.email_status)


async def _write_step(db: Database, settings: Settings, d: Due, step: int, now: datetime,
                      result: TickResult) -> None:
    async with db.write() as session:
        # Shared row locks on PostgreSQL (SQLite's write transaction is already alone):
        # a stop, a registration or an opt-out committed meanwhile waits for this
        # transaction and then cancels what it queued (moderation.outreach,
        # bot.mail.contacts), so no mail is queued past any of them.
        campaign = await session.get(OutreachCampaign, d.campaign_id,
                                     with_for_update={"read": True}, populate_existing=True)
        rec = await session.get(OutreachRecipient, d.recipient_id,
                                with_for_update={"read": True}, populate_existing=True)
        if rec is None or campaign is None or campaign.state != "running" \
                or rec.state != "waiting":
            result.already += 1
            return
        org = await session.get(Organisation, rec.organisation_id)
        contact = await session.get(Contact, rec.contact_id, with_for_update={"read": True},
                                    populate_existing=True)
        assert org is not None and contact is not None
        reason = _skip_reason(org, contact)
        rows: tuple[str, OutboxMessage, ReplyToken] | None = None
        if reason is None:
            try:
                rows = _mail_rows(settings, campaign, org, contact, rec, step, now)
            except Exception as exc:  # noqa: BLE001 - one organisation's data; on its step
                log.warning("outreach: cannot compose the mail to organisation %s: %s",
                            org.id, exc)
                reason = f"cannot compose the mail: {type(exc).__name__}"
        try:
            async with session.begin_nested():
                if rows is not None:
                    link_hash, outbox_row, token = rows
                    session.add(outbox_row)
                    await session.flush()
                    session.add(OutreachStep(
                        recipient_id=rec.id, step=step, state="planned",
                        outbox_id=outbox_row.id, token_hash=link_hash,
                        expires_at=now + LINK_TTL, created_at=now))
                    session.add(token)
                else:
                    session.add(OutreachStep(recipient_id=rec.id, step=step,
                                             state="skipped", note=(reason or "")[:300],
                                             created_at=now))
                await session.flush()
        except IntegrityError:
            taken = await session.scalar(select(OutreachStep.id).where(
                OutreachStep.recipient_id == rec.id, OutreachStep.step == step))
            if taken is None:
                raise  # not the step another instance wrote: a real error
            result.already += 1  # (recipient, step) exists: another instance wrote it
            return
        if rows is not None:
            result.sent += 1
        else:
            result.skipped += 1


def _mail_rows(settings: Settings, campaign: OutreachCampaign, org: Organisation,
               contact: Contact, rec: OutreachRecipient, step: int, now: datetime
               ) -> tuple[str, OutboxMessage, ReplyToken]:
    """The personal link's hash and the unsaved rows of one mail: the outbox row and the
    unsubscribe token (composing raises for an address no mail can carry)."""
    assert contact.email
    link_token, unsub_token = new_token(), new_token()
    message_id = outbox.new_message_id(settings.mail_domain)
    mail = render_outreach(settings, campaign, org, contact, step=step, covered=rec.covered,
                           link_token=link_token, unsubscribe_token=unsub_token)
    msg = outbox.compose(settings, to_addr=contact.email, mail=mail, kind="outreach",
                         unsubscribe_token=unsub_token, to_name=contact.name or None,
                         message_id=message_id)
    row = outbox.new_row(msg, kind="outreach", idempotency_key=f"outreach:{rec.id}:{step}",
                         contact_id=contact.id, not_before=now)
    token = ReplyToken(token_hash=hash_token(unsub_token), purpose="unsubscribe",
                       contact_id=contact.id, outbox_message_id=message_id, created_at=now,
                       expires_at=now + UNSUBSCRIBE_TOKEN_TTL)
    return hash_token(link_token), row, token


async def _finish_done(db: Database, settings: Settings, rows: Sequence[Due],
                       result: TickResult) -> None:
    """A running campaign none of whose recipients has a step left is finished."""
    pending: dict[int, bool] = {}
    for d in rows:
        pending[d.campaign_id] = pending.get(d.campaign_id, False) or \
            next_step(d, settings) is not None
    done = [cid for cid, left in pending.items() if not left]
    async with db.read() as session:
        empty = list(await session.scalars(
            select(OutreachCampaign.id).where(
                OutreachCampaign.state == "running",
                ~select(OutreachRecipient.id).where(
                    OutreachRecipient.campaign_id == OutreachCampaign.id).exists())))
    done.extend(empty)
    if not done:
        return
    async with db.write() as session:
        finished = await session.execute(
            update(OutreachCampaign).where(OutreachCampaign.id.in_(done),
                                           OutreachCampaign.state == "running")
            .values(state="finished", stopped_at=dbnow())
            .execution_options(synchronize_session=False))
        result.finished += int(finished.rowcount or 0)  # type: ignore[attr-defined]


async def run_tick(db: Database, settings: Settings, now: datetime, *,
                   ignore_window: bool = False) -> TickResult:
    """Take every outreach step due at ``now`` (one transaction per step: outreach
    mails hundreds, not thousands), then finish the campaigns that are done."""
    result = TickResult()
    rows = await load_due(db)
    for d, step in due_now(rows, now, settings, ignore_window=ignore_window):
        try:
            await _write_step(db, settings, d, step, now, result)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one recipient; the others still get their mail
            log.exception("outreach: step %s for recipient %s failed; the others go on",
                          step, d.recipient_id)
            result.failed += 1
    rows = await load_due(db) if result.sent or result.skipped else rows
    await _finish_done(db, settings, rows, result)
    if result.sent or result.skipped or result.finished or result.failed:
        log.info("outreach tick: %d mails queued, %d skipped, %d already done, %d failed, "
                 "%d campaigns finished", result.sent, result.skipped, result.already,
                 result.failed, result.finished)
    return result


class OutreachScheduler(CampaignScheduler):
    """Runs the outreach :func:`run_tick` every ``campaign_tick_seconds``, as the
    reminder scheduler runs its own; wakes the sender after queueing mail."""

    name = "outreach-scheduler"

    async def tick(self, now: datetime) -> tuple[int, int]:
        result = await run_tick(self.db, self.settings, now)
        return result.sent, result.sent + result.skipped


__all__ = ["LAST_STEP", "Due", "OutreachScheduler", "TickResult", "due_now",
           "load_due", "next_step", "render_outreach", "run_tick"]
