"""The audit trail: one row per action, written in the action's own transaction."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.deferred_inserts import insert_later
from moderation.models import AuditEvent

_EVENTS = cast(Table, AuditEvent.__table__)
_INSERT_EVENT = insert(_EVENTS)


async def record_event(session: AsyncSession, *, actor: str, action: str,
                       submission_id: int | None = None, initiative_id: int | None = None,
                       detail: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction: a single prebuilt INSERT (pending
    changes are flushed first, in order; collected when the transaction defers inserts),
    no object kept in the session."""
    await insert_later(session, _EVENTS, _INSERT_EVENT, {
        "actor": actor, "action": action, "submission_id": submission_id,
        "initiative_id": initiative_id, "detail": detail or {}})
