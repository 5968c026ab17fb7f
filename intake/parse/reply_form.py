"""``Label: value`` lines in the sender's own text → fields, problems, confirmation.

The reminder form is rendered as ``Label: value`` lines (``bot.registry.fields.form_label`` /
``format_value``), and people answer the same way. Rules (contract ``parse.md``):

* labels are matched case-insensitively, with or without a trailing colon, after an
  optional bullet ("-", "*", "•");
* a value may continue on the following lines until the next label line or an empty
  line; the description may hold blank-line separated paragraphs until the next label;
* a value that says "uændret" / "unchanged" or is empty is left out;
* a value that cannot be understood becomes a :class:`~bot.registry.fields.Problem`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.registry.fields import LABEL_TO_KEY, Problem, is_unchanged, key_for_label, normalise
from bot.registry.record import MULTILINE_FIELDS

_BULLET = re.compile(r"^\s*(?:[-*•·]\s*)?")
_LONGEST_LABEL = max(len(lbl) for lbl in LABEL_TO_KEY)
_NO_COLON_SEP = re.compile(r"\t|\s{2,}")


@dataclass
class FormResult:
    """Fields, problems and whether the sender confirmed the entry unchanged."""

    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    confirmed_unchanged: bool = False
    raw: dict[str, str] = field(default_factory=dict)


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


def _collect(lines: list[str]) -> list[tuple[str, str]]:
    """Raw ``(key, value)`` pairs in order of appearance."""
    pairs: list[tuple[str, str]] = []
    key: str | None = None
    value: list[str] = []
    blank_run = False

    def flush() -> None:
        if key is not None:
            pairs.append((key, "\n".join(value).strip()))

    for line in lines:
        found = split_label(line)
        if found:
            flush()
            key, first = found
            value = [first] if first else []
            blank_run = False
            continue
        if key is None:
            continue
        if not line.strip():
            if key in MULTILINE_FIELDS:
                blank_run = True
                value.append("")
                continue
            if value:
                flush()
                key, value = None, []
            continue
        if blank_run and key not in MULTILINE_FIELDS:
            flush()
            key, value = None, []
            continue
        value.append(line.strip())
    flush()
    return pairs


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
    for key, raw in _collect(lines):
        result.raw[key] = raw
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
