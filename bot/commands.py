"""Core CLI subcommands: run, demo, db, config."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from bot.core.commandline import open_database, settings_from_args
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.db import Database

# Heavy imports (SQLAlchemy, Alembic, aiohttp) happen inside the commands that need
# them, so registering every command stays cheap and 'landkort parse' starts quickly.

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("run", help="run the service (web app and workers)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="set up demo data and run the whole loop with a mail "
                                    "sandbox on http://127.0.0.1:8080")
    p.add_argument("--seed-only", action="store_true",
                   help="load the demo data into the configured database and exit")
    p.add_argument("--data-dir", default="var/demo",
                   help="folder of the demo database (default var/demo)")
    p.add_argument("--port", type=int, default=None, help="web port (default 8080)")
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database schema")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    p = dbsub.add_parser("upgrade", help="apply migrations up to the newest schema")
    p.set_defaults(func=cmd_db_upgrade)
    p = dbsub.add_parser("status", help="show the schema revision")
    p.set_defaults(func=cmd_db_status)

    p = sub.add_parser("info", help="version, config file, database (password masked), mail "
                                    "settings and the schema's migration state")
    p.set_defaults(func=cmd_info)

    cfg = sub.add_parser("config", help="settings")
    cfgsub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    cfgsub.required = True
    p = cfgsub.add_parser("check", help="print the effective settings (secrets masked) "
                                        "and check them")
    p.add_argument("--for-run", action="store_true",
                   help="also require what 'landkort run' needs (secret_key)")
    p.set_defaults(func=cmd_config_check)


async def serve(settings: Settings, db: Database, *, banner: list[str] | None = None) -> None:
    """Serve the app until SIGINT/SIGTERM; then stop workers gracefully."""
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings, db)
    from bot.observability import RouteAccessLogger

    runner = web.AppRunner(app, handle_signals=False, access_log_class=RouteAccessLogger,
                           access_log=(logging.getLogger("landkort.access")
                                       if settings.access_log else None))
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for line in banner or []:
        print(line, flush=True)
    print(f"landkort is running on http://{settings.http_host}:{settings.http_port} "
          f"(Ctrl-C stops it)", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing current work")
        await runner.cleanup()
        await db.dispose()


async def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    settings.validate(need_secret=True)
    db = await open_database(settings)
    await serve(settings, db)
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo.seed import demo_settings, seed

    overrides: dict[str, Any] = {}
    if not args.seed_only:
        overrides["data_dir"] = args.data_dir
        overrides["database_url"] = ""
    if args.port:
        overrides["http_port"] = args.port
    settings = settings_from_args(args, **overrides)
    if args.seed_only:
        db = await open_database(settings)
        try:
            for line in await seed(settings, db):
                print(line)
        finally:
            await db.dispose()
        return 0
    settings = demo_settings(settings)
    db = await open_database(settings)
    lines = await seed(settings, db)
    base = f"http://{settings.http_host}:{settings.http_port}"
    pages = [f"public registry: {base}/", f"moderation:      {base}/moderation",
             f"chat:            {base}/chat",
             f"mail sandbox:    {base}/sandbox  (reminders go out here; answer one)"]
    await serve(settings, db, banner=["", "landkort demo", *[f"  {x}" for x in lines],
                                      *[f"  {x}" for x in pages], ""])
    return 0


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.core.db import Database
    from bot.core.migrate import current_revision, upgrade

    settings = settings_from_args(args)
    db = Database(settings.effective_database_url,
                  sqlite_inline=settings.sqlite_driver == "inline")
    try:
        await db.wait_until_reachable(attempts=5)
        await upgrade(db)
        print(f"database at revision {await current_revision(db)}")
    finally:
        await db.dispose()
    return 0


async def schema_revision(settings: Settings) -> str | None:
    """The configured database's schema revision (None when it has none yet)."""
    from bot.core.db import Database
    from bot.core.migrate import current_revision

    db = Database(settings.effective_database_url,
                  sqlite_inline=settings.sqlite_driver == "inline")
    try:
        return await current_revision(db)
    finally:
        await db.dispose()


async def cmd_db_status(args: argparse.Namespace) -> int:
    from bot.core.migrate import head_revision

    settings = settings_from_args(args)
    rev = await schema_revision(settings)
    head = head_revision()
    print(f"database: {rev or '(empty)'}; code: {head}"
          + ("" if rev == head else " — run 'landkort db upgrade'"))
    return 0 if rev == head else 1


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    width = max(len(name) for name, _, _ in settings.describe())
    for name, shown, _help in settings.describe():
        print(f"{name:<{width}}  {shown}")
    print(f"{'(database)':<{width}}  {_mask_url(settings.effective_database_url)}")
    settings.validate(need_secret=args.for_run)
    print("settings OK")
    return 0


async def cmd_info(args: argparse.Namespace) -> int:
    """What an operator asks first (like ``mailman info``): which code, which settings file,
    which database and mail servers, and whether the schema is current. Exit 1 when the
    database cannot be read or lags the code."""
    import os
    from pathlib import Path

    from bot.cli import version
    from bot.core.migrate import head_revision
    from bot.core.settings import CONFIG_ENV, DEFAULT_CONFIG_FILE

    settings = settings_from_args(args)
    config = args.config or os.environ.get(CONFIG_ENV, "")
    if not config:
        config = DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).exists() else ""
    head = head_revision()
    try:
        current = await schema_revision(settings)
        state = ("current" if current == head else
                 f"{current or '(empty)'}, code expects {head}: run 'landkort db upgrade'")
    except Exception as exc:  # noqa: BLE001 - reported: this is a diagnosis command
        first_line = (str(exc).splitlines() or [""])[0]
        current, state = None, f"unreachable ({type(exc).__name__}: {first_line})"
    smtp = (f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
            if settings.smtp_enabled else "off")
    imap = (f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port} "
            f"({settings.imap_security}), mailbox {settings.imap_mailbox}"
            if settings.imap_enabled else "off")
    rows = [
        ("version", version()),
        ("config file", str(Path(config).resolve()) if config else "(none: defaults and "
                                                                    "LANDKORT_* variables)"),
        ("data dir", str(Path(settings.data_dir).resolve())),
        ("database", _mask_url(settings.effective_database_url)),
        ("migrations", f"{current or '(none)'} — {state}"),
        ("mail address", settings.intake_address),
        ("smtp", smtp),
        ("imap", imap),
        ("language", settings.language),
        ("base url", settings.base_url),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0 if current == head else 1


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
