"""Rendering pages with the shared layout (templates/pages/base.html)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.appkeys import PAGES, SETTINGS
from bot.core.i18n import gettext, request_language


def render(request: web.Request, template: str, *, status: int = 200,
           **context: Any) -> web.Response:
    """Render ``templates/pages/<template>`` with ``_``, ``lang`` and ``request`` bound.

    Every value is autoescaped: text from mail or chat can never become markup.
    """
    lang = context.pop("lang", None) or request_language(
        request, request.app[SETTINGS].language)
    env = request.app[PAGES]
    html = env.get_template(template).render(
        _=gettext(lang), lang=lang, request=request, path=request.path, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def personal_page(response: web.StreamResponse) -> web.StreamResponse:
    """Headers for a page opened with a personal token in its URL: never cached, never
    indexed, and the URL never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
