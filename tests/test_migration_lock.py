"""Two instances starting at once: only one migrates, the other waits and finds the
schema current (SQLite file lock, PostgreSQL advisory lock)."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.db import Database
from bot.core.migrate import current_revision, head_revision, upgrade
from tests.conftest import pg_url, skip_or_fail


async def _two_upgrades_at_once(first: Database, second: Database) -> None:
    await asyncio.gather(upgrade(first), upgrade(second))
    assert await current_revision(first) == head_revision()
    async with first.read() as session:
        rows = (await session.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert rows == [(head_revision(),)]


@pytest.mark.asyncio
async def test_two_upgrades_at_once_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    first, second = Database(url), Database(url)
    try:
        await _two_upgrades_at_once(first, second)
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_two_upgrades_at_once_on_postgres() -> None:
    base = pg_url()
    if base is None:
        skip_or_fail("LANDKORT_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(base)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    args = {"server_settings": {"search_path": schema}}
    first, second = Database(base, connect_args=args), Database(base, connect_args=args)
    try:
        await _two_upgrades_at_once(first, second)
    finally:
        await first.dispose()
        await second.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
