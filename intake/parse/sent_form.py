"""Edits typed into the quoted reminder, found by comparing it with the mail we sent
(parse contract v2, ``--sent``).

Many people answer by changing the form in the quoted original: Outlook quotes it under
a ``Fra:/Sendt:`` block without ``>`` markers, and they overwrite a value, or empty a
line. Quoted text is never read on its own (it may be anybody's older mail); compared
line by line with the form in the mail of ours that the reply answers, it tells exactly
what the contact changed:

* a form line whose value differs from what we sent gives that field, the new value;
* a form line emptied where we had sent a value clears the field (``None``);
* a line as we sent it gives nothing; a label line we did not send is read like one in
  the sender's own text.

What the sender's own text above the quote gives wins (the caller merges). Pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.registry.fields import Problem, is_clearing, is_unchanged, normalise
from intake.parse.decode import decode_message
from intake.parse.html_text import html_to_text
from intake.parse.reply_form import collect_pairs

# Any depth of quote markers, with the spaces mail programs put around them.
_QUOTE_MARKS = re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+")


@dataclass
class InlineEdits:
    """The fields changed in the quoted form, and values there we could not read."""

    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, str] = field(default_factory=dict)  # key → the edited line's value


def sent_text(sent_raw: bytes) -> str:
    """The text of the mail we sent (its plain part, else its HTML as text)."""
    msg = decode_message(sent_raw)
    if msg.text_body.strip() or not msg.html_body:
        return msg.text_body
    return html_to_text(msg.html_body, drop_quotes=False)


def _unquoted(lines: list[str]) -> list[str]:
    return [_QUOTE_MARKS.sub("", line, count=1) for line in lines]


def form_values(text: str) -> dict[str, str]:
    """The form's raw values in a text, by key (the first line of each key counts)."""
    pairs, _ = collect_pairs(_unquoted(text.splitlines()))
    out: dict[str, str] = {}
    for key, raw in pairs:
        out.setdefault(key, raw)
    return out


def quoted_part(whole: str, own: str) -> str:
    """What follows the sender's own text in the whole body: the quoted part. When the
    own text cannot be found line by line (an HTML body converted twice), the whole."""
    own_lines = [ln.strip() for ln in own.splitlines() if ln.strip()]
    lines = whole.splitlines()
    if not own_lines:
        return whole
    j = 0
    for i, line in enumerate(lines):
        if line.strip() == own_lines[j]:
            j += 1
            if j == len(own_lines):
                return "\n".join(lines[i + 1:])
    return whole


def _same(key: str, given: str, sent: str, lang: str) -> bool:
    if " ".join(given.split()).casefold() == " ".join(sent.split()).casefold():
        return True
    a, b = normalise(key, given, lang), normalise(key, sent, lang)
    return a.problem is None and b.problem is None and a.value == b.value


def inline_edits(whole: str, own: str, sent: str, lang: str = "da") -> InlineEdits:
    """Compare the form quoted in a reply (``whole`` minus ``own``) with the form in the
    mail we sent (``sent``, its text)."""
    result = InlineEdits()
    ours = form_values(sent)
    if not ours:
        return result  # nothing of ours had a form: nothing to compare with
    seen: set[str] = set()
    pairs, _ = collect_pairs(_unquoted(quoted_part(whole, own).splitlines()))
    for key, raw in pairs:
        if key in seen:
            continue  # an older quote further down
        seen.add(key)
        sent_value = ours.get(key)
        if sent_value is not None and _same(key, raw, sent_value, lang):
            continue
        if not raw.strip():
            if sent_value and sent_value.strip():
                result.fields[key] = None  # emptied: remove the value
                result.lines[key] = ""
            continue
        if is_clearing(raw, key):
            result.fields[key] = None
            result.lines[key] = raw
            continue
        if is_unchanged(raw):
            continue
        got = normalise(key, raw, lang)
        if got.problem is not None:
            result.problems.append(got.problem)
        elif got.value is not None and got.value != []:
            result.fields[key] = got.value
            result.lines[key] = raw
    return result


__all__ = ["InlineEdits", "form_values", "inline_edits", "quoted_part", "sent_text"]
