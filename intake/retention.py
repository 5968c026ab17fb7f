"""Retention of personal data the registry never needed to keep.

A chat submission whose e-mail was never verified never reached a moderator's decision,
and an old chat conversation is a transcript of what a person typed: both hold names,
addresses and phone numbers. After ``retention_days`` (a setting; 0 keeps everything)
:func:`prune` deletes them, with the verification tokens and mails of those submissions,
and strips their audit rows down to what happened and when (action, actor, time): the
trail keeps its shape, not the person.

Runs daily in :class:`RetentionWorker`; tests call :func:`prune` directly.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail.models import OutboxMessage, ReplyToken
from intake.chat.models import ChatConversation
from moderation.models import AuditEvent, Submission

log = logging.getLogger(__name__)

BATCH = 500
PRUNED_DETAIL = {"pruned": "personal data removed after the retention period"}


@dataclass
class Pruned:
    submissions: int = 0
    conversations: int = 0


async def prune(db: Database, settings: Settings, *, now: datetime | None = None) -> Pruned:
    """Delete unverified chat submissions and chat conversations older than the
    retention period (each batch in its own short write transaction)."""
    result = Pruned()
    if settings.retention_days <= 0:
        return result
    cutoff = (now or dbnow()) - timedelta(days=settings.retention_days)
    while True:
        async with db.write() as session:
            ids = list((await session.scalars(
                select(Submission.id).where(Submission.state == "unverified",
                                            Submission.channel == "chat",
                                            Submission.created_at < cutoff)
                .limit(BATCH))).all())
            if not ids:
                break
            await session.execute(
                update(AuditEvent).where(AuditEvent.submission_id.in_(ids))
                .values(submission_id=None, detail=PRUNED_DETAIL)
                .execution_options(synchronize_session=False))
            await session.execute(delete(ReplyToken).where(ReplyToken.submission_id.in_(ids)))
            await session.execute(delete(OutboxMessage).where(
                OutboxMessage.submission_id.in_(ids)))
            await session.execute(delete(Submission).where(Submission.id.in_(ids)))
            result.submissions += len(ids)
    while True:
        async with db.write() as session:
            ids_c = list((await session.scalars(
                select(ChatConversation.id).where(ChatConversation.updated_at < cutoff)
                .limit(BATCH))).all())
            if not ids_c:
                break
            await session.execute(delete(ChatConversation).where(
                ChatConversation.id.in_(ids_c)))
            result.conversations += len(ids_c)
    if result.submissions or result.conversations:
        log.info("retention: deleted %d unverified chat submissions and %d conversations "
                 "older than %d days", result.submissions, result.conversations,
                 settings.retention_days)
    return result


class RetentionWorker(LoopWorker):
    """Runs :func:`prune` once a day."""

    name = "retention"
    idle_seconds = 24 * 3600.0

    def __init__(self, settings: Settings, db: Database) -> None:
        super().__init__()
        self.settings = settings
        self.db = db

    async def run_once(self) -> int:
        await prune(self.db, self.settings)
        return 0  # all that was due is done: idle until tomorrow


__all__ = ["Pruned", "RetentionWorker", "prune"]
