"""Jinja2 rendering of mails: ``templates/mail/NAME.{subject.txt,txt,html}``.

One template per mail and part, for every language: the words come from the ``mail``
catalogue (``bot/locale/<lang>/LC_MESSAGES/mail.po``, keys ``mail.<name>.<part>`` and
``mail.common.*``). Each template gets ``_``, ``n_``, ``format_date`` and
``format_datetime`` in the mail's language and ``lang`` (the language code).

Text and HTML parts come from two templates; the subject is the first line of its own
template, folded to one line. HTML templates are autoescaped; text templates are not
(they are plain text). In an HTML part a catalogue text is taken as HTML and its
parameters are escaped (as Jinja's own i18n extension does), so a parameter may carry
markup built in the template (``{% set link %}<a …>…</a>{% endset %}``) and a title
never can.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from bot.core import i18n

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str | None


def _br(value: str) -> Markup:
    """Line breaks of a (catalogue) text as ``<br>`` in an HTML part."""
    return Markup("<br>").join(escape(value).split("\n"))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # The service's templates do not change while it runs: no stat() of three files
        # per mail (#18).
        auto_reload=False,
    )
    env.filters["br"] = _br
    return env


@cache
def _helpers(lang: str, *, html: bool) -> dict[str, Any]:
    """What every template gets: the texts and formatters of ``lang`` (built once per
    language; callers copy it into their context)."""
    plain_ = i18n.gettext(lang)
    plain_n_ = i18n.ngettext(lang)

    def _date(value: date | datetime | str | None, format: str = "long") -> str:
        return i18n.format_date(value, lang, format=format)

    def _datetime(value: datetime, format: str = "medium", tzinfo: Any = None) -> str:
        return i18n.format_datetime(value, lang, format=format, tzinfo=tzinfo)

    helpers: dict[str, Any] = {"lang": lang, "format_date": _date,
                               "format_datetime": _datetime}
    if not html:
        helpers.update({"_": plain_, "n_": plain_n_})
        return helpers

    def html_(key: str, /, **params: Any) -> Markup:
        return Markup(plain_(key, **{k: escape(v) for k, v in params.items()}))

    def html_n_(key: str, plural_key: str, n: int, /, **params: Any) -> Markup:
        return Markup(plain_n_(key, plural_key, n,
                               **{k: escape(v) for k, v in params.items()}))

    helpers.update({"_": html_, "n_": html_n_})
    return helpers


@cache
def _optional_template(path: str) -> jinja2.Template | None:
    """A template that may not exist, looked for once (Jinja caches templates it found,
    not the ones it did not)."""
    try:
        return _env().get_template(path)
    except jinja2.TemplateNotFound:
        return None


def render_mail(name: str, lang: str | None, **context: Any) -> RenderedMail:
    """Render mail ``name`` in ``lang`` (a language without a catalogue gets the default
    language). The HTML part is optional."""
    env = _env()
    code = i18n.language_of(lang)
    text_context = {**context, **_helpers(code, html=False)}
    subject = env.get_template(f"mail/{name}.subject.txt").render(text_context)
    text = env.get_template(f"mail/{name}.txt").render(text_context)
    template = _optional_template(f"mail/{name}.html")
    html = (None if template is None
            else template.render({**context, **_helpers(code, html=True)}))
    return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)


__all__ = ["RenderedMail", "render_mail"]
