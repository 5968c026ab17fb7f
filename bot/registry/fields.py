"""Field labels and value normalisation: the one field parser every channel shares.

Mail replies, the chat, CSV import and the reminder form all turn a person's words into
registry values through :func:`normalise`. Canonical keys, labels and synonyms follow the
``landkort parse`` contract. Each function is pure: text in, a value or a
:class:`Problem` (in the sender's language) out.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz, process

from bot.core.i18n import DEFAULT_LANGUAGE, language_of
from bot.core.i18n import text as catalogue_text
from bot.core.mailheaders import is_mail_address, strip_controls
from bot.registry.record import (
    FIELD,
    FIELD_KEYS,
    LABELS,
    LIST_FIELDS,
    MULTILINE_FIELDS,
)
from bot.registry.vocabulary import (
    CHOICE_SYNONYMS,
    CHOICES,
    MUNICIPALITIES,
    MUNICIPALITY_ALIASES,
    NO_PRO,
    fold_name,
    label_of,
)

# ---------------------------------------------------------------------------------------
# Keys and labels (defined once, in bot.registry.record)

def _fold_label(label: str) -> str:
    return " ".join(label.casefold().strip().rstrip(":").strip().split())


LABEL_TO_KEY: dict[str, str] = {
    _fold_label(lbl): key
    for key, by_lang in LABELS.items() for labels in by_lang.values() for lbl in labels
}


def key_for_label(label: str) -> str | None:
    """The canonical key of a label ("Tlf." → contact_phone), or None."""
    return LABEL_TO_KEY.get(_fold_label(label))


def form_label(key: str, lang: str = "da") -> str:
    """The label the reminder form and the chat use for a key."""
    labels = LABELS[key]
    return labels.get(language_of(lang), labels[DEFAULT_LANGUAGE])[0]


# ---------------------------------------------------------------------------------------
# Results

@dataclass(frozen=True)
class Problem:
    """A value that was given but could not be understood, with a message for the sender."""

    field: str
    message: str
    value: str = ""
    suggestion: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class Normalised:
    """The outcome of normalising one raw value: a value, or a problem, or neither
    (the value says "unchanged")."""

    value: Any = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.value is not None


def _as_value(raw: str) -> str | None:
    """The value as it may be quoted back to the sender, or None when it reads like a
    sentence (a person's words are never shown back to them as a bad value)."""
    text = " ".join(raw.split())
    if not text or len(text) > 40 or len(text.split()) > 5 or text[-1] in ".!?":
        return None
    return text


def _bad(lang: str, raw: str, key: str, **params: str) -> str:
    """A problem message from the catalogue: ``<key>.value`` names the value when it is a
    value; ``<key>.line`` says which line could not be read, without quoting the sentence
    (non-negotiable 3)."""
    value = _as_value(raw)
    if value is None:
        return catalogue_text(lang, f"{key}.line", **params)
    return catalogue_text(lang, f"{key}.value", v=value, **params)


UNCHANGED_WORDS = frozenset({"uændret", "uaendret", "unchanged", "same", "samme", "-", "—",
                             "ingen ændring", "no change"})
# A value that asks to remove what is there (contract v2: the field becomes null).
CLEARING_WORDS = frozenset({"ingen", "intet", "slet", "fjern", "none", "n/a", "delete",
                            "remove", "slet den", "fjern den", "slettes", "fjernes"})


def _bare(raw: str) -> str:
    return " ".join(raw.strip().strip(".!").strip().strip("()[]").casefold().split())


def is_unchanged(raw: str) -> bool:
    """True when a value says "keep what is there" ("uændret", "unchanged") or is empty."""
    text = _bare(raw)
    return text == "" or text in UNCHANGED_WORDS


def is_clearing(raw: str, key: str | None = None) -> bool:
    """True when a value asks to remove the field's value ("slet", "ingen", "none") —
    unless the word is a value of ``key``'s own vocabulary ("PRO: Ingen" says "no PRO")."""
    if _bare(raw) not in CLEARING_WORDS:
        return False
    return not (key in CHOICES and key not in _CLASSIC_CHOICES and _choice_of(key, raw))


# ---------------------------------------------------------------------------------------
# Lists

# Linear by construction (mail text is hostile): the separators are single characters,
# and the connector words are found among whitespace-separated words, not by a pattern
# whose whitespace runs overlap (the old one took minutes on a line of spaces).
_LIST_SEPARATORS = re.compile(r"[,;/]")
_LIST_CONNECTORS = frozenset({"og", "and", "&"})
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")


def split_list(raw: str) -> list[str]:
    """Split a list value on commas, semicolons, " og ", " and ", "/" — or one item per
    bullet line: a bullet line is one item as written ("- Video og lyd" stays whole),
    which is how the reminder form writes items that contain a separator."""
    items: list[str] = []
    for line in raw.splitlines() or [raw]:
        bullet = _BULLET.match(line)
        parts = [line[bullet.end():]] if bullet else _split_line(line)
        for part in parts:
            part = part.strip().strip(".").strip()
            if part:
                items.append(part)
    return items


def _split_line(line: str) -> list[str]:
    """One line split on , ; / and on the words "og", "and", "&" between two items."""
    parts: list[str] = []
    for piece in _LIST_SEPARATORS.split(line):
        words = piece.split()
        current: list[str] = []
        for i, word in enumerate(words):
            if (word.casefold() in _LIST_CONNECTORS and current and i < len(words) - 1):
                parts.append(" ".join(current))
                current = []
            else:
                current.append(word)
        parts.append(" ".join(current))
    return parts


_SEPARATOR_IN_ITEM = re.compile(r"[,;/]|\s(?:og|and|&)\s", re.IGNORECASE)


def _sorted_unique(values: list[str]) -> list[str]:
    return sorted(set(values))


# ---------------------------------------------------------------------------------------
# Status

_STATUS_SYNONYMS: dict[str, str] = {}
for _key, _words in {
    "projekt": ("projekt", "pilot", "pilotprojekt", "afprøvning", "project", "pilot project",
                "forsøg", "test"),
    "under_udbredelse": ("under udbredelse", "udbredelse", "rolling out", "being rolled out",
                         "scaling up", "roll out", "rollout", "under implementering"),
    "i_drift": ("i drift", "drift", "implementeret", "in operation", "operational", "running",
                "in use", "i brug"),
    "afsluttet": ("afsluttet", "ophørt", "lukket", "stoppet", "ended", "closed", "finished",
                  "stopped", "completed"),
}.items():
    for _w in _words:
        _STATUS_SYNONYMS[_w] = _key
_STATUS_KEYS_DIRECT = {"projekt", "under_udbredelse", "i_drift", "afsluttet"}


def parse_status(raw: str, lang: str = "da") -> Normalised:
    text = " ".join(raw.casefold().strip().strip(".!").split())
    if text in _STATUS_KEYS_DIRECT:
        return Normalised(text)
    if text in _STATUS_SYNONYMS:
        return Normalised(_STATUS_SYNONYMS[text])
    # "I drift siden 2020", "Projekt (pilot)": accept a known phrase at the start.
    for phrase in sorted(_STATUS_SYNONYMS, key=len, reverse=True):
        if re.match(rf"{re.escape(phrase)}\b", text):
            return Normalised(_STATUS_SYNONYMS[phrase])
    return Normalised(problem=Problem("status", _bad(lang, raw, "field.status"), raw.strip()))


# ---------------------------------------------------------------------------------------
# Participants

_PARTICIPANT_SYNONYMS: dict[str, str] = {}
for _key, _words in {
    "kommune": ("kommune", "kommuner", "municipality", "municipalities", "kommunal",
                "kommunerne"),
    "sygehus": ("sygehus", "sygehuse", "hospital", "hospitals", "region", "regioner",
                "regionen", "hospitaler", "sygehusene", "hospitalet", "sygehuset"),
    "almen_praksis": ("almen praksis", "praktiserende læge", "praktiserende læger",
                      "lægepraksis", "general practice", "gp", "gps", "almenpraksis",
                      "egen læge", "general practitioners", "general practitioner"),
}.items():
    for _w in _words:
        _PARTICIPANT_SYNONYMS[_w] = _key


def _participant_of(item: str) -> str | None:
    text = " ".join(item.casefold().split())
    if text in _PARTICIPANT_SYNONYMS:
        return _PARTICIPANT_SYNONYMS[text]
    if text in ("almen_praksis", "kommune", "sygehus"):
        return text
    # Named bodies: "Aalborg Kommune", "Region Midtjylland", "Rigshospitalet", "OUH".
    if text.endswith(" kommune") or text.endswith("kommune"):
        return "kommune"
    if text.startswith("region ") or "hospital" in text or "sygehus" in text:
        return "sygehus"
    if "praksis" in text or "læge" in text:
        return "almen_praksis"
    return None


def parse_participants(raw: str, lang: str = "da") -> Normalised:
    found: list[str] = []
    unknown: list[str] = []
    for item in split_list(raw):
        kind = _participant_of(item)
        (found if kind else unknown).append(kind or item)
    if unknown:
        return Normalised(problem=Problem(
            "participants", _bad(lang, unknown[0], "field.participants"), raw.strip()))
    if not found:
        return Normalised()
    return Normalised(_sorted_unique(found))


# ---------------------------------------------------------------------------------------
# Regions

_REGION_SYNONYMS: dict[str, str] = {}
for _key, _words in {
    "nordjylland": ("region nordjylland", "nordjylland", "north denmark region",
                    "north denmark", "northern jutland", "region north jutland"),
    "midtjylland": ("region midtjylland", "midtjylland", "central denmark region",
                    "central denmark", "region midt", "midt"),
    "syddanmark": ("region syddanmark", "syddanmark", "region of southern denmark",
                   "southern denmark", "region syd"),
    "sjaelland": ("region sjælland", "sjælland", "region zealand", "zealand", "sjaelland",
                  "region sjaelland"),
    "hovedstaden": ("region hovedstaden", "hovedstaden", "capital region",
                    "capital region of denmark", "the capital region", "region h"),
}.items():
    for _w in _words:
        _REGION_SYNONYMS[_w] = _key
_ALL_REGIONS = ("hele landet", "alle regioner", "alle", "nationalt", "national",
                "all regions", "nationwide", "whole country", "all")


def _region_of(item: str) -> str | None:
    text = " ".join(item.casefold().split())
    if text in _REGION_SYNONYMS:
        return _REGION_SYNONYMS[text]
    if text in ("hovedstaden", "midtjylland", "nordjylland", "sjaelland", "syddanmark"):
        return text
    return None


def parse_regions(raw: str, lang: str = "da") -> Normalised:
    if " ".join(raw.casefold().split()).strip(".") in _ALL_REGIONS:
        return Normalised(["hovedstaden", "midtjylland", "nordjylland", "sjaelland",
                           "syddanmark"])
    found: list[str] = []
    for item in split_list(raw):
        region = _region_of(item)
        if region is None:
            names = list(_REGION_SYNONYMS)
            best = process.extractOne(item.casefold(), names, scorer=fuzz.WRatio,
                                      score_cutoff=75)
            hint = ""
            suggestion = None
            if best:
                suggestion = _REGION_LABELS[_REGION_SYNONYMS[best[0]]]
                hint = catalogue_text(lang, "field.did_you_mean", suggestion=suggestion)
            return Normalised(problem=Problem(
                "regions", _bad(lang, item, "field.regions", hint=hint), item, suggestion))
        found.append(region)
    if not found:
        return Normalised()
    return Normalised(_sorted_unique(found))


_REGION_LABELS = {"hovedstaden": "Region Hovedstaden", "midtjylland": "Region Midtjylland",
                  "nordjylland": "Region Nordjylland", "sjaelland": "Region Sjælland",
                  "syddanmark": "Region Syddanmark"}


# ---------------------------------------------------------------------------------------
# Municipalities

_MUNI_BY_FOLD: dict[str, str] = {fold_name(m): m for m in MUNICIPALITIES}
for _alias, _name in MUNICIPALITY_ALIASES.items():
    _MUNI_BY_FOLD.setdefault(fold_name(_alias), _name)


def _without_kommune(folded: str) -> str:
    """"odense kommune" → "odense" (string work: a pattern like ``\\s+kommune$`` searched
    over a long run of spaces is quadratic)."""
    words = folded.rstrip()
    if words.endswith("kommune") and len(words) > 7 and words[-8].isspace():
        return words[:-7].rstrip()
    return folded


def match_municipality(text: str) -> str | None:
    """The official name for a way of writing a municipality, or None."""
    folded = fold_name(text).rstrip(".")
    for candidate in (folded, _without_kommune(folded)):
        if candidate in _MUNI_BY_FOLD:
            return _MUNI_BY_FOLD[candidate]
        # "Københavns Kommune", "Vejles" — a genitive s
        if candidate.endswith("s") and candidate[:-1] in _MUNI_BY_FOLD:
            return _MUNI_BY_FOLD[candidate[:-1]]
    return None


def suggest_municipality(text: str) -> str | None:
    """The closest official municipality name, for a "did you mean" hint."""
    folded = _without_kommune(fold_name(text))
    best = process.extractOne(folded, list(_MUNI_BY_FOLD), scorer=fuzz.ratio, score_cutoff=60)
    return _MUNI_BY_FOLD[best[0]] if best else None


def parse_municipalities(raw: str, lang: str = "da") -> Normalised:
    if " ".join(raw.casefold().split()).strip(".") in ("alle", "alle kommuner", "all",
                                                        "all municipalities", "hele landet"):
        return Normalised(list(MUNICIPALITIES))
    found: list[str] = []
    for item in split_list(raw):
        name = match_municipality(item)
        if name is None:
            suggestion = suggest_municipality(item)
            hint = (catalogue_text(lang, "field.did_you_mean", suggestion=suggestion)
                    if suggestion else "")
            return Normalised(problem=Problem(
                "municipalities", _bad(lang, item, "field.municipalities", hint=hint),
                item, suggestion))
        found.append(name)
    if not found:
        return Normalised()
    return Normalised(_sorted_unique(found))


# ---------------------------------------------------------------------------------------
# Dates

MONTHS: dict[str, int] = {}
for _i, _names in enumerate((
    ("januar", "january", "jan"), ("februar", "february", "feb"),
    ("marts", "march", "mar", "mrt"), ("april", "apr"), ("maj", "may"),
    ("juni", "june", "jun"), ("juli", "july", "jul"), ("august", "aug"),
    ("september", "sep", "sept"), ("oktober", "october", "okt", "oct"),
    ("november", "nov"), ("december", "dec"),
), start=1):
    for _n in _names:
        MONTHS[_n] = _i
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))


def _ymd(y: int, m: int, d: int | None) -> str | None:
    if not 1900 <= y <= 2200 or not 1 <= m <= 12:
        return None
    if d is None:
        return f"{y:04d}-{m:02d}"
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_date_text(raw: str) -> str | None:
    """``YYYY-MM-DD`` or ``YYYY-MM`` for the date formats of the contract, else None."""
    text = " ".join(raw.casefold().strip().rstrip(".").split())
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m:
        return _ymd(int(m[1]), int(m[2]), None)
    m = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", text)
    if m:
        return _ymd(int(m[3]), int(m[2]), int(m[1]))
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{4})", text)
    if m:
        return _ymd(int(m[2]), int(m[1]), None)
    m = re.fullmatch(rf"(\d{{1,2}})\.?\s*({_MONTH_RE})\.?,?\s+(\d{{4}})", text)
    if m:
        return _ymd(int(m[3]), MONTHS[m[2]], int(m[1]))
    m = re.fullmatch(rf"({_MONTH_RE})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})", text)  # March 1, 2024
    if m:
        return _ymd(int(m[3]), MONTHS[m[1]], int(m[2]))
    m = re.fullmatch(rf"({_MONTH_RE})\.?,?\s+(\d{{4}})", text)
    if m:
        return _ymd(int(m[2]), MONTHS[m[1]], None)
    return None


def parse_date(raw: str, lang: str = "da", field: str = "start_date") -> Normalised:
    value = parse_date_text(raw)
    if value:
        return Normalised(value)
    return Normalised(problem=Problem(
        field, _bad(lang, raw, "field.date", label=form_label(field, lang)), raw.strip()))


# ---------------------------------------------------------------------------------------
# Contact details, links, text

# Possessive and with "@" outside the local part: a search is linear on any input.
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]++@[^<>\s]++)>")


def parse_email(raw: str, lang: str = "da") -> Normalised:
    text = raw.strip()
    m = _ANGLE_ADDRESS.search(text)  # "Name <addr>"
    if m:
        inside = re.sub(r"^mailto:", "", m[1], flags=re.IGNORECASE)
        outside = (text[:m.start()] + text[m.end():]).strip().strip("\"'").strip()
        # What stands outside the brackets is a name, or the same address (Outlook writes
        # "jens@x.dk <mailto:jens@x.dk>"); another address or a line break there makes
        # the value two things, and we take neither.
        if outside.casefold() == inside.casefold() or (
                "@" not in outside and outside.isprintable()):
            text = inside
    text = re.sub(r"^mailto:", "", text, flags=re.IGNORECASE).strip().strip(".,;")
    if is_mail_address(text):  # the one address rule: what we can write a mail to
        return Normalised(text.lower())
    return Normalised(problem=Problem("contact_email", _bad(lang, raw, "field.email"),
        raw.strip()))


def parse_phone(raw: str, lang: str = "da") -> Normalised:
    text = raw.strip()
    digits = re.sub(r"[\s\-().]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"\d{8}", digits):
        return Normalised("+45" + digits)
    if re.fullmatch(r"\+[1-9]\d{6,14}", digits):  # E.164: no country code starts with 0
        return Normalised(digits)
    return Normalised(problem=Problem("contact_phone", _bad(lang, text, "field.phone"), text))


# Longer links are not typed by people; browsers and servers commonly stop near here.
URL_MAX = 2000


def is_web_link(text: str) -> bool:
    """True for ``http(s)://host.tld…`` with no white space or control characters.

    Written without a regular expression: the one it replaces backtracked
    quadratically on a long run of dots (70 s for 100,000), on the event loop."""
    if len(text) > URL_MAX or not text[:8].lower().startswith(("http://", "https://")):
        return False
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text):
        return False
    rest = text.split("://", 1)[1]
    return bool(rest) and rest[0] not in "/$.?#" and "." in rest.split("/", 1)[0]


def parse_url(raw: str, lang: str = "da", field: str = "website") -> Normalised:
    text = raw.strip().strip("<>").strip()
    if re.match(r"^www\.", text, re.IGNORECASE):
        text = "https://" + text
    if is_web_link(text):
        return Normalised(text)
    return Normalised(problem=Problem(
        field, _bad(lang, raw, "field.link", label=form_label(field, lang)), raw.strip()))


def parse_text(raw: str, lang: str = "da", field: str = "title") -> Normalised:
    # No control characters in any stored text (a name travels into mail headers, a
    # title into CSV and pages); paragraphs survive in the multi-line fields only.
    text = strip_controls(raw, keep_newlines=field in MULTILINE_FIELDS).strip()
    if field in MULTILINE_FIELDS:
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
        text = "\n\n".join(p for p in paragraphs if p)
    else:
        text = " ".join(text.split())
    return Normalised(text or None)


def parse_text_list(raw: str, lang: str = "da", field: str = "technology") -> Normalised:
    items = split_list(raw)
    return Normalised(_sorted_unique(items) if items else None)


# ---------------------------------------------------------------------------------------
# Fixed vocabularies ("choice" kinds: evaluation status, PRO)

# Choice fields with parsers of their own (status, participants, regions).
_CLASSIC_CHOICES = frozenset({"status", "participants", "regions"})


def _fold_choice(text: str) -> str:
    return " ".join(text.casefold().replace("-", " ").strip().strip(".!").split())


def _choice_of(key: str, item: str) -> str | None:
    """The vocabulary key ``item`` names for field ``key``: a key, a term's name in
    either language, or a synonym (case, hyphens and spacing ignored)."""
    folded = _fold_choice(item)
    for t in CHOICES[key]:
        if folded in (t.key.replace("_", " "), _fold_choice(t.da), _fold_choice(t.en)):
            return t.key
    return CHOICE_SYNONYMS.get(key, {}).get(folded)


def _choice_problem(key: str, raw: str, lang: str) -> Normalised:
    options = ", ".join(t.label(lang) for t in CHOICES[key])
    return Normalised(problem=Problem(key, _bad(lang, raw, "field.choice", label=form_label(
        key, lang), options=options), raw.strip()))


def parse_choice(raw: str, lang: str = "da", field: str = "evaluation_status") -> Normalised:
    """One value of a fixed vocabulary ("Evalueret", "in progress" → its key)."""
    found = _choice_of(field, raw)
    return Normalised(found) if found else _choice_problem(field, raw, lang)


def parse_choice_list(raw: str, lang: str = "da", field: str = "pro") -> Normalised:
    """Values of a fixed vocabulary, sorted; "none" (``ingen``) stands alone, so a list
    that also names a kind keeps the kinds."""
    found = []
    for item in split_list(raw):
        key = _choice_of(field, item)
        if key is None:
            return _choice_problem(field, item, lang)
        found.append(key)
    if not found:
        return Normalised()
    kinds = [k for k in found if k != NO_PRO]
    return Normalised(_sorted_unique(kinds) if kinds else [NO_PRO])


# One parser per kind of field (bot.registry.record); each gets (raw, lang, key).
_KIND_PARSERS: dict[str, Callable[[str, str, str], Normalised]] = {
    "text": parse_text,
    "longtext": parse_text,
    "status": lambda r, lang, key: parse_status(r, lang),
    "participant_list": lambda r, lang, key: parse_participants(r, lang),
    "region_list": lambda r, lang, key: parse_regions(r, lang),
    "municipality_list": lambda r, lang, key: parse_municipalities(r, lang),
    "text_list": parse_text_list,
    "date": parse_date,
    "email": lambda r, lang, key: parse_email(r, lang),
    "phone": lambda r, lang, key: parse_phone(r, lang),
    "url": parse_url,
    "choice": parse_choice,
    "choice_list": parse_choice_list,
}


def _parser_for(key: str) -> Callable[[str, str], Normalised]:
    parse = _KIND_PARSERS[FIELD[key].kind]
    return lambda raw, lang: parse(raw, lang, key)


_PARSERS: dict[str, Callable[[str, str], Normalised]] = {key: _parser_for(key) for key in FIELD}


def normalise(key: str, raw: str, lang: str = "da") -> Normalised:
    """Normalise one raw value for a canonical key.

    Returns ``Normalised()`` (no value, no problem) when the value says "unchanged" or is
    empty, so callers leave the field out.
    """
    if key not in _PARSERS:
        raise KeyError(f"unknown field {key!r}")
    if is_unchanged(raw):
        return Normalised()
    return _PARSERS[key](raw, lang)


def format_value(key: str, value: Any, lang: str = "da") -> str:
    """Write a stored value the way a person would type it back (reminder form, chat).

    ``normalise(key, format_value(key, v))`` gives ``v`` back for every valid value.
    """
    if value is None or value == [] or value == "":
        return ""
    if key in CHOICES:
        if isinstance(value, str):
            return label_of(CHOICES[key], value, lang)
        return ", ".join(label_of(CHOICES[key], v, lang) for v in value)
    if key in LIST_FIELDS:
        if any(_SEPARATOR_IN_ITEM.search(item) for item in value):
            # One item per bullet line, so "Video og lyd" is not read back as two items.
            return "".join(f"\n- {item}" for item in value)
        return "; ".join(value)
    return str(value)


def form_lines(record: Any, lang: str = "da", keys: tuple[str, ...] = FIELD_KEYS) -> list[str]:
    """The reminder form: one ``Label: value`` line per field (the description may span
    paragraphs). Parsing these lines back gives the same values (round trip)."""
    lines: list[str] = []
    for key in keys:
        value = record.get(key) if hasattr(record, "get") else None
        text = f"{form_label(key, lang)}: {format_value(key, value, lang)}"
        lines.extend(part.rstrip() for part in text.split("\n"))
    return lines
