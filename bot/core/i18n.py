"""Page texts in Danish (default) and English.

Each component registers its own strings with :func:`register` (no shared file to fight
over); templates get ``_`` bound to the request's language.
"""
from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

LANGUAGES = ("da", "en")
_TEXTS: dict[str, dict[str, str]] = {"da": {}, "en": {}}


def register(texts: dict[str, dict[str, str]]) -> None:
    """Add ``{"da": {key: text}, "en": {key: text}}``; a key missing in English falls
    back to Danish."""
    for lang, entries in texts.items():
        _TEXTS.setdefault(lang, {}).update(entries)


def gettext(lang: str) -> Callable[[str], str]:
    table = _TEXTS.get(lang, {})
    fallback = _TEXTS["da"]

    def _(key: str) -> str:
        return table.get(key) or fallback.get(key) or key
    return _


def request_language(request: web.Request, default: str = "da") -> str:
    """?lang=en, then the 'lang' cookie, then Accept-Language, then the default."""
    for candidate in (request.query.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    accept = request.headers.get("Accept-Language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


register({
    "da": {"site.name": "Det telemedicinske landkort", "nav.catalogue": "Katalog",
           "nav.statistics": "Statistik", "nav.map": "Kort", "nav.chat": "Indmeld initiativ",
           "nav.moderation": "Redaktion", "nav.language": "English", "skip": "Spring til indhold"},
    "en": {"site.name": "The Danish telemedicine map", "nav.catalogue": "Catalogue",
           "nav.statistics": "Statistics", "nav.map": "Map", "nav.chat": "Register an initiative",
           "nav.moderation": "Moderation", "nav.language": "Dansk", "skip": "Skip to content"},
})
