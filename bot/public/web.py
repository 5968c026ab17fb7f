"""The public landkort: catalogue, initiative pages, statistics, map, open data (JSON API,
CSV, OpenAPI).

Handlers are thin: queries live in :mod:`bot.public.catalogue` and
:mod:`bot.registry.repository`, figures in :mod:`bot.registry.stats`, drawing in
:mod:`bot.public.charts` and :mod:`bot.public.map_svg`. Every page is server-rendered
and works without JavaScript (``/static/public.js`` only submits the filter form when a
menu changes). Everything shown comes from mail or chat at some point
and is autoescaped by Jinja; SVG text is escaped by the drawing functions.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from email.utils import format_datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.appkeys import DB, SETTINGS
from bot.core.i18n import format_date, format_number, gettext, languages, ngettext
from bot.core.pages import content_disposition, render, request_language
from bot.core.spreadsheet import csv_document, safe_cell
from bot.public import catalogue, charts, info_pages, map_svg, new_entry, report_page
from bot.public.catalogue import FILTER_PARAMS, Filters, fold
from bot.public.openapi import DEFAULT_LIMIT, MAX_LIMIT, build_openapi
from bot.registry.evaluation_reports import report_file, report_info
from bot.registry.fields import form_label
from bot.registry.models import Initiative
from bot.registry.record import FIELD_KEYS
from bot.registry.repository import get_by_slug, history
from bot.registry.stats import (
    UNKNOWN,
    Stats,
    reference_date,
    registry_stats,
    stats_as_of,
    years_side_by_side,
)
from bot.registry.terms import TermIndex, term_index
from bot.registry.vocabulary import (
    CHOICES,
    EVALUATIONS,
    MUNICIPALITIES,
    PARTICIPANTS,
    PRO_KINDS,
    REGION_KEYS,
    REGIONS,
    SECTORS,
    STATUS_KEYS,
    STATUSES,
    Term,
    label_of,
)

PER_PAGE = 20
CORS = {"Access-Control-Allow-Origin": "*"}
_dumps = partial(json.dumps, ensure_ascii=False)

STATUS_BADGE: dict[str, str] = {"projekt": "", "under_udbredelse": "warn", "i_drift": "ok",
                                "afsluttet": "ended"}
VOCAB: dict[str, tuple[Term, ...]] = {"status": STATUSES, "region": REGIONS,
                                      "participant": PARTICIPANTS, "sector": SECTORS,
                                      "evaluation": EVALUATIONS, "pro": PRO_KINDS}
FIELD_VOCAB: dict[str, tuple[Term, ...]] = {**CHOICES, "sector": SECTORS}


def setup(app: web.Application) -> None:
    """Add the public pages and the open-data endpoints."""
    r = app.router
    r.add_get("/", catalogue_page, name="public.catalogue")
    r.add_get("/initiativ/{slug}", initiative_page, name="public.initiative")
    r.add_get("/initiativ/{slug}/evalueringsrapport.pdf", evaluation_report_file,
              name="public.evaluation_report")
    r.add_get("/statistik", statistics_page, name="public.statistics")
    r.add_get("/kort", map_page, name="public.map")
    r.add_get("/api", api_page, name="public.api")
    r.add_get("/api/initiatives", api_initiatives, name="api.initiatives")
    r.add_get("/api/initiatives/{slug}", api_initiative, name="api.initiative")
    r.add_get("/api/statistics", api_statistics, name="api.statistics")
    r.add_get("/api/statistics/years", api_statistics_years, name="api.statistics_years")
    r.add_get("/api/openapi.json", api_openapi, name="api.openapi")
    r.add_get("/export.csv", export_csv, name="public.csv")
    r.add_get("/feed.atom", atom_feed, name="public.feed")
    new_entry.setup_routes(app)
    report_page.setup_routes(app)
    info_pages.setup_routes(app)
    app.on_response_prepare.append(_licence_link)


async def _licence_link(request: web.Request, response: web.StreamResponse) -> None:
    """The data licence on every API response and export (RFC 8288 ``rel="license"``)."""
    if request.path.startswith("/api") or request.path == "/export.csv":
        settings = request.app[SETTINGS]
        response.headers.setdefault(
            "Link", f'<{settings.data_licence_url}>; rel="license"; '
                    f'title="{settings.data_licence}"')


# ---------------------------------------------------------------------------------------
# helpers

def safe_url(value: str | None) -> str | None:
    """``value`` when it is an absolute http(s) URL (so it may become a link), else None."""
    if not value:
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c in text for c in " \t\r\n\"'<>`"):
        return None
    return text


def _lang(request: web.Request) -> str:
    return request_language(request, request.app[SETTINGS].language)


def _page(request: web.Request, template: str, *, status: int = 200,
          **context: Any) -> web.Response:
    """Render a public page; ``?lang=xx`` is remembered in a cookie for the next pages."""
    lang = _lang(request)
    response = render(request, template, status=status, lang=lang, **context)
    chosen = request.query.get("lang")
    if chosen in languages():
        response.set_cookie("lang", chosen, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, path="/")
    return response


def _href(path: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(list(params))}" if params else path


def _label(field: str, value: str, lang: str) -> str:
    terms = FIELD_VOCAB.get(field) or VOCAB.get(field)
    if value == UNKNOWN:
        return gettext(lang)("pub.unknown")
    return label_of(terms, value, lang) if terms else value


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps,
                             headers={**CORS, **(headers or {})})


async def _published_or_redirect(request: web.Request, slug: str
                                 ) -> tuple[Initiative | None, str | None]:
    """The published entry with this slug, or the slug of the entry it was merged into."""
    async with request.app[DB].read() as session:
        item = await get_by_slug(session, slug)
        hops = 0
        while item is not None and item.merged_into_id is not None and hops < 10:
            target = await session.get(Initiative, item.merged_into_id)
            if target is None:
                return None, None
            if target.merged_into_id is None:
                return None, target.slug
            item, hops = target, hops + 1
        if item is None or item.merged_into_id is not None:
            return None, None
        return item, None


# ---------------------------------------------------------------------------------------
# catalogue

# The filters over a controlled vocabulary (bot.registry.terms): their values are the
# terms' Danish labels, shown in the page's language.
TERM_FILTERS = {"patient_group": "patient_groups", "technology": "technology"}


def _options(name: str, lang: str, filters: Filters, facets: dict[str, dict[str, int]],
             free: dict[str, list[str]], terms: TermIndex) -> list[dict[str, Any]]:
    """The choices of one filter menu with how many results each would give."""
    counts = facets.get(name, {})
    if name in VOCAB:
        pairs = [(t.key, t.label(lang)) for t in VOCAB[name]]
    elif name == "municipality":
        pairs = [(m, m) for m in sorted(MUNICIPALITIES, key=catalogue.sort_key)]
    else:
        pairs = [(v, terms.label(TERM_FILTERS[name], v, lang) if name in TERM_FILTERS else v)
                 for v in free.get(name, [])]
    known = {fold(v) for v, _ in pairs}
    pairs += [(v, v) for v in filters.values(name) if fold(v) not in known]
    chosen = {fold(v) for v in filters.values(name)}
    return [{"value": v, "label": lbl, "count": counts.get(fold(v), 0),
             "selected": fold(v) in chosen} for v, lbl in pairs]


async def catalogue_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    _ = gettext(lang)
    filters = Filters.from_query(request.query)
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    async with request.app[DB].read() as session:
        found = await catalogue.search(session, filters, offset=(page - 1) * PER_PAGE,
                                       limit=PER_PAGE, facets=True)
        pages = max(1, -(-found.total // PER_PAGE))
        if page > pages:  # past the end (a stale link): the last page
            page = pages
            found = await catalogue.search(session, filters, offset=(page - 1) * PER_PAGE,
                                           limit=PER_PAGE, facets=True)
        published, updated = await catalogue.published_summary(session)
        free = await catalogue.free_values(session)
        terms = await term_index(session)
        # Nothing found for a search: "Mente du …?" from the registry's own words.
        suggestion = (await catalogue.did_you_mean(session, filters.q)
                      if filters.q and not found.total else None)
    facets = found.facets
    shown = found.rows
    lang_param = [("lang", lang)] if "lang" in request.query else []

    def page_href(n: int) -> str:
        extra = [("page", str(n))] if n > 1 else []
        return _href("/", filters.params() + extra + lang_param)

    chips = []
    if filters.q:
        chips.append({"name": _("pub.filter.q"), "label": f"“{filters.q}”",
                      "href": _href("/", filters.without("q").params() + lang_param)})
    for name in FILTER_PARAMS:
        for v in filters.values(name):
            label = (terms.label(TERM_FILTERS[name], v, lang) if name in TERM_FILTERS
                     else _label(name, v, lang))
            chips.append({"name": _(f"pub.filter.{name}"), "label": label,
                          "href": _href("/", filters.without(name, v).params() + lang_param)})
    results = [{
        "row": r, "status_label": _label("status", r.status, lang) if r.status else "",
        "badge": STATUS_BADGE.get(r.status or "", ""),
        "regions": [_label("regions", k, lang) for k in r.regions],
        "confirmed": format_date(r.last_confirmed_at, lang),
        "excerpt": catalogue.highlight(_excerpt(r.description), filters.q),
        "title_marked": catalogue.highlight(r.title, filters.q),
    } for r in shown]
    return _page(
        request, "public/catalogue.html", filters=filters, results=results,
        total=found.total, published=published, page=page, pages=pages,
        first=(page - 1) * PER_PAGE + 1, last=(page - 1) * PER_PAGE + len(shown),
        prev_href=page_href(page - 1) if page > 1 else None,
        next_href=page_href(page + 1) if page < pages else None,
        page_links=[(n, page_href(n)) for n in _page_window(page, pages)],
        filter_names=FILTER_PARAMS,
        options={n: _options(n, lang, filters, facets, free, terms) for n in FILTER_PARAMS},
        chips=chips, sorts=catalogue.SORTS, lang_param=lang_param,
        csv_href=_href("/export.csv", filters.params() + [("lang", lang)]),
        excel_href=_href("/export.csv", filters.params() + [("lang", lang),
                                                           ("format", "excel")]),
        json_href=_href("/api/initiatives", filters.params()),
        clear_href=_href("/", lang_param), suggestion=suggestion,
        updated=format_date(updated, lang) if updated else "",
        updated_iso=updated.date().isoformat() if updated else "",
        suggestion_href=_href("/", filters.without("q").params() + [("q", suggestion or "")]
                              + lang_param) if suggestion else None)


def _excerpt(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + " …"


def _page_window(page: int, pages: int, width: int = 2) -> list[int]:
    """Page numbers to link: the first, the last, and a few around the current one."""
    wanted = {1, pages, *range(page - width, page + width + 1)}
    return [n for n in sorted(wanted) if 1 <= n <= pages]


# ---------------------------------------------------------------------------------------
# initiative page

def format_size(size: int, lang: str) -> str:
    """A file size as people read it: "1,2 MB" / "1.2 MB", "310 kB"."""
    if size >= 1024 * 1024:
        return format_number(round(size / (1024 * 1024), 1), lang) + " MB"
    return format_number(max(1, round(size / 1024)), lang) + " kB"


async def evaluation_report_file(request: web.Request) -> web.StreamResponse:
    """The entry's attached evaluation report: a PDF a moderator attached, served as a
    download that the browser never runs (``attachment``, ``nosniff``, a sandboxing
    CSP: the bytes were a stranger's before a moderator looked at them)."""
    item, moved_to = await _published_or_redirect(request, request.match_info["slug"])
    if moved_to:
        raise web.HTTPMovedPermanently(f"/initiativ/{moved_to}/evalueringsrapport.pdf")
    info, found = None, None
    if item is not None:
        async with request.app[DB].read() as session:
            info = await report_info(session, item.id)
            # A cache that has this very file asks again and gets 304 (the bytes, up to
            # 25 MB, are not read); a removed or replaced report is never served stale.
            if info is not None and f'"{info.sha256}"' not in request.headers.get(
                    "If-None-Match", ""):
                found = await report_file(session, item.id)
    if info is None:
        return _page(request, "public/not_found.html", status=404)
    headers = {"ETag": f'"{info.sha256}"', "Cache-Control": "no-cache",
               "X-Content-Type-Options": "nosniff"}
    if found is None:
        return web.Response(status=304, headers=headers)
    name, data = found
    return web.Response(body=data, headers={
        **headers,
        "Content-Type": "application/pdf",
        "Content-Disposition": content_disposition(name),
        "Content-Security-Policy": "sandbox; default-src 'none'",
    })


async def initiative_page(request: web.Request) -> web.StreamResponse:
    lang = _lang(request)
    _ = gettext(lang)
    slug = request.match_info["slug"]
    item, moved_to = await _published_or_redirect(request, slug)
    if moved_to:
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPMovedPermanently(f"/initiativ/{moved_to}{query}")
    if item is None:
        return _page(request, "public/not_found.html", status=404)
    async with request.app[DB].read() as session:
        versions = await history(session, item.id)
        terms = await term_index(session)
        report = await report_info(session, item.id)
    record = item.public_record()
    status_term = next((t for t in STATUSES if t.key == item.status), None)
    changes = []
    for v in reversed(versions):
        if v.version == 1:
            what = _("pub.initiative.created")
        elif not v.changed:
            what = _("pub.initiative.confirmed_nochange")
        else:
            fields = sorted(v.changed, key=lambda f: (FIELD_KEYS.index(f)
                                                      if f in FIELD_KEYS else 99, f))
            what = _("pub.initiative.changed") + ": " + ", ".join(
                _(f"pub.field.{f}") for f in fields)
        changes.append({"date": format_date(v.created_at, lang),
                        "iso": v.created_at.date().isoformat(), "what": what})
    lang_param = [("lang", lang)] if "lang" in request.query else []
    links = []
    for key in ("website", "evaluation_url"):
        value = record.get(key)
        if value:
            links.append({"label": _(f"pub.field.{key}"), "text": value,
                          "href": safe_url(value)})
    if report is not None:  # attached by a moderator (bot.registry.evaluation_reports)
        links.append({"label": _("pub.initiative.report"),
                      "text": _("pub.initiative.report_file", name=report.filename,
                                size=format_size(report.size, lang)),
                      "href": f"/initiativ/{item.slug}/evalueringsrapport.pdf"})
    return _page(
        request, "public/initiative.html", item=item, record=record,
        term_label=lambda vocabulary, value: terms.label(vocabulary, value, lang),
        status_label=status_term.label(lang) if status_term else "",
        status_help=status_term.help(lang) if status_term else "",
        badge=STATUS_BADGE.get(item.status or "", ""),
        participants=[(p, _label("participants", p, lang)) for p in item.participants or []],
        regions=[(k, _label("regions", k, lang)) for k in item.regions or []],
        pro=[(k, _label("pro", k, lang)) for k in item.pro or []],
        evaluation_label=(_label("evaluation_status", item.evaluation_status, lang)
                          if item.evaluation_status else ""),
        sector_label=_label("sector", item.sector, lang) if item.sector else "",
        start=format_date(item.start_date, lang), end=format_date(item.end_date, lang),
        confirmed=format_date(item.last_confirmed_at, lang),
        confirmed_iso=(item.last_confirmed_at.date().isoformat()
                       if item.last_confirmed_at else ""),
        links=links, changes=changes, lang_param=lang_param,
        chat_href=_href("/chat", [("initiative", item.slug)] + lang_param),
        email_href=("mailto:" + record["contact_email"]) if record.get("contact_email")
        else None,
        phone_href=("tel:" + "".join(c for c in record["contact_phone"]
                                     if c.isdigit() or c == "+"))
        if record.get("contact_phone") else None)


# ---------------------------------------------------------------------------------------
# statistics

def statistics_charts(stats: Stats, lang: str) -> list[dict[str, Any]]:
    """Each figure of the statistics page: a chart (SVG) and the rows of its table."""
    _ = gettext(lang)
    total = stats.total
    figures: list[dict[str, Any]] = []

    def table(bars: Sequence[charts.Bar], whole: int) -> list[dict[str, Any]]:
        return [{"label": b.label, "count": b.count, "href": b.href,
                 "share": charts.format_percent(charts.percent(b.count, whole), lang)}
                for b in bars]

    def add(key: str, svg: str, bars: Sequence[charts.Bar], whole: int) -> None:
        figures.append({"id": key, "title": _(f"pub.stats.{key}"),
                        "desc": _(f"pub.stats.{key}.desc"), "svg": Markup(svg),
                        "rows": table(bars, whole)})

    def href(name: str, value: str) -> str | None:
        return None if value == UNKNOWN else _href("/", [(name, value)])

    status_bars = [charts.Bar(_label("status", k, lang), n, href("status", k))
                   for k, n in stats.by_status.items()]
    add("status", charts.bar_chart("status", _("pub.stats.status"),
                                   _("pub.stats.status.desc"), status_bars, whole=total,
                                   lang=lang), status_bars, total)
    unknown_status = total - stats.ongoing - stats.ended
    split = [charts.Bar(_("pub.stats.ongoing"), stats.ongoing),
             charts.Bar(_("pub.stats.ended"), stats.ended, href("status", "afsluttet"))]
    if unknown_status:
        split.append(charts.Bar(_("pub.unknown"), unknown_status))
    add("ongoing_ended", charts.split_bar("ongoing_ended", _("pub.stats.ongoing_ended"),
                                          _("pub.stats.ongoing_ended.desc"), split, lang=lang),
        split, total)
    part_bars = [charts.Bar(_label("participants", k, lang), n, href("participant", k))
                 for k, n in stats.by_participant.items()]
    add("participants", charts.bar_chart("participants", _("pub.stats.participants"),
                                         _("pub.stats.participants.desc"), part_bars,
                                         whole=total, lang=lang), part_bars, total)
    unknown_sector = total - stats.monosectoral - stats.cross_sectoral
    mono = [charts.Bar(_("pub.stats.mono"), stats.monosectoral, href("sector", "monosektoriel")),
            charts.Bar(_("pub.stats.cross"), stats.cross_sectoral)]
    if unknown_sector:
        mono.append(charts.Bar(_("pub.unknown"), unknown_sector))
    add("sectors", charts.split_bar("sectors", _("pub.stats.sectors"),
                                    _("pub.stats.sectors.desc"), mono, lang=lang), mono, total)
    sector_bars = [charts.Bar(_label("sector", k, lang), n, href("sector", k))
                   for k, n in stats.by_sector.items()]
    add("sector_combos", charts.bar_chart("sector_combos", _("pub.stats.sector_combos"),
                                          _("pub.stats.sector_combos.desc"), sector_bars,
                                          whole=total, lang=lang, label_width=300),
        sector_bars, total)
    region_bars = [charts.Bar(_label("regions", k, lang), n, href("region", k))
                   for k, n in stats.by_region.items()]
    add("regions", charts.bar_chart("regions", _("pub.stats.regions"),
                                    _("pub.stats.regions.desc"), region_bars, whole=total,
                                    lang=lang), region_bars, total)
    years = stats.by_start_year
    year_bars: list[charts.Bar] = []
    if years:
        year_bars = [charts.Bar(str(y), years.get(y, 0))
                     for y in range(min(years), max(years) + 1)]
    with_year = sum(years.values())
    add("years", charts.column_chart("years", _("pub.stats.years"), _("pub.stats.years.desc"),
                                     year_bars, whole=with_year, lang=lang),
        year_bars, with_year)
    return figures


async def _stats_for(request: web.Request) -> tuple[Stats, date, int | None]:
    """The figures the request asks for: ``?aar=YYYY`` at that year's reference date
    (from the version history), else today's."""
    settings = request.app[SETTINGS]
    today = datetime.now(UTC).date()
    try:
        year = int(request.query.get("aar", ""))
    except ValueError:
        year = 0
    if year:
        counted = reference_date(year, settings.stats_reference_day)
        if counted <= today and year >= 2000:
            moment = datetime(counted.year, counted.month, counted.day)
            return await stats_as_of(request.app[DB], moment), counted, year
    return await registry_stats(request.app[DB]), today, None


async def statistics_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    settings = request.app[SETTINGS]
    stats, counted, year = await _stats_for(request)
    today = datetime.now(UTC).date()
    years = await years_side_by_side(request.app[DB], settings.stats_reference_day,
                                     today=today)
    return _page(request, "public/statistics.html", stats=stats,
                 figures=statistics_charts(stats, lang) if stats.total else [],
                 ongoing_share=charts.format_percent(stats.share(stats.ongoing), lang),
                 cross_share=charts.format_percent(stats.share(stats.cross_sectoral), lang),
                 counted=format_date(counted, lang), counted_iso=counted.isoformat(),
                 year=year, years=[{
                     "year": y.year, "counted": format_date(y.counted_at, lang),
                     "total": y.stats.total, "ongoing": y.stats.ongoing,
                     "ended": y.stats.ended, "new": y.new, "ended_new": y.ended,
                     "cross": charts.format_percent(
                         y.stats.share(y.stats.cross_sectoral), lang),
                     "href": _href("/statistik", [("aar", str(y.year))] + (
                         [("lang", lang)] if "lang" in request.query else []))}
                     for y in years])


def stats_payload(stats: Stats) -> dict[str, Any]:
    """The statistics as the API gives them: the counts and the shares in percent."""
    data = stats.as_dict()
    data["percent"] = {
        **{k: {key: stats.share(n) for key, n in getattr(stats, k).items()}
           for k in ("by_status", "by_participant", "by_sector", "by_region")},
        **{k: stats.share(getattr(stats, k))
           for k in ("ongoing", "ended", "monosectoral", "cross_sectoral")},
    }
    return data


# ---------------------------------------------------------------------------------------
# map

async def map_counts(session: AsyncSession) -> tuple[Counter[str], Counter[str]]:
    """Published entries per region and per municipality (grouped in SQL)."""
    known = set(MUNICIPALITIES)
    regions = Counter(await catalogue.value_counts(session, "region"))
    munis = Counter({m: n for m, n in (await catalogue.value_counts(
        session, "municipality")).items() if m in known})
    return regions, munis


def render_map(region_counts: dict[str, int], muni_counts: dict[str, int], lang: str,
               lang_param: Sequence[tuple[str, str]] = (),
               selected_municipalities: Sequence[str] = (),
               selected_regions: Sequence[str] = ()) -> str:
    """The map SVG with links into the catalogue."""
    _ = gettext(lang)
    texts = map_svg.MapTexts(
        title=_("pub.map.title"), desc=_("pub.map.desc"),
        initiatives=lambda n: ngettext(lang)("pub.count", "pub.count.plural", n),
        municipality=lambda name: _("pub.map.municipality", name=name),
        region_label=lambda k: _label("regions", k, lang),
        capital_area=_("pub.map.capital"), bornholm=_("pub.map.bornholm"),
        credit=_("pub.map.credit"))
    return map_svg.draw_map(
        muni_counts, texts, region_counts=region_counts,
        region_href=lambda k: _href("/", [("region", k), *lang_param]),
        municipality_href=lambda m: _href("/", [("municipality", m), *lang_param]),
        selected_municipalities=selected_municipalities, selected_regions=selected_regions)


async def map_page(request: web.Request) -> web.Response:
    """``/kort``: the choropleth, its legend and the numbers behind it. Opened with the
    catalogue's ``?municipality=`` or ``?region=`` the map outlines what was chosen."""
    lang = _lang(request)
    _ = gettext(lang)
    async with request.app[DB].read() as session:
        regions, munis = await map_counts(session)
        published, _updated = await catalogue.published_summary(session)
    lang_param = [("lang", lang)] if "lang" in request.query else []
    chosen_munis = [m for m in MUNICIPALITIES if m in request.query.getall("municipality", [])]
    chosen_regions = [k for k in REGION_KEYS if k in request.query.getall("region", [])]
    svg = render_map(dict(regions), dict(munis), lang, lang_param, chosen_munis,
                     chosen_regions)
    classes = map_svg.colour_classes(max(munis.values(), default=0))
    region_rows = [{"label": _label("regions", t.key, lang), "count": regions.get(t.key, 0),
                    "href": _href("/", [("region", t.key), *lang_param]),
                    "selected": t.key in chosen_regions} for t in REGIONS]
    muni_rows = [{"label": m, "count": munis.get(m, 0), "selected": m in chosen_munis,
                  "colour": map_svg.colour_for(munis.get(m, 0), classes),
                  "region": _label("regions", map_svg.MUNICIPALITY_REGION[m], lang),
                  "href": _href("/", [("municipality", m), *lang_param])}
                 for m in sorted(MUNICIPALITIES, key=catalogue.sort_key)]
    selected = [_("pub.map.municipality", name=m) for m in chosen_munis] + [
        _label("regions", k, lang) for k in chosen_regions]
    selected_href = _href("/", [*(("municipality", m) for m in chosen_munis),
                                *(("region", k) for k in chosen_regions), *lang_param])
    # Coverage: the municipalities no published entry names, by region (MedCom asks
    # where initiatives are missing; entry is voluntary, so "none" may mean unregistered).
    uncovered: dict[str, list[str]] = {}
    for m in sorted(MUNICIPALITIES, key=catalogue.sort_key):
        if not munis.get(m, 0):
            region = _label("regions", map_svg.MUNICIPALITY_REGION[m], lang)
            uncovered.setdefault(region, []).append(m)
    return _page(request, "public/map.html", svg=Markup(svg), region_rows=region_rows,
                 muni_rows=muni_rows, published=published,
                 uncovered=sorted(uncovered.items()),
                 uncovered_total=sum(len(v) for v in uncovered.values()),
                 legend=[{"colour": c.colour, "label": c.label} for c in classes],
                 selected=", ".join(selected), selected_href=selected_href)


# ---------------------------------------------------------------------------------------
# open data

async def api_page(request: web.Request) -> web.Response:
    base = request.app[SETTINGS].base_url.rstrip("/")
    return _page(request, "public/api.html", base=base, fields=catalogue.API_FIELDS,
                 filter_names=FILTER_PARAMS, max_limit=MAX_LIMIT, default_limit=DEFAULT_LIMIT,
                 licence=request.app[SETTINGS].data_licence)


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=_dumps({"error": f"{name} must be a whole number"}),
                                 content_type="application/json", headers=CORS) from None


async def api_initiatives(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", DEFAULT_LIMIT)
    offset = _int_param(request, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        return _json({"error": f"limit must be 1–{MAX_LIMIT} and offset 0 or more"},
                     status=400)
    filters = Filters.from_query(request.query)
    base = request.app[SETTINGS].base_url.rstrip("/")
    async with request.app[DB].read() as session:
        result = await catalogue.search(session, filters, offset=offset, limit=limit)
        items = await catalogue.load_initiatives(session, [r.id for r in result.rows])

    def link(new_offset: int) -> str:
        return f"{base}/api/initiatives?" + urlencode(
            filters.params() + [("limit", str(limit)), ("offset", str(new_offset))])

    return _json({
        "total": result.total, "limit": limit, "offset": offset,
        "next": link(offset + limit) if result.has_next else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "items": [catalogue.public_record(i, base) for i in items],
    })


async def api_initiative(request: web.Request) -> web.Response:
    item, moved_to = await _published_or_redirect(request, request.match_info["slug"])
    if moved_to:
        raise web.HTTPMovedPermanently(f"/api/initiatives/{moved_to}", headers=CORS)
    if item is None:
        return _json({"error": "not found"}, status=404)
    return _json(catalogue.public_record(item, request.app[SETTINGS].base_url))


async def api_statistics(request: web.Request) -> web.Response:
    """The figures now, or with ``?aar=YYYY`` at that year's reference date; each says
    the date it was counted on."""
    stats, counted, _year = await _stats_for(request)
    return _json({**stats_payload(stats), "counted_at": counted.isoformat()})


async def api_statistics_years(request: web.Request) -> web.Response:
    """Every year side by side at MedCom's reference date (JSON, or CSV with
    ``?format=csv``)."""
    settings = request.app[SETTINGS]
    years = await years_side_by_side(request.app[DB], settings.stats_reference_day,
                                     today=datetime.now(UTC).date())
    rows = [{"year": y.year, "counted_at": y.counted_at.isoformat(), "new": y.new,
             "newly_ended": y.ended, **stats_payload(y.stats)} for y in years]
    if request.query.get("format") != "csv":
        return _json({"reference_day": settings.stats_reference_day, "years": rows})
    header = ["year", "counted_at", "total", "ongoing", "ended", "new", "newly_ended",
              "monosectoral", "cross_sectoral", *(f"status_{k}" for k in STATUS_KEYS),
              *(f"region_{k}" for k in REGION_KEYS)]
    body = "\ufeff" + csv_document(header, ([
        str(r["year"]), r["counted_at"], str(r["total"]), str(r["ongoing"]),
        str(r["ended"]), str(r["new"]), str(r["newly_ended"]), str(r["monosectoral"]),
        str(r["cross_sectoral"]), *(str(r["by_status"].get(k, 0)) for k in STATUS_KEYS),
        *(str(r["by_region"].get(k, 0)) for k in REGION_KEYS)] for r in rows))
    return web.Response(body=body.encode("utf-8"), headers={
        **CORS, "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="landkort-aar.csv"'})


async def api_openapi(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return _json(build_openapi(settings.base_url, settings.data_licence,
                               settings.data_licence_url))


def csv_cell(key: str, value: Any, lang: str) -> str:
    """One CSV cell: labels for vocabulary keys, lists joined with "; ", and a leading
    apostrophe before = + - @ so a spreadsheet never runs text from mail as a formula
    (:mod:`bot.core.spreadsheet`, which :func:`csv_text` applies to every cell)."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = "; ".join(_label(key, v, lang) for v in value)
    elif key in FIELD_VOCAB:
        text = _label(key, str(value), lang)
    else:
        text = str(value)
    return safe_cell(text)


# The spreadsheet export's columns that are not registry fields; their names are
# ``pub.column.<key>`` in the catalogues.
_EXTRA_COLUMNS = ("id", "slug", "url", "sector", "last_confirmed_at", "updated_at")


def csv_header(key: str, lang: str) -> str:
    """A column's name as people read it ("Slutdato", "End date")."""
    if key in FIELD_KEYS:
        return form_label(key, lang)
    return gettext(lang)(f"pub.column.{key}") if key in _EXTRA_COLUMNS else key


def csv_text(records: Sequence[dict[str, Any]], lang: str, *, excel: bool = False) -> str:
    """The CSV document (with a BOM so Excel reads UTF-8). The data CSV has the API's
    keys as its header and commas; the spreadsheet one (``excel``) has the columns'
    names in the page's language and semicolons, as Danish Excel expects."""
    header = [csv_header(k, lang) for k in catalogue.API_FIELDS] if excel \
        else list(catalogue.API_FIELDS)
    return "\ufeff" + csv_document(
        header,
        ([csv_cell(k, rec.get(k), lang) for k in catalogue.API_FIELDS] for rec in records),
        delimiter=";" if excel else ",")


async def export_csv(request: web.Request) -> web.Response:
    lang = _lang(request)
    filters = Filters.from_query(request.query)
    base = request.app[SETTINGS].base_url.rstrip("/")
    async with request.app[DB].read() as session:
        items = await catalogue.load_initiatives(
            session, await catalogue.matching_ids(session, filters))
        _count, updated = await catalogue.published_summary(session)
    excel = request.query.get("format") == "excel"
    body = csv_text([catalogue.public_record(i, base) for i in items], lang, excel=excel)
    name = "telemedicinsk-landkort-excel.csv" if excel else "telemedicinsk-landkort.csv"
    return web.Response(body=body.encode("utf-8"), headers={
        **CORS, "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
        **last_modified(updated)})


FEED_SIZE = 50


async def atom_feed(request: web.Request) -> web.Response:
    """New and changed initiatives as an Atom feed (RFC 4287), newest first."""
    from xml.etree import ElementTree as ET

    settings = request.app[SETTINGS]
    base = settings.base_url.rstrip("/")
    lang = _lang(request)
    async with request.app[DB].read() as session:
        items = list((await session.scalars(
            select(Initiative).where(Initiative.merged_into_id.is_(None))
            .order_by(Initiative.updated_at.desc(), Initiative.id.desc())
            .limit(FEED_SIZE))).all())
    atom = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", atom)

    def sub(parent: ET.Element, tag: str, text: str | None = None,
            **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{atom}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    def stamp(when: datetime | None) -> str:
        return (when or datetime(2000, 1, 1)).replace(microsecond=0).isoformat() + "Z"

    _ = gettext(lang)
    feed = ET.Element(f"{{{atom}}}feed")
    sub(feed, "title", _("site.name"))
    sub(feed, "id", f"{base}/feed.atom")
    sub(feed, "link", rel="self", href=f"{base}/feed.atom")
    sub(feed, "link", rel="alternate", href=f"{base}/")
    sub(feed, "updated", stamp(items[0].updated_at if items else None))
    sub(feed, "rights", f"{settings.data_licence} ({settings.data_licence_url})")
    author = sub(feed, "author")
    sub(author, "name", "MedCom")
    for item in items:
        entry = sub(feed, "entry")
        sub(entry, "title", item.title)
        sub(entry, "id", f"{base}/initiativ/{item.slug}")
        sub(entry, "link", rel="alternate", href=f"{base}/initiativ/{item.slug}")
        sub(entry, "updated", stamp(item.updated_at))
        sub(entry, "published", stamp(item.created_at))
        status = _label("status", item.status, lang) if item.status else ""
        sub(entry, "summary", " — ".join(
            p for p in (status, _excerpt(item.description or "")) if p))
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, headers={
        **CORS, "Content-Type": "application/atom+xml; charset=utf-8"})


def last_modified(when: datetime | None) -> dict[str, str]:
    """``Last-Modified`` (RFC 9110 §8.8.2) for a download: when the registry last changed
    (naive UTC from the database)."""
    if when is None:
        return {}
    return {"Last-Modified": format_datetime(when.replace(tzinfo=UTC), usegmt=True)}
