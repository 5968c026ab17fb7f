"""``landkort parse [--json] FILE|-``: show what intake understands of one message.

Moderators use it to answer "why did the bot read my reply like this?"; tests and
outside evaluations use the ``--json`` output as a stable interface (contract
``parse.md``): exactly one JSON object on stdout, exit 0 for every readable file,
non-zero only when the file cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO

from intake.parse.message import ParseResult, parse_message


def read_input(path: str, stdin: BinaryIO | None = None) -> bytes:
    """The raw bytes of FILE, or of standard input for ``-`` (OSError if unreadable)."""
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return stream.read()
    with open(path, "rb") as fh:
        return fh.read()


def render_text(result: ParseResult) -> str:
    """A human-readable summary for moderators."""
    lines = [f"kind:        {result.kind}",
             f"from:        {result.from_name or ''} <{result.from_addr or ''}>",
             f"subject:     {result.subject}",
             f"language:    {result.language}",
             f"reply token: {result.reply_token or '-'}"]
    if result.bounce:
        b = result.bounce
        lines.append(f"bounce:      {b.recipient or '?'} status {b.status or '?'} "
                     f"({'permanent' if b.permanent else 'temporary'})")
    if result.fields:
        lines.append("fields:")
        lines.extend(f"  {k}: {v}" for k, v in result.fields.items())
    if result.inferred:
        lines.append("from sentences (suggestions):")
        lines.extend(f"  {k}: {result.inferred_from.get(k, '')}" for k in result.inferred)
    if result.inline:
        lines.append("edited in the quoted form:")
        lines.extend(f"  {k}: {result.inline_from.get(k, '') or '(emptied)'}"
                     for k in result.inline)
    if result.problems:
        lines.append("problems:")
        lines.extend(f"  {p.field}: {p.message}" for p in result.problems)
    if result.confirmed_unchanged:
        lines.append("confirmed unchanged: yes")
    if result.attachments:
        lines.append("attachments:")
        lines.extend(f"  {a['name'] or '(unnamed)'} {a['content_type']} {a['size']} bytes"
                     for a in result.attachments)
    lines.append("reply text:")
    lines.extend("  " + ln for ln in (result.reply_text or "(empty)").splitlines())
    return "\n".join(lines)


def _read_or_say(path: str) -> bytes | None:
    """The file's bytes, or None after saying on stderr why it cannot be read."""
    try:
        return read_input(path)
    except OSError as exc:
        print(f"landkort parse: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    """Entry point of ``landkort parse``."""
    raw = _read_or_say(args.file)
    sent_path = getattr(args, "sent", None)
    sent = _read_or_say(sent_path) if sent_path else None
    if raw is None or (sent_path and sent is None):
        return 2
    result = parse_message(raw, sent=sent)
    out: Any
    if args.json:
        out = json.dumps(result.contract_dict(), ensure_ascii=False, indent=2)
    else:
        out = render_text(result)
    sys.stdout.buffer.write((out + "\n").encode("utf-8", "replace"))
    sys.stdout.flush()
    return 0


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register ``parse`` on the ``landkort`` command line."""
    p = sub.add_parser("parse", help="show how intake reads one e-mail (.eml file or -)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true",
                   help="print the contract's JSON object instead of a summary")
    p.add_argument("--sent", metavar="SENT",
                   help="the mail of ours FILE answers: edits typed into its quoted form "
                        "are read by comparing the two")
    p.add_argument("file", metavar="FILE", help="an RFC 5322 message file, or - for stdin")
    p.set_defaults(func=run, uses_database=False)


if __name__ == "__main__":  # pragma: no cover - `python -m intake.parse_command`
    _parser = argparse.ArgumentParser(prog="python -m intake.parse_command")
    _sub = _parser.add_subparsers(dest="command")
    add_parser(_sub)
    sys.exit(run(_parser.parse_args(["parse", *sys.argv[1:]])))
