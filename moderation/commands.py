"""``landkort user add|passwd|disable``: moderator accounts from the command line."""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.core.commandline import CommandError, settings_from_args


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the ``user`` subcommands."""
    user = sub.add_parser("user", help="moderator accounts",
                          description="Add moderator accounts, set passwords, disable them.")
    cmds = user.add_subparsers(dest="user_command", metavar="ACTION")
    cmds.required = True

    add = cmds.add_parser("add", help="add an account (password prompted)")
    add.add_argument("name")
    add.add_argument("--role", choices=("moderator", "admin"), default="moderator")
    add.add_argument("--email")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(func=cmd_add)

    passwd = cmds.add_parser("passwd", help="set a new password (logs the account out)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_passwd)

    disable = cmds.add_parser("disable", help="disable an account (ends its sessions)")
    disable.add_argument("name")
    disable.add_argument("--enable", action="store_true", help="enable it again instead")
    disable.set_defaults(func=cmd_disable)

    listing = cmds.add_parser("list", help="list accounts")
    listing.set_defaults(func=cmd_list)


def read_password(args: argparse.Namespace) -> str:
    """The new password from stdin (--password-stdin) or an interactive prompt."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CommandError("no terminal to prompt for a password: use --password-stdin")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    if not password:
        raise CommandError("empty password")
    return password


async def _with_db(args: argparse.Namespace, action: Any) -> int:
    from bot.core.commandline import open_database
    from moderation.accounts import AccountError

    settings = settings_from_args(args)
    db = await open_database(settings)
    try:
        await action(db)
    except AccountError as exc:
        raise CommandError(str(exc)) from None
    finally:
        await db.dispose()
    return 0


async def cmd_add(args: argparse.Namespace) -> int:
    from moderation.accounts import create_user

    password = read_password(args)

    async def run(db: Any) -> None:
        await create_user(db, args.name, password, role=args.role, email=args.email)
        print(f"user {args.name} added ({args.role})")
    return await _with_db(args, run)


async def cmd_passwd(args: argparse.Namespace) -> int:
    from moderation.accounts import set_password

    password = read_password(args)

    async def run(db: Any) -> None:
        await set_password(db, args.name, password)
        print(f"password of {args.name} changed; its sessions ended")
    return await _with_db(args, run)


async def cmd_disable(args: argparse.Namespace) -> int:
    from moderation.accounts import set_disabled

    async def run(db: Any) -> None:
        await set_disabled(db, args.name, not args.enable)
        print(f"user {args.name} {'enabled' if args.enable else 'disabled'}")
    return await _with_db(args, run)


async def cmd_list(args: argparse.Namespace) -> int:
    from moderation.accounts import list_users

    async def run(db: Any) -> None:
        for u in await list_users(db):
            state = "disabled" if u.disabled else "active"
            print(f"{u.username}\t{u.role}\t{state}\t{u.email or ''}")
    return await _with_db(args, run)
