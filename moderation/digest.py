"""The moderators' daily digest: one mail a day at ``digest_hour`` local time.

It says how big the queue is, how old its oldest item is, which addresses bounced since
the last digest, which entries need a new contact person and which were marked
``unconfirmed`` since the last digest. Each moderator's mail has the idempotency key
``digest:<local date>:<address>`` (unique in the outbox), so two instances — or a
restart after the mail was queued — send one digest per day.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail import outbox
from bot.mail.models import CampaignStep, OutboxMessage
from bot.mail.templates import render_mail
from bot.registry.models import Initiative

log = logging.getLogger(__name__)

LIST_LIMIT = 25


def digest_key(day: date, address: str) -> str:
    return f"digest:{day.isoformat()}:{address.lower()}"


def local_now(now: datetime, settings: Settings) -> datetime:
    return now.replace(tzinfo=UTC).astimezone(ZoneInfo(settings.timezone))


def digest_due(now: datetime, settings: Settings) -> date | None:
    """The local date whose digest is due at ``now`` (naive UTC), or None before
    ``digest_hour``."""
    local = local_now(now, settings)
    return local.date() if local.hour >= settings.digest_hour else None


async def gather(session: AsyncSession, now: datetime, since: datetime | None
                 ) -> dict[str, Any]:
    """The digest's figures (``since``: when the previous digest was queued)."""
    from bot.mail.models import BounceEvent
    from moderation.models import Submission
    from moderation.states import OPEN_STATES

    queue_size = int(await session.scalar(
        select(func.count()).select_from(Submission)
        .where(Submission.state.in_(OPEN_STATES))) or 0)
    oldest_row = (await session.execute(
        select(Submission.id, Submission.created_at).where(Submission.state == "pending")
        .order_by(Submission.created_at, Submission.id).limit(1))).first()
    oldest = None
    if oldest_row is not None:
        oldest = {"id": oldest_row.id, "created": oldest_row.created_at,  # naive UTC
                  "age_days": max(0, (now - oldest_row.created_at).days)}
    bounce_q = select(BounceEvent.address, BounceEvent.status, BounceEvent.permanent)
    if since is not None:
        bounce_q = bounce_q.where(BounceEvent.created_at > since)
    bounces = [{"address": b.address, "status": b.status, "permanent": b.permanent}
               for b in (await session.execute(
                   bounce_q.order_by(BounceEvent.created_at).limit(500))).all()]
    published = Initiative.merged_into_id.is_(None)
    needs_total = int(await session.scalar(
        select(func.count()).select_from(Initiative)
        .where(published, Initiative.needs_new_contact.is_(True))) or 0)
    needs = [{"id": r.id, "title": r.title, "slug": r.slug} for r in (await session.execute(
        select(Initiative.id, Initiative.title, Initiative.slug)
        .where(published, Initiative.needs_new_contact.is_(True))
        .order_by(Initiative.updated_at.desc()).limit(LIST_LIMIT))).all()]
    unconfirmed_total = int(await session.scalar(
        select(func.count()).select_from(Initiative)
        .where(published, Initiative.unconfirmed.is_(True))) or 0)
    closed_q = (select(Initiative.id, Initiative.title, Initiative.slug)
                .join(CampaignStep, CampaignStep.initiative_id == Initiative.id)
                .where(CampaignStep.step == 4, published, Initiative.unconfirmed.is_(True)))
    if since is not None:
        closed_q = closed_q.where(CampaignStep.created_at > since)
    unconfirmed_new = [{"id": r.id, "title": r.title, "slug": r.slug}
                       for r in (await session.execute(
                           closed_q.order_by(Initiative.title).limit(500))).all()]
    return {"queue_size": queue_size, "oldest": oldest, "new_bounces": bounces,
            "needs_new_contact": needs, "needs_new_contact_total": needs_total,
            "unconfirmed_new": unconfirmed_new, "unconfirmed_total": unconfirmed_total}


async def queue_digest(db: Database, settings: Settings, now: datetime, *,
                       force_day: date | None = None) -> int:
    """Queue today's digest for every moderator unless it is not yet time or it was
    queued before; returns how many mails were queued."""
    addresses = settings.moderator_email_list
    day = force_day or digest_due(now, settings)
    if not addresses or day is None:
        return 0
    keys = [digest_key(day, a) for a in addresses]
    async with db.read() as session:
        done = set((await session.scalars(select(OutboxMessage.idempotency_key)
                                          .where(OutboxMessage.idempotency_key.in_(keys))))
                   .all())
    if len(done) == len(keys):
        return 0
    queued = 0
    async with db.write() as session:
        since = await session.scalar(
            select(func.max(OutboxMessage.created_at))
            .where(OutboxMessage.kind == "digest",
                   OutboxMessage.idempotency_key.notin_(keys)))
        figures = await gather(session, now, since)
        for address, key in zip(addresses, keys, strict=True):
            if key in done:
                continue
            mail = render_mail("digest", settings.language, date=day,
                               timezone=ZoneInfo(settings.timezone),
                               base_url=settings.base_url.rstrip("/"), limit=LIST_LIMIT,
                               **figures)
            msg = outbox.compose(settings, to_addr=address, mail=mail, kind="digest")
            row = await outbox.enqueue(session, msg, kind="digest", idempotency_key=key,
                                       not_before=now)
            queued += row is not None
    if queued:
        log.info("digest for %s queued for %d moderator(s)", day, queued)
    return queued


class DigestWorker(LoopWorker):
    """Checks every few minutes whether today's digest is due."""

    name = "digest"

    def __init__(self, settings: Settings, db: Database, *,
                 clock: Callable[[], datetime] = dbnow, check_seconds: float = 300.0,
                 on_queued: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
        self.clock = clock
        self.idle_seconds = check_seconds
        self.on_queued = on_queued

    async def run_once(self) -> int:
        if self.stopping:
            return 0
        queued = await queue_digest(self.db, self.settings, self.clock())
        if queued and self.on_queued is not None:
            self.on_queued()
        return 0  # wait check_seconds either way
