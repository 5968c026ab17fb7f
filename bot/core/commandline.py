"""What every ``landkort`` subcommand shares: the user-facing error, settings from the
command line, and opening the configured database.

The parser and ``main`` live in :mod:`bot.cli` at the top of the import graph; command
modules in each domain import only this, so none of them imports upward.
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from bot.core.logformat import apply_format
from bot.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.core.db import Database


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit code 1."""


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Load settings honouring ``--config`` (raises SettingsError with a clear message)
    and apply their ``log_level`` (``-v`` wins: it asks for DEBUG)."""
    settings = load_settings(getattr(args, "config", None), **overrides)
    if not getattr(args, "verbose", False):
        logging.getLogger().setLevel(settings.log_level)
    apply_format(settings.log_format)
    return settings


async def open_database(settings: Settings, *, migrate_sqlite: bool = True) -> Database:
    """Open the configured database, waiting for it; SQLite is migrated automatically,
    PostgreSQL must be at the newest revision ('landkort db upgrade')."""
    from bot.core.db import Database
    from bot.core.migrate import current_revision, head_revision, upgrade

    db = Database(settings.effective_database_url,
                  sqlite_inline=settings.sqlite_driver == "inline")
    await db.wait_until_reachable()
    if db.is_sqlite and migrate_sqlite:
        await upgrade(db)
    else:
        rev = await current_revision(db)
        if rev != head_revision():
            await db.dispose()
            raise CommandError(f"the database schema is at {rev or 'nothing'}, the code "
                               f"needs {head_revision()}: run 'landkort db upgrade'")
    return db
