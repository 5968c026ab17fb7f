"""``landkort intake …``: look at and retry received mail.

- ``landkort intake list [--quarantined] [--limit N]`` — the newest inbound messages with
  their state and outcome (``--quarantined``: only those waiting for a person);
- ``landkort intake replay ID`` — process a quarantined (or done) message again from
  scratch; idempotency keys keep it from making a second queue item or answer;
- ``landkort intake store FILE…`` — store .eml files as received mail (source ``cli``);
- ``landkort intake process`` — process everything waiting now, without the server.
"""
from __future__ import annotations

import argparse
from typing import Any

from bot.core.commandline import CommandError, settings_from_args


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("intake", help="received mail: list, replay, store, process")
    isub = p.add_subparsers(dest="intake_command", metavar="ACTION")
    isub.required = True
    lp = isub.add_parser("list", help="list received mail, newest first")
    lp.add_argument("--quarantined", action="store_true", help="only quarantined messages")
    lp.add_argument("--limit", type=int, default=50)
    lp.set_defaults(func=cmd_list)
    rp = isub.add_parser("replay", help="process a quarantined message again")
    rp.add_argument("id", type=int)
    rp.add_argument("--now", action="store_true", help="process it at once")
    rp.set_defaults(func=cmd_replay)
    sp = isub.add_parser("store", help="store .eml files as received mail")
    sp.add_argument("files", nargs="+")
    sp.set_defaults(func=cmd_store)
    pp = isub.add_parser("process", help="process all waiting mail now")
    pp.set_defaults(func=cmd_process)


async def _open(args: argparse.Namespace) -> Any:
    from bot.core.commandline import open_database

    settings = settings_from_args(args)
    return settings, await open_database(settings)


async def cmd_list(args: argparse.Namespace) -> int:
    from intake.inbox.store import list_messages

    _settings, db = await _open(args)
    try:
        rows = await list_messages(db, state="quarantined" if args.quarantined else None,
                                   limit=args.limit)
    finally:
        await db.dispose()
    if not rows:
        print("no messages")
        return 0
    for r in rows:
        when = r["received_at"].strftime("%Y-%m-%d %H:%M") if r["received_at"] else ""
        print(f"{r['id']:>7}  {when}  {r['source']:<5} {r['state']:<11} "
              f"{(r['outcome'] or '-'):<18} {(r['from_addr'] or '-')[:40]:<40} "
              f"{(r['subject'] or '')[:60]}")
        if r["state"] == "quarantined" and r["last_error"]:
            print(f"         error: {r['last_error'].splitlines()[-1][:150]}")
    return 0


async def cmd_replay(args: argparse.Namespace) -> int:
    from intake.inbox.store import replay
    from intake.mail.processor import process_pending

    settings, db = await _open(args)
    try:
        if not await replay(db, args.id):
            raise CommandError(f"message {args.id} does not exist or cannot be replayed "
                               "(too large: only its header is stored)")
        print(f"message {args.id} will be processed again")
        if args.now:
            n = await process_pending(db, settings)
            print(f"processed {n} message(s)")
    finally:
        await db.dispose()
    return 0


async def cmd_store(args: argparse.Namespace) -> int:
    from intake.inbox.store import store_message

    settings, db = await _open(args)
    try:
        for path in args.files:
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
            res = await store_message(db, raw, source="cli",
                                      max_bytes=settings.max_message_bytes)
            print(f"{path}: {'stored as' if res.created else 'already stored as'} {res.id}")
    finally:
        await db.dispose()
    return 0


async def cmd_process(args: argparse.Namespace) -> int:
    from intake.mail.processor import process_pending

    settings, db = await _open(args)
    try:
        n = await process_pending(db, settings)
    finally:
        await db.dispose()
    print(f"processed {n} message(s)")
    return 0
