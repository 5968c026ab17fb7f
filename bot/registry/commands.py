"""Registry subcommands: ``landkort import``, ``landkort export``, ``landkort stats``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.core.commandline import CommandError, settings_from_args

MAX_DUPLICATES_LISTED = 50


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``import``, ``export`` and ``stats``."""
    p = sub.add_parser(
        "import", help="import entries from a CSV file (all rows valid, or nothing)",
        description="Import registry entries from a CSV file whose first row names the "
                    "columns (canonical keys such as title, contact_email, or the Danish or "
                    "English labels such as Titel, Kommuner). ';' or ',' delimited, UTF-8 or "
                    "windows-1252. Every row is checked first; nothing is imported unless "
                    "all rows are valid. Rows whose title and organisation already exist "
                    "are skipped, so importing the same file twice adds nothing.")
    p.add_argument("file", metavar="FILE.csv", help="the CSV file")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and list the invalid ones")
    p.add_argument("--dry-run", action="store_true",
                   help="check the file and show what would be imported; write nothing")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export the published registry as CSV or JSON",
                       description="Write every published entry as CSV (labels, lists "
                                   "joined with '; ', readable by 'landkort import') or "
                                   "JSON (a list of records with vocabulary keys).")
    p.add_argument("--format", choices=("csv", "json"), default="csv",
                   help="output format (default csv)")
    p.add_argument("--delimiter", choices=(",", ";"), default=",",
                   help="CSV delimiter (default ','; ';' for Excel with Danish settings)")
    p.add_argument("--out", metavar="FILE",
                   help="write to FILE instead of standard output (CSV files get a BOM "
                        "so Excel reads them as UTF-8)")
    p.add_argument("--with-contacts", action="store_true",
                   help="include every contact's name, e-mail and phone, also of contacts "
                        "who did not consent to publication (a backup for the editors; "
                        "without it only what the public pages show)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stats", help="MedCom's yearly figures: status, sectors, regions, "
                                     "start years",
                       description="Counts and shares of the published entries per status, "
                                   "ongoing vs ended, participants, single- vs cross-sector "
                                   "(each combination), region and start year.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("reindex", help="rebuild the catalogue's search index",
                       description="Index every published entry afresh (full text and "
                                   "filter values). The index is kept in step with every "
                                   "change; this repairs it after a restore or by hand.")
    p.set_defaults(func=cmd_reindex)


async def cmd_reindex(args: argparse.Namespace) -> int:
    """``landkort reindex``: rebuild the search index in one transaction."""
    from bot.core.commandline import open_database
    from bot.registry.search_index import rebuild

    settings = settings_from_args(args)
    db = await open_database(settings)
    try:
        async with db.write() as session:
            count = await rebuild(session)
    finally:
        await db.dispose()
    print(f"search index rebuilt: {count} published entries")
    return 0


async def cmd_import(args: argparse.Namespace) -> int:
    """``landkort import FILE.csv [--skip-invalid] [--dry-run]``."""
    from bot.core.commandline import open_database
    from bot.registry.csv_import import CsvFormatError, import_rows, likely_duplicates, parse_csv

    settings = settings_from_args(args)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        parsed = parse_csv(data)
    except CsvFormatError as exc:
        raise CommandError(f"{path}: {exc}") from None
    delimiter = {"\t": "tab"}.get(parsed.delimiter, parsed.delimiter)
    print(f"{path}: {parsed.encoding}, delimiter {delimiter!r}, "
          f"{len(parsed.rows) + len(parsed.invalid_lines)} rows, "
          f"{len(parsed.invalid_lines)} invalid", file=sys.stderr)
    if parsed.ignored_columns:
        print(f"ignored columns: {', '.join(parsed.ignored_columns)}", file=sys.stderr)
    for error in parsed.errors:
        print(str(error), file=sys.stderr)
    if parsed.errors and not args.skip_invalid:
        raise CommandError(
            f"{len(parsed.invalid_lines)} invalid row(s) in {path}; nothing imported. Fix "
            f"them, or use --skip-invalid to import the {len(parsed.rows)} valid row(s).")

    db = await open_database(settings)
    try:
        bar = _ProgressBar()
        try:
            plan = await import_rows(db, parsed.rows, source=f"import of {path.name}",
                                     dry_run=args.dry_run, progress=bar.update)
        finally:
            bar.close()
        duplicates = await likely_duplicates(db, plan)
    finally:
        await db.dispose()

    for skipped in plan.skipped:
        print(f'line {skipped.row.line}: skipped "{skipped.row.title}": {skipped.reason}')
    for dup in duplicates[:MAX_DUPLICATES_LISTED]:
        print(f'line {dup.row.line}: "{dup.row.title}" looks like entry #{dup.initiative_id} '
              f'"{dup.title}" (score {dup.score:.0f}); merge them in the moderation UI if '
              "they are the same")
    if len(duplicates) > MAX_DUPLICATES_LISTED:
        print(f"… and {len(duplicates) - MAX_DUPLICATES_LISTED} more rows that look like "
              "other entries (see the duplicate hints in the moderation UI)")
    verb = "would import" if args.dry_run else "imported"
    summary = f"{verb} {len(plan.create)} entr{'y' if len(plan.create) == 1 else 'ies'}"
    if plan.skipped:
        summary += f", skipped {len(plan.skipped)} that already exist"
    if parsed.errors:
        summary += f", left out {len(parsed.invalid_lines)} invalid row(s)"
    print(summary + (" (dry run: nothing written)" if args.dry_run else ""))
    return 0


class _ProgressBar:
    """A tqdm bar on stderr (off when stderr is not a terminal)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, file=sys.stderr, unit="entry", desc="importing",
                         disable=not sys.stderr.isatty(), leave=False)

    def update(self, done: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


async def cmd_export(args: argparse.Namespace) -> int:
    """``landkort export --format csv|json [--out FILE]``."""
    from bot.core.commandline import open_database
    from bot.registry.export import published_records, render

    settings = settings_from_args(args)
    db = await open_database(settings)
    try:
        records = await published_records(db, with_contacts=args.with_contacts)
    finally:
        await db.dispose()
    output = render(records, args.format, delimiter=args.delimiter)
    if args.out:
        encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
        try:
            with open(args.out, "w", encoding=encoding, newline="") as fh:
                fh.write(output)
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"exported {len(records)} entries to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(output)
        sys.stdout.flush()
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    """``landkort stats [--json]``."""
    from bot.core.commandline import open_database
    from bot.registry.stats import format_stats, registry_stats, stats_json

    settings = settings_from_args(args)
    db = await open_database(settings)
    try:
        stats = await registry_stats(db)
    finally:
        await db.dispose()
    if args.json:
        print(json.dumps(stats_json(stats), ensure_ascii=False, indent=2))
    else:
        print(format_stats(stats, settings.language))
    return 0
