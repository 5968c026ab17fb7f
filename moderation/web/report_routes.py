"""Publishing the yearly report: an administrator freezes a year's report once its
reference date has passed, and from then on it never changes (bot.report.store)."""
from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bot.core.appkeys import DB, SETTINGS
from bot.core.pages import PageError
from bot.registry.stats import reference_date
from bot.report.figures import FIRST_YEAR
from bot.report.store import frozen_years, report_for
from moderation.web.security import require_admin
from moderation.web.views import actor_of, int_param, page, redirect

routes = web.RouteTableDef()


@routes.get("/moderation/reports", name="reports")
async def reports(request: web.Request) -> web.Response:
    """Each year: its reference date, whether it is published (frozen), the link."""
    require_admin(request)
    settings = request.app[SETTINGS]
    today = datetime.now(UTC).date()
    frozen = await frozen_years(request.app[DB])
    years = []
    for year in range(today.year, FIRST_YEAR - 1, -1):
        counted = reference_date(year, settings.stats_reference_day)
        at, by = frozen.get(year, ("", ""))
        years.append({"year": year, "counted": counted, "due": counted <= today,
                      "frozen_at": at[:10], "frozen_by": by})
    return page(request, "reports.html", years=years, done=request.query.get("done"))


@routes.post("/moderation/reports/freeze")
async def freeze(request: web.Request) -> web.Response:
    """Publish a year's report as it is counted now."""
    require_admin(request)
    form = await request.post()
    year = int_param(form.get("year"))
    settings = request.app[SETTINGS]
    today = datetime.now(UTC).date()
    if year is None or not FIRST_YEAR <= year <= today.year:
        raise PageError(400, "report.no_year")
    data = await report_for(request.app[DB], year, reference_day=settings.stats_reference_day,
                            today=today, freeze=True, actor=actor_of(request))
    if not data.get("frozen_at"):
        raise PageError(400, "err.report_too_early")
    raise redirect("/moderation/reports", done="report_frozen")


__all__ = ["routes"]
