"""Rendering pages with the shared layout (templates/pages/base.html)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.core import i18n
from bot.core.appkeys import PAGES, SETTINGS


def request_language(request: web.Request, default: str = i18n.DEFAULT_LANGUAGE) -> str:
    """?lang=, then the 'lang' cookie, then Accept-Language (RFC 9110 §12.5.4, in the
    order given), then the default; only languages there are catalogues for."""
    known = i18n.languages()
    for candidate in (request.query.get("lang"), request.cookies.get("lang")):
        if candidate in known:
            return candidate
    accept = request.headers.get("Accept-Language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()
        for candidate in (code, code[:2]):
            if candidate in known:
                return candidate
    return i18n.language_of(default)


def language_links(request: web.Request, lang: str) -> list[dict[str, str]]:
    """Links to this page in every other language, each named in its own language."""
    params = [(k, v) for k, v in request.query.items() if k not in ("lang", "page")]
    return [{"code": code, "name": i18n.text(code, "language.name"),
             "href": f"{request.path}?{urlencode([*params, ('lang', code)])}"}
            for code in i18n.other_languages(lang)]


def page_context(request: web.Request, lang: str) -> dict[str, Any]:
    """What every page template gets: the language, its texts and formatters."""
    return {"_": i18n.gettext(lang), "n_": i18n.ngettext(lang), "lang": lang,
            "format_date": lambda value, format="long": i18n.format_date(value, lang,
                                                                         format=format),
            "lang_query": i18n.language_query(lang),
            "lang_links": language_links(request, lang),
            "request": request, "path": request.path}


def render(request: web.Request, template: str, *, status: int = 200,
           **context: Any) -> web.Response:
    """Render ``templates/pages/<template>`` with ``_``, ``lang`` and ``request`` bound.

    Every value is autoescaped: text from mail or chat can never become markup.
    """
    lang = context.pop("lang", None) or request_language(
        request, request.app[SETTINGS].language)
    env = request.app[PAGES]
    html = env.get_template(template).render(**{**page_context(request, lang), **context})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


class PageError(Exception):
    """A refusal a person sees as a page of the site, in their language: the status and
    the catalogue key of one sentence saying what to do (``bot.app.error_pages`` renders
    it; programs under /api get plain errors instead)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(f"{status} {key}")
        self.status = status
        self.key = key


def personal_page(response: web.StreamResponse) -> web.StreamResponse:
    """Headers for a page opened with a personal token in its URL: never cached, never
    indexed, and the URL never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one (RFC 6266 §4.3,
    RFC 8187): no quote, backslash or control character of the sender's reaches the
    header."""
    ascii_name = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;'
                         else "_" for ch in name)[:120] or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:200], safe='')}"
