"""The audit trail: one row per action, written in the action's own transaction."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import execute_prebuilt
from moderation.models import AuditEvent

_INSERT_EVENT = insert(cast(Table, AuditEvent.__table__))


async def record_event(session: AsyncSession, *, actor: str, action: str,
                       submission_id: int | None = None, initiative_id: int | None = None,
                       detail: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction: a single prebuilt INSERT (pending
    changes are flushed first, in order), no object kept in the session."""
    await execute_prebuilt(session, _INSERT_EVENT, {
        "actor": actor, "action": action, "submission_id": submission_id,
        "initiative_id": initiative_id, "detail": detail or {}})
