"""Reading the inputs of the yearly report, and keeping its frozen copies.

:func:`report_for` is what the page, the PDF and ``landkort report`` call: the frozen copy
when there is one, else the figures counted now. A report whose year is over is frozen the
first time it is made, so last year's report never changes when entries do; this year's
is preliminary until an administrator freezes it (``landkort report --freeze``).
"""
from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.core.db import Database, dbnow
from bot.registry.models import Initiative, InitiativeVersion
from bot.report.figures import CampaignFigures, Version, yearly_report
from bot.report.models import FrozenReport
from moderation.audit import record_event
from moderation.campaign_stats import campaign_stats

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


async def year_campaign(db: Database, year: int) -> CampaignFigures | None:
    """The year's reminder campaign: every cycle that started in ``year`` (cycles are
    numbered by their start day, YYYYMMDD), or None when none did."""
    by_cycle, _ = await campaign_stats(db)
    cycles = [s for cycle, s in by_cycle.items() if cycle // 10000 == year]
    if not cycles:
        return None
    names = [f.name for f in fields(CampaignFigures)]
    return CampaignFigures(**{n: sum(getattr(s, n) for s in cycles) for n in names})


async def compute_report(db: Database, year: int, *, reference_day: str,
                         today: date) -> dict[str, Any]:
    """The report's figures counted now from the database."""
    return yearly_report(await read_history(db), year, reference_day=reference_day,
                         today=today, campaign=await year_campaign(db, year),
                         generated_at=dbnow())


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
    frozen when the year is over or ``freeze`` asks (only once its reference date has
    passed: a report counted before its day would freeze half a year)."""
    kept = await frozen_report(db, year)
    if kept is not None:
        return kept
    data = await compute_report(db, year, reference_day=reference_day, today=today)
    if not data["preliminary"] and (freeze or year < today.year):
        return await freeze_report(db, data, actor=actor)
    return data


__all__ = ["compute_report", "freeze_report", "frozen_report", "read_history",
           "report_for", "year_campaign"]
