"""Jinja2 rendering of mails: ``templates/mail/{da,en}/NAME.{subject.txt,txt,html}``.

Text and HTML parts come from two templates; the subject is the first line of its own
template. HTML templates are autoescaped; text templates are not (they are plain text).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str | None


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def mail_language(lang: str | None) -> str:
    return "en" if lang == "en" else "da"


def render_mail(name: str, lang: str | None, **context: Any) -> RenderedMail:
    """Render mail ``name`` in ``lang`` (da default). The HTML part is optional."""
    env = _env()
    folder = f"mail/{mail_language(lang)}"
    subject = env.get_template(f"{folder}/{name}.subject.txt").render(**context)
    text = env.get_template(f"{folder}/{name}.txt").render(**context)
    html: str | None
    try:
        html = env.get_template(f"{folder}/{name}.html").render(**context)
    except jinja2.TemplateNotFound:
        html = None
    return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)
