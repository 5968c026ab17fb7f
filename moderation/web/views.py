"""What every moderation handler uses: render a page with the session bound, read an
integer parameter, answer a POST with a redirect, who is acting and in which language."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.core.appkeys import SETTINGS
from bot.core.pages import render, request_language
from moderation.web.security import CSRF_FIELD, SESSION_KEY, current


def page(request: web.Request, template: str, *, status: int = 200,
         **context: Any) -> web.Response:
    """Render a moderation page with the session's user and CSRF token bound."""
    sess = request.get(SESSION_KEY)
    context.setdefault("notice", None)
    context.setdefault("error", None)
    context.setdefault("error_detail", None)
    return render(request, f"moderation/{template}", status=status,
                  user=sess.user if sess else None, csrf=sess.csrf_token if sess else "",
                  csrf_field=CSRF_FIELD, **context)


def int_param(value: Any, default: int | None = None) -> int | None:
    """A query or form value as an int, ``default`` when it is not one."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def redirect(path: str, **query: Any) -> web.HTTPSeeOther:
    """The 303 after a POST, with the non-empty ``query`` values."""
    q = {k: v for k, v in query.items() if v not in (None, "")}
    return web.HTTPSeeOther(path + ("?" + urlencode(q) if q else ""))


def actor_of(request: web.Request) -> str:
    """The logged-in user's name, as the audit log records it."""
    return current(request).user.username


def lang_of(request: web.Request) -> str:
    """The language the page is shown in."""
    return request_language(request, request.app[SETTINGS].language)


__all__ = ["actor_of", "int_param", "lang_of", "page", "redirect"]
