"""Schema migrations (Alembic) run from code: ``landkort db upgrade``, ``run``, ``demo``."""
from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.core.db import Database

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What Alembic's autogenerate compares: not the search index's parts no model
    declares — SQLite's FTS5 table and its shadow tables (``search_fts*``), PostgreSQL's
    GIN expression index (migration 0010)."""
    if type_ == "table" and name and name.startswith("search_fts"):
        return False
    return not (type_ == "index" and name == "ix_search_entries_document")


def alembic_config() -> Config:
    # Alembic logs every step at INFO; landkort's own messages say what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


# pg_advisory_xact_lock key for schema upgrades ("landkort" as a number).
MIGRATION_LOCK_KEY = 0x6C616E646B6F7274 & 0x7FFFFFFFFFFFFFFF


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (idempotent).

    Two instances starting at once must not both migrate: on PostgreSQL the upgrade's
    transaction first takes an advisory lock, so the second waits and then finds the
    schema current; on an SQLite file an exclusive lock on ``<file>.migrate.lock``
    does the same (``flock``, in a thread so the event loop keeps running).
    """

    def _run(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with _file_lock(_sqlite_lock_path(db)):
        async with db.write_engine.begin() as conn:
            if db.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(_run)


def _sqlite_lock_path(db: Database) -> Path | None:
    if not db.is_sqlite:
        return None
    database = make_url(db.url).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.migrate.lock")


@asynccontextmanager
async def _file_lock(path: Path | None) -> AsyncIterator[None]:
    if path is None:
        yield
        return
    handle = await asyncio.to_thread(_lock_file, path)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _lock_file(path: Path) -> IO[bytes]:
    handle = open(path, "ab")  # noqa: SIM115 - closed by _file_lock
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""

    def _get(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(_get)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
