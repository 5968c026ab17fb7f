"""Texts people read, from gettext catalogues; dates and numbers in their language.

Every page, mail, chat answer and parser answer takes its words from the catalogues under
``bot/locale/<language>/LC_MESSAGES/<domain>.po`` (compiled to ``.mo`` by ``make messages``
or at install; a ``.po`` newer than its ``.mo`` is compiled in memory at start, so an edited
catalogue is never ignored). Message ids are stable keys (``"pub.search"``), so a change of
wording in one language never orphans the other; ``docs/translating.md`` says how to add a
language: a new folder here is all it takes, no code.

The words the parser *recognises* in mail ("Ingen ændringer", field labels, synonyms) are
data about Danish and English and live in the vocabulary (``bot.registry``), not here.

This module is pure (no web framework): the parser core may use it. Picking the language of
a web request is ``bot.core.pages.request_language``.
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
#: The catalogues, one per part of the product, so a translator can take one at a time:
#: ``web`` (public pages, moderation), ``mail`` (every mail we send), ``chat`` (the
#: registration chat) and ``messages`` (answers about fields, command-line texts).
DOMAINS = ("web", "mail", "chat", "messages")
DEFAULT_LANGUAGE = "da"
#: Which catalogue a key lives in, by its first part; everything else is ``web``.
_DOMAIN_BY_PREFIX = {"mail": "mail", "chat": "chat", "field": "messages",
                     "status": "messages", "cli": "messages"}


def domain_of(key: str) -> str:
    """The catalogue (domain) of a message key: ``"chat.welcome"`` → ``"chat"``."""
    return _DOMAIN_BY_PREFIX.get(key.split(".", 1)[0], "web")


class Gettext(Protocol):
    def __call__(self, key: str, /, **params: Any) -> str: ...


class NGettext(Protocol):
    def __call__(self, key: str, plural_key: str, n: int, /, **params: Any) -> str: ...


@dataclass
class Catalogues:
    """The loaded catalogues of every language found in a locale folder."""

    folder: Path
    translations: dict[str, NullTranslations] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """The default language first, then the rest in alphabetical order."""
        others = sorted(lang for lang in self.translations if lang != DEFAULT_LANGUAGE)
        return (DEFAULT_LANGUAGE, *others)


def _compiled(po_path: Path, domain: str) -> Translations:
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        with mo_path.open("rb") as fp:
            return Translations(fp, domain=domain)
    with po_path.open("rb") as fp:
        catalog = read_po(fp, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=domain)


def load_catalogues(folder: Path = LOCALE_DIR) -> Catalogues:
    """Read every ``<lang>/LC_MESSAGES/<domain>.po`` under ``folder``.

    A language other than the default falls back to the default language for a key it
    lacks (``tests/test_translations.py`` makes sure none does)."""
    loaded: dict[str, Translations] = {}
    for lang_dir in sorted(p for p in folder.iterdir() if (p / "LC_MESSAGES").is_dir()):
        merged: Translations | None = None
        for domain in DOMAINS:
            po_path = lang_dir / "LC_MESSAGES" / f"{domain}.po"
            if not po_path.exists():
                continue
            part = _compiled(po_path, domain)
            if merged is None:
                merged = part
            else:
                merged.merge(part)
        if merged is not None:
            loaded[lang_dir.name] = merged
    if DEFAULT_LANGUAGE not in loaded:
        raise RuntimeError(f"no {DEFAULT_LANGUAGE} catalogue under {folder}")
    for lang, translations in loaded.items():
        if lang != DEFAULT_LANGUAGE:
            translations.add_fallback(loaded[DEFAULT_LANGUAGE])
    return Catalogues(folder=folder, translations=dict(loaded))


_current: list[Catalogues] = []


def catalogues() -> Catalogues:
    """The catalogues in use, loaded once on first use."""
    if not _current:
        _current.append(load_catalogues())
    return _current[0]


def use_catalogues(folder: Path) -> Catalogues:
    """Switch to the catalogues in ``folder`` (the pseudo-locale test uses this)."""
    loaded = load_catalogues(folder)
    _current[:] = [loaded]
    _babel_locale.cache_clear()
    return loaded


def languages() -> tuple[str, ...]:
    """The languages there are catalogues for, the default first."""
    return catalogues().languages


def language_of(value: str | None) -> str:
    """``value`` if there is a catalogue for it (``"en-GB"`` counts as ``"en"``), else the
    default language."""
    if value:
        code = value.strip().lower().replace("_", "-")
        for candidate in (code, code.split("-")[0]):
            if candidate in catalogues().translations:
                return candidate
    return DEFAULT_LANGUAGE


def other_languages(lang: str) -> tuple[str, ...]:
    """The languages a page offers to switch to."""
    return tuple(code for code in languages() if code != lang)


def language_query(lang: str | None) -> str:
    """``?lang=xx`` for a link that should keep a language other than the default (the
    pages' default needs none), else ""."""
    code = language_of(lang)
    return "" if code == DEFAULT_LANGUAGE else "?" + urlencode({"lang": code})


def _format(text: str, params: dict[str, Any]) -> str:
    return text % params if params else text


def gettext(lang: str | None) -> Gettext:
    """``_(key, **params)`` in ``lang``: the catalogue's text, with ``%(name)s`` filled in."""
    translations = catalogues().translations.get(language_of(lang))
    assert translations is not None

    def _(key: str, /, **params: Any) -> str:
        return _format(translations.gettext(key), params)
    return _


def ngettext(lang: str | None) -> NGettext:
    """``n_(key, plural_key, n, **params)``: the form for ``n`` by the language's plural
    rule; ``%(n)s`` is filled in with ``n`` formatted for the language."""
    translations = catalogues().translations.get(language_of(lang))
    assert translations is not None

    def n_(key: str, plural_key: str, n: int, /, **params: Any) -> str:
        return _format(translations.ngettext(key, plural_key, n),
                       {"n": format_number(n, lang), **params})
    return n_


def text(lang: str | None, key: str, /, **params: Any) -> str:
    """One text: ``text("en", "pub.search")``."""
    return gettext(lang)(key, **params)


def N_(key: str) -> str:  # noqa: N802 - the gettext convention for "mark, don't translate"
    """Mark a key for extraction where it is looked up later (``make messages`` finds it)."""
    return key


def texts_for(keys: Iterable[str], lang: str | None) -> dict[str, str]:
    """Several texts at once, by key (for client-side code that needs a few words)."""
    _ = gettext(lang)
    return {key: _(key) for key in keys}


@lru_cache(maxsize=16)
def _babel_locale(lang: str) -> Locale:
    # The catalogue's "Language:" header names the conventions: English here is en_GB,
    # day before month, as English readers of a Danish register expect.
    translations = catalogues().translations.get(lang)
    declared = translations.info().get("language", lang) if translations else lang
    try:
        return Locale.parse(declared or lang)
    except (UnknownLocaleError, ValueError):
        # A language with a catalogue but no CLDR data (the pseudo-locale): format like the
        # default language.
        return Locale.parse(DEFAULT_LANGUAGE)


def babel_locale(lang: str | None) -> Locale:
    """Babel's locale for ``lang`` (dates, numbers, month names)."""
    return _babel_locale(language_of(lang))


def format_date(value: date | datetime | str | None, lang: str | None = None,
                *, format: str = "long") -> str:
    """A date for people: "3. marts 2021" / "3 March 2021"; "2021-03" → "marts 2021";
    "2021" stays "2021"; text that is not a date is returned as it is."""
    if value is None or value == "":
        return ""
    locale = babel_locale(lang)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return babel_format_date(value, format=format, locale=locale)
    raw = str(value)
    parts = raw.split("-")
    try:
        if len(parts) == 3:
            return format_date(date(int(parts[0]), int(parts[1]), int(parts[2])), lang,
                               format=format)
        if len(parts) == 2:
            return babel_format_date(date(int(parts[0]), int(parts[1]), 1),
                                     format="LLLL y", locale=locale)
        if len(parts) == 1 and len(raw) == 4:
            return str(int(raw))
    except (ValueError, IndexError):
        pass
    return raw


def format_datetime(value: datetime, lang: str | None = None, *,
                    format: str = "medium", tzinfo: Any = None) -> str:
    """A moment for people, in ``tzinfo`` when given, then with that zone named ("CET",
    "CEST"): a time in a mail must not leave the reader guessing. Naive values are UTC,
    as the database keeps them."""
    text = babel_format_datetime(value, format=format, tzinfo=tzinfo,
                                 locale=babel_locale(lang))
    if tzinfo is None:
        return text
    return f"{text} {_aware(value).astimezone(tzinfo).tzname()}"


def _aware(value: datetime) -> datetime:
    """A naive moment from the database is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_moment(value: datetime | None, zone: str) -> str:
    """A stored moment (naive UTC, as the database keeps it) as people read it where the
    registry is run: ``2026-12-03 05:25 CET`` in ``Europe/Copenhagen`` (CEST in summer).
    The zone is always named, so a reader never has to guess whether a time is UTC."""
    if value is None:
        return ""
    return babel_format_datetime(_aware(value), "yyyy-MM-dd HH:mm zzz", tzinfo=ZoneInfo(zone),
                                 locale="en_GB")


def format_number(value: float, lang: str | None = None) -> str:
    """``1234.5`` → "1.234,5" / "1,234.5"."""
    return format_decimal(value, locale=babel_locale(lang))


def format_share(value: float, lang: str | None = None, *, decimals: int = 0) -> str:
    """A share 0..1 as a percentage: "42 %" / "42%"."""
    locale = babel_locale(lang)
    pattern = locale.percent_formats[None].pattern  # "#,##0 %" in Danish, "#,##0%" in English
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals, 1)
    return format_percent(value, format=pattern, locale=locale)

