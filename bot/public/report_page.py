"""The yearly report on the public site: ``/rapport/<year>`` (charts and tables, a print
stylesheet for A4) and its PDF, CSV and JSON; and the standalone HTML document
``landkort report`` writes.

The figures come from :func:`bot.report.store.report_for` (the frozen copy once the year
is over) and are labelled by :mod:`bot.report.sections`, as in the PDF and the CSV.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.core import i18n
from bot.core.appkeys import DB, SETTINGS
from bot.core.i18n import format_date, gettext
from bot.core.pages import PageError, render, request_language
from bot.core.settings import Settings
from bot.public import charts
from bot.registry.stats import reference_date
from bot.registry.terms import TermIndex, term_index
from bot.report.figures import FIRST_YEAR
from bot.report.files import report_csv, report_json, report_pdf
from bot.report.sections import (
    Section,
    TermLabel,
    key_figures,
    sections,
    sector_trend,
    trend_columns,
    trend_rows,
)
from bot.report.store import report_for


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/rapport", latest_report, name="public.report_latest")
    r.add_get(r"/rapport/{year:\d{4}}", report_page, name="public.report")
    r.add_get(r"/rapport/{year:\d{4}}.{ext:(pdf|csv|json)}", report_file,
              name="public.report_file")


def latest_year(settings: Settings, today: Any) -> int:
    """The last year whose reference date has passed (this year's report is counted
    on its reference date)."""
    counted = reference_date(today.year, settings.stats_reference_day)
    return today.year if counted <= today else today.year - 1


def _term_label(terms: TermIndex, lang: str) -> TermLabel:
    return lambda vocabulary, value: terms.label(vocabulary, value, lang)


def _chart(section: Section, lang: str) -> Markup | None:
    bars = [charts.Bar(r.label, r.count) for r in section.rows]
    if section.chart == "none" or not bars:
        return None
    if section.chart == "split":
        return Markup(charts.split_bar(section.id, section.title, section.desc, bars,
                                       lang=lang))
    whole = section.rows[0].whole
    return Markup(charts.bar_chart(section.id, section.title, section.desc, bars,
                                   whole=whole, lang=lang))


def report_view(data: Mapping[str, Any], lang: str, *,
                term_label: TermLabel | None = None) -> dict[str, Any]:
    """What the report templates need, in ``lang``."""
    _ = gettext(lang)
    trend = trend_rows(data, lang)
    years = [charts.Bar(row["year"], int(row["total"])) for row in trend]
    frozen = data.get("frozen_at")
    sector_headings, sector_rows = sector_trend(data, lang)
    return {
        "report": data, "year": data["year"],
        "counted": format_date(data["reference_date"], lang),
        "counted_iso": data["reference_date"],
        "state": (_("report.frozen", date=format_date(str(frozen)[:10], lang)) if frozen
                  else _("report.preliminary")),
        "preliminary": not frozen,
        "key_figures": key_figures(data, lang),
        "sections": [{"s": s, "svg": _chart(s, lang),
                      "rows": [{"label": r.label, "count": r.count, "whole": r.whole,
                                "share": r.share(lang)} for r in s.rows]}
                     for s in sections(data, lang, term_label=term_label)],
        "trend_columns": trend_columns(lang), "trend": trend,
        "sector_headings": sector_headings, "sector_rows": sector_rows,
        "trend_svg": Markup(charts.column_chart(
            "trend", _("report.trend"), _("report.trend.desc"), years,
            whole=max((b.count for b in years), default=0), lang=lang)) if years else None,
    }


def report_document(env: jinja2.Environment, data: Mapping[str, Any], lang: str, *,
                    css: str, term_label: TermLabel | None = None) -> str:
    """The report as one self-contained HTML file (styles inline, no links it needs)."""
    return env.get_template("public/report_document.html").render(
        _=gettext(lang), n_=i18n.ngettext(lang), lang=lang, css=Markup(css),
        standalone=True, lang_query="", **report_view(data, lang, term_label=term_label))


def _year(request: web.Request) -> int:
    year = int(request.match_info["year"])
    today = datetime.now(UTC).date()
    if year < FIRST_YEAR or year > today.year:
        raise PageError(404, "report.no_year")
    return year


async def _data(request: web.Request, year: int) -> tuple[dict[str, Any], TermIndex]:
    settings = request.app[SETTINGS]
    db = request.app[DB]
    data = await report_for(db, year, reference_day=settings.stats_reference_day,
                            today=datetime.now(UTC).date())
    async with db.read() as session:
        terms = await term_index(session)
    return data, terms


async def latest_report(request: web.Request) -> web.StreamResponse:
    """``/rapport``: the latest year's report, or the year the menu chose (``?aar=``)."""
    year = latest_year(request.app[SETTINGS], datetime.now(UTC).date())
    chosen = request.query.get("aar", "")
    if chosen.isdigit() and len(chosen) == 4:
        year = int(chosen)
    lang = request.query.get("lang")
    query = i18n.language_query(lang) if lang in i18n.languages() else ""
    raise web.HTTPFound(f"/rapport/{year}{query}")


async def report_page(request: web.Request) -> web.StreamResponse:
    year = _year(request)
    lang = request_language(request, request.app[SETTINGS].language)
    data, terms = await _data(request, year)
    today = datetime.now(UTC).date()
    latest = latest_year(request.app[SETTINGS], today)
    others = [y for y in range(latest, FIRST_YEAR - 1, -1)][:12]
    return render(request, "public/report.html", lang=lang, standalone=False, css="",
                  other_years=others,
                  **report_view(data, lang, term_label=_term_label(terms, lang)))


async def report_file(request: web.Request) -> web.StreamResponse:
    year = _year(request)
    ext = request.match_info["ext"]
    lang = request_language(request, request.app[SETTINGS].language)
    data, terms = await _data(request, year)
    label = _term_label(terms, lang)
    name = f"landkort-rapport-{year}-{lang}.{ext}"
    if ext == "pdf":
        body = await asyncio.to_thread(report_pdf, data, lang, term_label=label)
        content_type = "application/pdf"
    elif ext == "csv":
        body = report_csv(data, lang, term_label=label).encode("utf-8")
        content_type = "text/csv"
    else:
        body = report_json(data).encode("utf-8")
        content_type = "application/json"
    return web.Response(body=body, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"'},
        charset=None if ext == "pdf" else "utf-8")


__all__ = ["latest_year", "report_document", "report_view", "setup_routes"]
