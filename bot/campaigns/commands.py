"""``landkort campaign preview|run|stats``: the reminder campaign from the command line.

* ``preview`` is a dry run: who would get which step now (and what waits until when),
  with counts; ``--out DIR`` writes each mail it would send as an ``.eml`` file. Nothing
  is stored (the tokens in preview mails are not valid).
* ``run`` plans and queues the due steps now, with a progress bar; it respects the
  sending window unless ``--ignore-window``. The sender worker of a running service
  delivers the mail.
* ``stats`` shows per cycle (and with ``--by-region`` per region): entries, reminders
  sent, answered, confirmed, updated, bounced, opted out, no answer.
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.commandline import CommandError, settings_from_args
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.db import Database


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``campaign`` and its actions."""
    camp = sub.add_parser("campaign", help="yearly reminder campaigns")
    csub = camp.add_subparsers(dest="campaign_command", metavar="ACTION")
    csub.required = True

    p = csub.add_parser("preview", help="dry run: who would get which reminder now")
    p.add_argument("--out", metavar="DIR", help="write each mail that would be sent as "
                                                "an .eml file into DIR")
    p.add_argument("--now", metavar="ISO", help="pretend it is this time (e.g. "
                                                "2026-03-02T09:00+01:00; default: now)")
    p.add_argument("--ignore-window", action="store_true",
                   help="plan as if the sending window were open")
    p.add_argument("--limit", type=int, default=50,
                   help="list at most this many steps (default 50; 0 = all)")
    p.set_defaults(func=cmd_preview)

    p = csub.add_parser("run", help="plan and queue the reminders that are due now")
    p.add_argument("--ignore-window", action="store_true",
                   help="queue even outside the sending window")
    p.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_run)

    p = csub.add_parser("stats", help="how the campaigns went, per cycle")
    p.add_argument("--by-region", action="store_true", help="also per region")
    p.set_defaults(func=cmd_stats)


def parse_now(value: str | None) -> datetime:
    """An ISO time (local offsets allowed; naive means UTC) as naive UTC."""
    if not value:
        from bot.core.db import dbnow

        return dbnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now {value!r}: write an ISO time like "
                           f"2026-03-02T09:00+01:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    from bot.core.db import to_db

    return to_db(parsed)


async def _open(settings: Settings) -> Database:
    from bot.core.commandline import open_database

    return await open_database(settings)


async def cmd_preview(args: argparse.Namespace) -> int:
    from bot.campaigns.reminders import make_plan

    settings = settings_from_args(args)
    now = parse_now(args.now)
    db = await _open(settings)
    try:
        the_plan = await make_plan(db, settings, now, ignore_window=args.ignore_window)
        written = 0
        if args.out:
            written = await write_previews(db, settings, the_plan.due, Path(args.out))
    finally:
        await db.dispose()
    print(f"now: {now:%Y-%m-%d %H:%M} UTC; sending window "
          f"{'open' if the_plan.in_window else 'closed'} "
          f"({settings.sending_days} {settings.sending_window} {settings.timezone})")
    counts = the_plan.counts()
    if not counts:
        print("nothing is due now")
    for name, n in counts.items():
        print(f"  {name}: {n}")
    limit = args.limit or len(the_plan.due)
    if the_plan.due:
        print(f"\n{'entry':>7}  {'cycle':>8}  step  {'action':<6}  to / reason")
    for p in the_plan.due[:limit]:
        target = p.to_addr if p.action == "send" else p.reason
        print(f"{p.initiative_id:>7}  {p.cycle:>8}  {p.step:>4}  {p.action:<6}  {target}")
    if len(the_plan.due) > limit:
        print(f"  … and {len(the_plan.due) - limit} more (--limit 0 lists all)")
    if the_plan.waiting:
        first = min(the_plan.waiting, key=lambda p: p.due_at)
        print(f"\nwaiting: {len(the_plan.waiting)} step(s); the next is due "
              f"{max(first.due_at, now):%Y-%m-%d %H:%M} UTC"
              + ("" if the_plan.in_window else " (or when the window opens)"))
    if args.out:
        print(f"\n{written} mail(s) written to {args.out} (nothing was stored)")
    return 0


async def write_previews(db: Database, settings: Settings, steps: list[Any],
                         out: Path) -> int:
    """Write the mails the plan would send as .eml files, without storing anything."""
    from bot.campaigns.reminders import render_reminder
    from bot.mail import outbox
    from bot.mail.tokens import new_token
    from bot.registry.models import Initiative

    out.mkdir(parents=True, exist_ok=True)
    sends = [p for p in steps if p.action == "send"]
    written = 0
    async with db.read() as session:
        for i in range(0, len(sends), 500):
            chunk = sends[i:i + 500]
            from sqlalchemy import select

            rows = await session.scalars(select(Initiative).where(
                Initiative.id.in_([p.initiative_id for p in chunk])))
            by_id = {r.id: r for r in rows}
            for p in chunk:
                initiative = by_id.get(p.initiative_id)
                if initiative is None or not p.to_addr:
                    continue
                record = initiative.record()
                reply, unsub = new_token(), new_token()
                mail = render_reminder(settings, record, step=p.step, lang=p.language,
                                       reply_token=reply, unsubscribe_token=unsub)
                msg = outbox.compose(settings, to_addr=p.to_addr, mail=mail, kind="reminder",
                                     reply_token=reply, unsubscribe_token=unsub,
                                     to_name=record.get("contact_name") or None,
                                     extra_headers={
                                         "X-Landkort-Preview": "yes (tokens are not valid)"})
                path = out / f"entry{p.initiative_id}-cycle{p.cycle}-step{p.step}.eml"
                path.write_bytes(outbox.message_bytes(msg))
                written += 1
    return written


async def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bot.campaigns.reminders import Plan, run_tick

    settings = settings_from_args(args)
    now = parse_now(args.now)
    db = await _open(settings)
    bar: Any = None

    def on_plan(p: Plan) -> None:
        nonlocal bar
        if not p.in_window:
            print(f"the sending window is closed ({settings.sending_days} "
                  f"{settings.sending_window} {settings.timezone}); only cycles that end "
                  f"are handled (--ignore-window sends anyway)", file=sys.stderr)
        bar = tqdm(total=len(p.due), unit="step", desc="queueing", file=sys.stderr,
                   disable=not p.due)

    try:
        result = await run_tick(db, settings, now, ignore_window=args.ignore_window,
                                on_plan=on_plan, progress=lambda n: bar.update(n))
    finally:
        if bar is not None:
            bar.close()
        await db.dispose()
    print(f"queued {result.sent} reminder(s); skipped {result.skipped} (no usable contact; "
          f"flagged for the moderators); marked {result.closed} unconfirmed; "
          f"{result.already} already done by another instance")
    if result.sent and not settings.smtp_enabled:
        print("note: smtp_enabled is false, so the mail waits in the outbox until a "
              "service with SMTP runs")
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    from moderation.campaign_stats import CycleStats, campaign_stats

    settings = settings_from_args(args)
    db = await _open(settings)
    try:
        by_cycle, by_region = await campaign_stats(db)
    finally:
        await db.dispose()
    if not by_cycle:
        print("no campaign steps yet")
        return 0
    cols = ("entries", "sent", "answered", "confirmed", "updated", "bounced", "opted_out",
            "skipped", "no_answer", "unconfirmed")

    def line(label: str, st: CycleStats) -> str:
        return f"{label:<24}" + "".join(f"{getattr(st, c):>11}" for c in cols)

    print(f"{'cycle':<24}" + "".join(f"{c:>11}" for c in cols))
    for cycle, st in by_cycle.items():
        print(line(str(cycle), st))
    via = ("via_link", "via_form", "via_mail", "via_chat", "no_answer")
    print()
    print("how contacts answered (first answer in the cycle)")
    print(f"{'cycle':<24}" + "".join(f"{c:>11}" for c in via))
    for cycle, st in by_cycle.items():
        print(f"{cycle!s:<24}" + "".join(f"{getattr(st, c):>11}" for c in via))
    if args.by_region:
        print()
        print(f"{'cycle / region':<24}" + "".join(f"{c:>11}" for c in cols))
        for (cycle, region), st in by_region.items():
            print(line(f"{cycle} {region}", st))
    return 0
