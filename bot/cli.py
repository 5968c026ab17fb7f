"""The ``landkort`` command line.

Each capability registers its own subcommands from a small ``commands`` module (see
COMMAND_MODULES): ``register(subparsers)`` adds parsers whose ``func`` takes the parsed
arguments and returns an exit code (a coroutine function is run with asyncio).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Sequence

from bot.core.commandline import CommandError
from bot.core.logformat import TEXT_FORMAT
from bot.core.settings import SettingsError

COMMAND_MODULES: tuple[str, ...] = (
    "bot.commands",          # run, demo, db, config
    "bot.registry.commands",  # import, export, stats
    "bot.report_command",    # report
    "intake.commands",       # parse, intake …
    "bot.campaigns.commands",  # campaign …
    "moderation.commands",   # user …
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landkort",
        description="Keeps Det telemedicinske landkort fresh: mail and chat intake, "
                    "moderation, reminder campaigns and the public registry.")
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (default: $LANDKORT_CONFIG or ./landkort.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action=_PrintVersion, nargs=0,
                        help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def version() -> str:
    """The installed package's version (pyproject.toml), or "unknown" in a bare checkout."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("landkort")
    except PackageNotFoundError:
        return "unknown"


class _PrintVersion(argparse.Action):
    """``--version``, looked up only when asked: reading the package metadata costs
    about 30 ms, which every other command (``landkort parse`` above all) would pay."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"landkort {version()}")
        parser.exit()


WIRE_LOGGERS = ("aiosqlite", "aioimaplib", "aiosmtplib", "mail.log", "asyncpg")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``landkort`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=TEXT_FORMAT)
    # These log the wire at DEBUG: whole mails and SQL parameters, i.e. reply and
    # unsubscribe tokens and personal data. -v is for landkort's own debug messages.
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    # Alembic announces its plugins and every migration step at INFO, already on import.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    if getattr(args, "uses_database", True):
        # Every table before a command opens the database (bot.core.db checks it); the
        # pure commands (``landkort parse``) skip SQLAlchemy and start in a third the time.
        import bot.schema  # noqa: F401
    try:
        result = func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except (SettingsError, CommandError) as exc:
        print(f"landkort: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main, not this __main__ copy: commands raise
    # bot.core.commandline.CommandError, which must be the class main() catches.
    from bot.cli import main as _main

    sys.exit(_main())
