"""Reading the inputs of the yearly report, and keeping its frozen copies.

:func:`report_for` is what the page, the PDF and ``landkort report`` call: the frozen copy
when there is one, else the figures counted now (preliminary). An administrator publishes
a year's report by freezing it (``/moderation/reports`` or ``landkort report --freeze``),
once its reference date has passed; from then on it never changes when entries do. Only
a person freezes: a visit to the public page never does (a crawler would otherwise
publish a year before its older history was imported).
"""
from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.core.db import Database, dbnow
from bot.mail.models import CampaignStep
from bot.registry.models import Initiative, InitiativeVersion
from bot.report.figures import Version, yearly_report
from bot.report.models import FrozenReport
from moderation.audit import record_event
from moderation.campaign_stats import CycleStats, campaign_stats
from moderation.models import Submission

SYSTEM_ACTOR = "system"


async def read_history(db: Database) -> dict[int, list[Version]]:
    """Every version of every published entry (merged duplicates left out: their history
    lives on in the entry kept), oldest first."""
    query = (select(InitiativeVersion.initiative_id, InitiativeVersion.created_at,
                    InitiativeVersion.channel, InitiativeVersion.data)
             .join(Initiative, Initiative.id == InitiativeVersion.initiative_id)
             .where(Initiative.merged_into_id.is_(None))
             .order_by(InitiativeVersion.initiative_id, InitiativeVersion.version))
    history: dict[int, list[Version]] = {}
    async with db.read() as session:
        for row in (await session.execute(query)).all():
            history.setdefault(row.initiative_id, []).append(
                Version(row.created_at, row.channel, dict(row.data or {})))
    return history


async def year_campaign(db: Database, year: int) -> dict[str, int] | None:
    """The year's reminder campaign: every cycle that started in ``year`` (cycles are
    numbered by their start day, YYYYMMDD) added up, or None when none did."""
    by_cycle, _ = await campaign_stats(db)
    cycles = [s for cycle, s in by_cycle.items() if cycle // 10000 == year]
    if not cycles:
        return None
    total = CycleStats()
    for cycle in cycles:
        total.add(cycle)
    return asdict(total)


# Reports counted lately, by (database, year, reference day, today), with the stamp of
# what they were counted from: a page view does not read the whole history again while
# nothing changed.
_COUNTED: dict[tuple[int, int, str, date], tuple[tuple[Any, ...], dict[str, Any]]] = {}
_COUNTED_MAX = 16


async def _stamp(db: Database) -> tuple[Any, ...]:
    """What changes when anything the report counts changes: the newest version, the
    merges, the campaign steps and answers, the frozen copies."""
    async with db.read() as session:
        row = (await session.execute(select(
            select(func.max(InitiativeVersion.id)).scalar_subquery(),
            select(func.count()).select_from(Initiative)
            .where(Initiative.merged_into_id.is_not(None)).scalar_subquery(),
            select(func.max(CampaignStep.id)).scalar_subquery(),
            select(func.max(Submission.updated_at)).scalar_subquery(),
            select(func.count()).select_from(FrozenReport).scalar_subquery()))).one()
    return tuple(row)


async def compute_report(db: Database, year: int, *, reference_day: str,
                         today: date) -> dict[str, Any]:
    """The report's figures counted now from the database (in a thread: the count is
    pure Python over every version). The trend rows of years already published are
    their frozen copies' own, so this report agrees with the ones before it."""
    key = (id(db), year, reference_day, today)
    stamp = await _stamp(db)
    cached = _COUNTED.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    history = await read_history(db)
    campaign = await year_campaign(db, year)
    data = await asyncio.to_thread(yearly_report, history, year, reference_day=reference_day,
                                   today=today, campaign=campaign, generated_at=dbnow())
    years = [row["year"] for row in data["trend"]]
    async with db.read() as session:  # the published years among them, in one read
        published = {r.year: r.data for r in await session.scalars(
            select(FrozenReport).where(FrozenReport.year.in_(years)))}
    data["trend"] = [_published_row(row, published.get(row["year"]))
                     for row in data["trend"]]
    if len(_COUNTED) >= _COUNTED_MAX:
        _COUNTED.clear()
    _COUNTED[key] = (stamp, data)
    return data


def _published_row(row: dict[str, Any], frozen: dict[str, Any] | None) -> dict[str, Any]:
    """A trend row as its year's published report counted it, when it is published."""
    if frozen is None:
        return row
    own = [r for r in frozen.get("trend") or [] if r.get("year") == row["year"]]
    return {**own[-1], "published": True} if own else row


async def frozen_years(db: Database) -> dict[int, tuple[str, str]]:
    """Every frozen year: (frozen at, frozen by)."""
    async with db.read() as session:
        rows = (await session.execute(select(FrozenReport.year, FrozenReport.frozen_at,
                                             FrozenReport.frozen_by))).all()
    return {r.year: (r.frozen_at.isoformat(), r.frozen_by) for r in rows}


async def frozen_report(db: Database, year: int) -> dict[str, Any] | None:
    """The frozen copy of ``year``'s report, or None."""
    async with db.read() as session:
        row = await session.get(FrozenReport, year)
        return None if row is None else _with_freeze(row)


def _with_freeze(row: FrozenReport) -> dict[str, Any]:
    return {**row.data, "frozen_at": row.frozen_at.replace(microsecond=0).isoformat(),
            "preliminary": False}


async def freeze_report(db: Database, data: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Keep ``data`` as the frozen copy of its year, unless one is kept already (then that
    one is returned: a published report is never rewritten). Audited."""
    year = int(data["year"])
    try:
        async with db.write() as session:
            row = await session.get(FrozenReport, year)
            if row is None:
                row = FrozenReport(year=year, data=data, frozen_by=actor[:200],
                                   frozen_at=dbnow().replace(microsecond=0))
                session.add(row)
                await session.flush()
                await record_event(session, actor=actor, action="report.freeze",
                                   detail={"year": year})
            return _with_freeze(row)
    except IntegrityError:  # another instance froze it first (PostgreSQL)
        kept = await frozen_report(db, year)
        assert kept is not None
        return kept


async def report_for(db: Database, year: int, *, reference_day: str, today: date,
                     freeze: bool = False, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """The report of ``year``: the frozen copy if there is one; else counted now, and
    frozen when ``freeze`` asks (only once its reference date has passed: a report
    counted before its day would freeze half a year)."""
    kept = await frozen_report(db, year)
    if kept is not None:
        return kept
    data = await compute_report(db, year, reference_day=reference_day, today=today)
    if freeze and not data["preliminary"]:
        return await freeze_report(db, data, actor=actor)
    return data


__all__ = ["compute_report", "freeze_report", "frozen_report", "frozen_years", "read_history",
           "report_for", "year_campaign"]
