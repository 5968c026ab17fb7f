"""``landkort report``: the yearly report as HTML, PDF, CSV and JSON files."""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.commandline import CommandError, settings_from_args

STYLESHEETS = ("site.css", "public.css")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``report``."""
    p = sub.add_parser(
        "report", help="write the yearly report (HTML, PDF, CSV, JSON) for a year",
        description="Count the yearly report for YEAR at its reference date "
                    "(stats_reference_day, 1 October by default) from the registry's "
                    "history, and write landkort-rapport-YEAR.html, .pdf, .csv and .json "
                    "into DIR. --freeze publishes the report (it is kept as it is now and never "
                    "changes again; only once its reference date has passed). A published "
                    "report is written as it was frozen.")
    p.add_argument("--year", type=int, required=True, help="the year, e.g. 2026")
    p.add_argument("--out", metavar="DIR", required=True, help="the directory to write to")
    p.add_argument("--lang", choices=("da", "en"), default=None,
                   help="the language of the HTML, PDF and CSV (default: the setting)")
    p.add_argument("--freeze", action="store_true",
                   help="publish: keep this report as the year's frozen copy")
    p.set_defaults(func=cmd_report)


async def cmd_report(args: argparse.Namespace) -> int:
    """``landkort report --year YEAR --out DIR [--lang da|en] [--freeze]``."""
    from bot.app import page_environment
    from bot.core.commandline import open_database
    from bot.mail.templates import TEMPLATES_DIR
    from bot.public.report_page import report_document
    from bot.registry.terms import term_index
    from bot.report.figures import FIRST_YEAR
    from bot.report.files import report_csv, report_json, report_pdf
    from bot.report.store import report_for

    settings = settings_from_args(args)
    lang = args.lang or settings.language
    today = datetime.now(UTC).date()
    if not FIRST_YEAR <= args.year <= today.year:
        raise CommandError(f"--year: choose a year from {FIRST_YEAR} to {today.year}")
    out = Path(args.out)
    db = await open_database(settings)
    try:
        data = await report_for(db, args.year, reference_day=settings.stats_reference_day,
                                today=today, freeze=args.freeze, actor="cli")
        async with db.read() as session:
            terms = await term_index(session)
    finally:
        await db.dispose()
    if args.freeze and not data.get("frozen_at"):
        raise CommandError(f"the report for {args.year} cannot be frozen before its "
                           f"reference date")

    def label(vocabulary: str, value: str) -> str:
        return terms.label(vocabulary, value, lang)

    css = "\n".join((TEMPLATES_DIR / "static" / name).read_text(encoding="utf-8")
                    for name in STYLESHEETS)
    stem = f"landkort-rapport-{args.year}"
    files = {
        f"{stem}.html": report_document(page_environment(settings.timezone), data, lang,
                                        css=css, term_label=label).encode("utf-8"),
        f"{stem}.pdf": report_pdf(data, lang, term_label=label),
        f"{stem}.csv": report_csv(data, lang, term_label=label).encode("utf-8"),
        f"{stem}.json": report_json(data).encode("utf-8"),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (out / name).write_bytes(body)
    except OSError as exc:
        raise CommandError(f"cannot write to {out}: {exc.strerror or exc}") from None
    state = "frozen" if data.get("frozen_at") else "preliminary"
    print(f"wrote the {state} report for {args.year} "
          f"({data['totals']['total']} initiatives, counted {data['reference_date']}) "
          f"to {out}: " + ", ".join(files), file=sys.stderr)
    return 0


__all__ = ["cmd_report", "register"]
