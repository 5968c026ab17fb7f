"""Likely duplicates of a proposed or existing entry (scored with rapidfuzz).

Interface used by intake (new submissions), the chat and the moderation UI. The scoring
and blocking implementation belongs to the moderation web capability.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession


async def find_duplicates(session: AsyncSession, record: Mapping[str, Any], *,
                          exclude_initiative_id: int | None = None,
                          limit: int = 5) -> list[dict[str, Any]]:
    """Published entries that look like ``record`` (canonical keys), best first:
    ``[{"initiative_id": int, "title": str, "score": float (0–100)}]``."""
    return []
