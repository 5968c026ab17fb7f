"""The audit trail: one row per action, written in the action's own transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.models import AuditEvent


async def record_event(session: AsyncSession, *, actor: str, action: str,
                       submission_id: int | None = None, initiative_id: int | None = None,
                       detail: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction: a single INSERT (ORM-enabled, so
    pending changes are flushed first, in order), no object kept in the session."""
    await session.execute(insert(AuditEvent).values(
        actor=actor, action=action, submission_id=submission_id,
        initiative_id=initiative_id, detail=detail or {}))
