"""The pages a public site owes its users: about, accessibility statement, privacy notice
and data licence (``/om``, ``/tilgaengelighed``, ``/privatliv``, ``/licens``).

Each is a Markdown file per language that an administrator edits without touching code:
the packaged ones in ``bot/public/content/{da,en}/``, or the same names in the folder
the ``content_dir`` setting names (those win). ``{{licence}}``, ``{{licence_url}}``,
``{{intake_address}}`` and ``{{retention_days}}`` are filled in from the settings. The
files are trusted (an administrator's), and the HTML is still cleaned (nh3) like
anything else a page shows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import nh3
from aiohttp import web
from markdown_it import MarkdownIt

from bot.core.appkeys import SETTINGS
from bot.core.i18n import DEFAULT_LANGUAGE
from bot.core.pages import render, request_language
from bot.core.settings import Settings

CONTENT = Path(__file__).resolve().parent / "content"
# URL path → file name (the same in both languages).
PAGES: dict[str, str] = {"om": "om", "tilgaengelighed": "tilgaengelighed",
                         "privatliv": "privatliv", "licens": "licens"}
_MARKDOWN = MarkdownIt("commonmark")
_TAGS = {"h1", "h2", "h3", "p", "ul", "ol", "li", "a", "strong", "em", "code", "blockquote",
         "br", "hr"}




def page_file(settings: Settings, name: str, lang: str) -> tuple[Path, str]:
    """The Markdown file of page ``name`` and the language it is written in: the
    administrator's own in ``lang`` if there is one, else the packaged one in ``lang``,
    else (a language nobody has written the page in yet) the default language's."""
    for candidate in dict.fromkeys((lang, DEFAULT_LANGUAGE)):
        if settings.content_dir:
            own = Path(settings.content_dir) / candidate / f"{name}.md"
            if own.is_file():
                return own, candidate
        packaged = CONTENT / candidate / f"{name}.md"
        if packaged.is_file():
            return packaged, candidate
    raise FileNotFoundError(f"no page {name!r} in {lang} or {DEFAULT_LANGUAGE}")


def page_html(settings: Settings, name: str, lang: str) -> tuple[str, str]:
    """The page as clean HTML with the settings' values filled in, and its language."""
    path, written_in = page_file(settings, name, lang)
    text = path.read_text(encoding="utf-8")
    for key, value in (("licence", settings.data_licence),
                       ("licence_url", settings.data_licence_url),
                       ("intake_address", settings.intake_address),
                       ("retention_days", str(settings.retention_days))):
        text = text.replace("{{" + key + "}}", value)
    return nh3.clean(_MARKDOWN.render(text), tags=_TAGS,
                     attributes={"a": {"href"}}, link_rel=None), written_in


def _handler(name: str) -> Any:
    async def info_page(request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        lang = request_language(request, settings.language)
        body, written_in = page_html(settings, name, lang)
        return render(request, "info_page.html", name=name, lang=lang, body=body,
                      body_lang=written_in)
    return info_page


def setup_routes(app: web.Application) -> None:
    """Add the four pages."""
    for path, name in PAGES.items():
        app.router.add_get(f"/{path}", _handler(name), name=f"info.{path}")


__all__ = ["CONTENT", "PAGES", "page_file", "page_html", "setup_routes"]
