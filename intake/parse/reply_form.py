"""``Label: value`` lines in the sender's own text → fields, problems, confirmation.

The reminder form is rendered as ``Label: value`` lines (``bot.registry.fields.form_label`` /
``format_value``), and people answer the same way. Rules (contract ``parse.md``):

* labels are matched case-insensitively, with or without a trailing colon, after an
  optional bullet ("-", "*", "•");
* a value may continue on the following lines until the next label line or an empty
  line; the description may hold blank-line separated paragraphs until the next label;
* a value that says "uændret" / "unchanged" or is empty is left out; a label with a colon
  and no value ends at its own line end (the next paragraph is never its value);
* a value that says "slet" / "ingen" / "none" clears the field: its value is ``None``;
* a value that cannot be understood becomes a :class:`~bot.registry.fields.Problem`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.registry.fields import (
    LABEL_TO_KEY,
    Problem,
    is_clearing,
    is_unchanged,
    key_for_label,
    normalise,
)
from bot.registry.record import MULTILINE_FIELDS

_BULLET = re.compile(r"^\s*(?:[-*•·]\s*)?")
_LONGEST_LABEL = max(len(lbl) for lbl in LABEL_TO_KEY)
# Labels of the reply that are not fields: the reminder's question about initiatives not
# on the map ("Andre initiativer: …", read by intake.parse.leads). Such a line ends the
# value above it — "Titel: X" is not continued by it — and stays free text.
LEAD_LABELS = frozenset({
    "andre initiativer", "andre telemedicinske initiativer", "kender du andre",
    "initiativer der ikke er på landkortet", "other initiatives",
    "other telemedicine initiatives", "initiatives not on the map"})
_LONGEST_LEAD_LABEL = max(len(lbl) for lbl in LEAD_LABELS)


def lead_label_value(line: str) -> str | None:
    """The answer on a line under the leads label ("Andre initiativer: X" → "X"), or
    None for any other line."""
    head, sep, rest = line.partition(":")
    if not sep or len(head) > _LONGEST_LEAD_LABEL + 4:
        return None
    folded = " ".join(_BULLET.sub("", head, count=1).casefold().rstrip("?").split())
    return rest.strip() if folded in LEAD_LABELS else None
_NO_COLON_SEP = re.compile(r"\t|\s{2,}")
_BULLET_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+\S")


@dataclass
class FormResult:
    """Fields, problems and whether the sender confirmed the entry unchanged."""

    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    confirmed_unchanged: bool = False
    raw: dict[str, str] = field(default_factory=dict)
    # The lines no label took: what the sender wrote in sentences.
    free_text: str = ""


def split_label(line: str) -> tuple[str, str] | None:
    """``(key, rest)`` when the line starts with a known label, else None.

    "Status: I drift" and "• Kommune: Aarhus" have a colon; without one the label must
    stand alone on its line or be followed by a tab or several spaces ("Status\\tI drift").
    """
    body = _BULLET.sub("", line, count=1).strip()
    if not body:
        return None
    head, sep, rest = body.partition(":")
    if sep and len(head) <= _LONGEST_LABEL + 2:
        key = key_for_label(head)
        if key == "end_date" and body != line.strip() and not re.search(r"\d", rest):
            # "- Afsluttet: Initiativet er afsluttet." is the reminder's list of status
            # meanings (pasted back), not an end date.
            return None
        if key:
            return key, rest.strip()
    if key_for_label(body):  # the label alone; the value follows on the next lines
        return str(key_for_label(body)), ""
    parts = _NO_COLON_SEP.split(body, maxsplit=1)
    if len(parts) == 2 and key_for_label(parts[0]):
        return str(key_for_label(parts[0])), parts[1].strip()
    return None


def _has_colon(line: str) -> bool:
    return ":" in _BULLET.sub("", line, count=1)


def collect_pairs(lines: list[str]) -> tuple[list[tuple[str, str]], set[int]]:
    """Raw ``(key, value)`` pairs in order of appearance, and the indexes of the lines
    they were read from (the rest is the sender's free text).

    A label line with a colon and nothing after it ("Slutdato:") is complete: it gives
    an empty value, and what follows (often the sender's next sentence) is not read as
    its value — unless bullet items follow directly (a list, one item per line). The
    description, and a label standing alone without a colon, take their value from the
    lines directly below, until a blank line.
    """
    pairs: list[tuple[str, str]] = []
    used: set[int] = set()
    key: str | None = None
    value: list[str] = []
    blank_run = False
    waiting = False  # the label had no value on its line; a blank line now ends it
    emptied = False  # ... and had a colon: only bullet items directly below continue it

    def flush() -> None:
        if key is not None:
            pairs.append((key, "\n".join(value).strip()))

    for n, line in enumerate(lines):
        found = split_label(line)
        if found:
            flush()
            used.add(n)
            key, first = found
            value = [first] if first else []
            blank_run = False
            waiting = not first
            emptied = waiting and _has_colon(line) and key not in MULTILINE_FIELDS
            continue
        if key is not None and lead_label_value(line) is not None:
            flush()  # the leads question's line: not part of the value above
            key, value, waiting, emptied, blank_run = None, [], False, False, False
            continue
        if key is None:
            continue
        if emptied:
            if _BULLET_ITEM.match(line):
                emptied = False  # "Kommuner:" followed by one item per bullet line
                used.add(n)
            else:
                flush()  # "Slutdato:" emptied: complete as it stands
                key, value, waiting, emptied = None, [], False, False
                continue
        if not line.strip():
            if waiting or (value and key not in MULTILINE_FIELDS):
                flush()
                key, value, waiting = None, [], False
                continue
            if key in MULTILINE_FIELDS:
                blank_run = True
                value.append("")
            continue
        if blank_run and key not in MULTILINE_FIELDS:
            flush()
            key, value = None, []
            continue
        waiting = False
        used.add(n)
        value.append(line.strip())
    flush()
    return pairs, used


_CONFIRM = re.compile(
    r"(?:^|\b)(?:ingen\s+(?:ændringer|rettelser|opdateringer|ændring)|ingen\s+nye\s+oplysninger"
    r"|bekræfter|bekræftet|alt\s+er\s+(?:korrekt|rigtigt|fint|ok|uændret)"
    r"|alt\s+(?:ser\s+)?(?:fint|korrekt|rigtigt)\s+ud|oplysningerne\s+er\s+(?:stadig\s+)?"
    r"(?:korrekte|gældende|rigtige|aktuelle|uændrede)|stadig\s+(?:korrekt|aktuelt|gældende)"
    r"|det\s+er\s+(?:stadig\s+)?(?:korrekt|rigtigt)|uændret|intet\s+nyt|ingen\s+ændring"
    r"|no\s+changes?|nothing\s+(?:has\s+)?changed|confirmed|(?:i|we|hereby)\s+confirm"
    r"|all\s+(?:is\s+)?correct"
    r"|everything\s+is\s+(?:still\s+)?(?:correct|up\s+to\s+date|accurate)|still\s+(?:correct|"
    r"accurate|up\s+to\s+date|valid)|unchanged|looks\s+(?:good|correct|fine))\b",
    re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:ikke|not|no\s+longer|ikke\s+længere)\s+(?:\w+\s+){0,2}"
                      r"(?:korrekt|correct|rigtig|accurate|gældende)", re.IGNORECASE)


def confirms_unchanged(text: str) -> bool:
    """True when the text confirms the entry as it stands ("Ingen ændringer")."""
    if not text.strip() or len(text) > 1500:
        return False
    return bool(_CONFIRM.search(text)) and not _NEGATED.search(text)


def read_form(text: str, lang: str = "da") -> FormResult:
    """Read fields from the sender's own text (quotes and signature already removed)."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith(">")]
    result = FormResult()
    pairs, used = collect_pairs(lines)
    result.free_text = "\n".join(ln for n, ln in enumerate(lines) if n not in used)
    for key, raw in pairs:
        result.raw[key] = raw
        if is_clearing(raw, key):
            result.problems = [p for p in result.problems if p.field != key]
            result.fields[key] = None
            continue
        if is_unchanged(raw):
            result.fields.pop(key, None)
            continue
        try:
            got = normalise(key, raw, lang)
        except Exception:  # a normaliser bug must not lose the mail
            continue
        if got.problem is not None:
            result.problems = [p for p in result.problems if p.field != got.problem.field]
            result.problems.append(got.problem)
            result.fields.pop(key, None)
        elif got.value is not None and got.value != []:
            result.fields[key] = got.value
    if not result.fields and not result.problems \
            and confirms_unchanged(_without_form_lines(lines)):
        result.confirmed_unchanged = True
    return result


def _without_form_lines(lines: list[str]) -> str:
    return "\n".join(ln for ln in lines if split_label(ln) is None)
