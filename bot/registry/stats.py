"""MedCom's yearly figures for the registry, computed from published entries.

:func:`compute_stats` is pure (records in, figures out) so the CLI, the statistics page
and the tests share it; :func:`registry_stats` reads the published entries.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.i18n import format_share, gettext, ngettext
from bot.registry.vocabulary import (
    ONGOING_STATUSES,
    PARTICIPANT_KEYS,
    REGION_KEYS,
    SECTOR_KEYS,
    STATUS_KEYS,
    sector_of,
)

UNKNOWN = "ukendt"


@dataclass(frozen=True)
class Stats:
    """Counts; use :meth:`share` for percentages. Keys are vocabulary keys, plus
    ``"ukendt"`` where an entry lacks the field."""

    total: int
    by_status: dict[str, int]
    ongoing: int
    ended: int
    by_participant: dict[str, int]  # entries involving each kind (an entry can count twice)
    monosectoral: int
    cross_sectoral: int
    by_sector: dict[str, int]       # monosektoriel and each cross-sector combination
    by_region: dict[str, int]       # entries involving each region
    by_start_year: dict[int, int] = field(default_factory=dict)

    def share(self, count: int, of: int | None = None) -> float:
        """``count`` as a percentage of ``of`` (default: all entries), 1 decimal."""
        whole = self.total if of is None else of
        return round(100.0 * count / whole, 1) if whole else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "by_status": self.by_status, "ongoing": self.ongoing,
            "ended": self.ended, "by_participant": self.by_participant,
            "monosectoral": self.monosectoral, "cross_sectoral": self.cross_sectoral,
            "by_sector": self.by_sector, "by_region": self.by_region,
            "by_start_year": {str(k): v for k, v in sorted(self.by_start_year.items())},
        }


def compute_stats(records: Iterable[Mapping[str, Any]]) -> Stats:
    """Figures for records with canonical keys (as ``Initiative.record()`` gives)."""
    rows = list(records)
    status = Counter((r.get("status") or UNKNOWN) for r in rows)
    participants: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    sectors: Counter[str] = Counter()
    years: Counter[int] = Counter()
    for r in rows:
        kinds = set(r.get("participants") or [])
        participants.update(k for k in kinds if k in PARTICIPANT_KEYS)
        regions.update(set(r.get("regions") or []) & set(REGION_KEYS))
        sectors[sector_of(kinds) or UNKNOWN] += 1
        start = str(r.get("start_date") or "")
        if start[:4].isdigit():
            years[int(start[:4])] += 1
    by_status = {k: status.get(k, 0) for k in STATUS_KEYS}
    if status.get(UNKNOWN):
        by_status[UNKNOWN] = status[UNKNOWN]
    by_sector = {k: sectors.get(k, 0) for k in SECTOR_KEYS}
    if sectors.get(UNKNOWN):
        by_sector[UNKNOWN] = sectors[UNKNOWN]
    mono = by_sector["monosektoriel"]
    cross = sum(v for k, v in by_sector.items() if k not in ("monosektoriel", UNKNOWN))
    return Stats(
        total=len(rows), by_status=by_status,
        ongoing=sum(status.get(k, 0) for k in ONGOING_STATUSES),
        ended=status.get("afsluttet", 0),
        by_participant={k: participants.get(k, 0) for k in PARTICIPANT_KEYS},
        monosectoral=mono, cross_sectoral=cross, by_sector=by_sector,
        by_region={k: regions.get(k, 0) for k in REGION_KEYS},
        by_start_year=dict(sorted(years.items())))


async def registry_stats(db: Database) -> Stats:
    """Figures for every published entry."""
    from bot.registry.repository import published_initiatives

    async with db.read() as session:
        records = [i.record() for i in await published_initiatives(session)]
    return compute_stats(records)


async def stats_as_of(db: Database, when: datetime) -> Stats:
    """The figures as they stood at ``when`` (naive UTC), from the version history: each
    entry counts with its latest version written at or before that moment. Entries
    merged into another since are left out (their history lives on in the one kept)."""
    from bot.registry.models import Initiative, InitiativeVersion

    ranked = (select(InitiativeVersion.initiative_id, InitiativeVersion.data,
                     func.row_number().over(partition_by=InitiativeVersion.initiative_id,
                                            order_by=InitiativeVersion.version.desc())
                     .label("rn"))
              .where(InitiativeVersion.created_at <= when).subquery())
    query = (select(ranked.c.data).join(Initiative, Initiative.id == ranked.c.initiative_id)
             .where(ranked.c.rn == 1, Initiative.merged_into_id.is_(None)))
    async with db.read() as session:
        records = [dict(row.data or {}) for row in (await session.execute(query)).all()]
    return compute_stats(records)


@dataclass(frozen=True)
class YearFigures:
    """One year's figures at the reference date, and what changed since the year before."""

    year: int
    counted_at: date
    stats: Stats
    new: int      # entries counted this year that were not the year before
    ended: int    # entries "afsluttet" this year that were not the year before


def reference_date(year: int, day: str) -> date:
    """MedCom's counting day of ``year`` ("10-01": primo oktober)."""
    month, dom = (int(p) for p in day.split("-"))
    return date(year, month, dom)


async def years_side_by_side(db: Database, day: str, *, today: date,
                             first_year: int | None = None) -> list[YearFigures]:
    """Every year's figures at its reference date, from the first year the history
    covers up to the last reference date that has passed.

    One read of the history (each entry's versions, oldest first), then one pass per
    year in memory: not one query per year on every view of the statistics page."""
    from bot.registry.models import Initiative, InitiativeVersion

    query = (select(InitiativeVersion.initiative_id, InitiativeVersion.created_at,
                    InitiativeVersion.data)
             .join(Initiative, Initiative.id == InitiativeVersion.initiative_id)
             .where(Initiative.merged_into_id.is_(None))
             .order_by(InitiativeVersion.initiative_id, InitiativeVersion.version))
    async with db.read() as session:
        versions = (await session.execute(query)).all()
    if not versions:
        return []
    by_entry: dict[int, list[tuple[datetime, dict[str, Any]]]] = {}
    for v in versions:
        by_entry.setdefault(v.initiative_id, []).append((v.created_at, dict(v.data or {})))
    start = first_year or min(v.created_at for v in versions).year
    out: list[YearFigures] = []
    before: tuple[int, int] | None = None
    for year in range(start, today.year + 1):
        counted = reference_date(year, day)
        if counted > today:
            break
        moment = datetime(counted.year, counted.month, counted.day)
        records = []
        for history in by_entry.values():
            latest = None
            for created_at, data in history:  # oldest first: the last one in time wins
                if created_at > moment:
                    break
                latest = data
            if latest is not None:
                records.append(latest)
        stats = compute_stats(records)
        ended = stats.by_status.get("afsluttet", 0)
        out.append(YearFigures(year, counted, stats,
                               new=stats.total - (before[0] if before else 0),
                               ended=ended - (before[1] if before else 0)))
        before = (stats.total, ended)
    return out


# ---------------------------------------------------------------------------------------
# Presentation (the ``landkort stats`` command)

def stats_json(stats: Stats) -> dict[str, Any]:
    """:meth:`Stats.as_dict` plus the percentages MedCom reports (of all entries)."""
    data = stats.as_dict()
    data["percent"] = {
        "by_status": {k: stats.share(v) for k, v in stats.by_status.items()},
        "ongoing": stats.share(stats.ongoing), "ended": stats.share(stats.ended),
        "by_participant": {k: stats.share(v) for k, v in stats.by_participant.items()},
        "monosectoral": stats.share(stats.monosectoral),
        "cross_sectoral": stats.share(stats.cross_sectoral),
        "by_sector": {k: stats.share(v) for k, v in stats.by_sector.items()},
        "by_region": {k: stats.share(v) for k, v in stats.by_region.items()},
        "by_start_year": {str(k): stats.share(v) for k, v in stats.by_start_year.items()},
    }
    return data


def format_stats(stats: Stats, lang: str = "da") -> str:
    """A readable table of the yearly figures, counts and shares of all entries, in
    ``lang`` (the ``messages`` catalogue, ``cli.stats.*``)."""
    from bot.registry.vocabulary import PARTICIPANTS, REGIONS, SECTORS, STATUSES, label_of

    _ = gettext(lang)
    rows: list[tuple[str, str, str] | None] = []

    def section(title: str, items: Iterable[tuple[str, int]]) -> None:
        rows.append(None)
        rows.append((title, _("cli.stats.count"), _("cli.stats.share")))
        for label, count in items:
            rows.append(("  " + label, str(count),
                         format_share(stats.share(count) / 100, lang, decimals=1)))

    unknown = _("cli.stats.unknown")
    section(_("cli.stats.status"), [
        (unknown if k == UNKNOWN else label_of(STATUSES, k, lang), v)
        for k, v in stats.by_status.items()])
    section(_("cli.stats.ongoing_ended"), [(_("cli.stats.ongoing"), stats.ongoing),
                                          (_("cli.stats.ended"), stats.ended)])
    section(_("cli.stats.participants"),
            [(label_of(PARTICIPANTS, k, lang), v) for k, v in stats.by_participant.items()])
    section(_("cli.stats.sectors"), [(_("cli.stats.monosectoral"), stats.monosectoral),
                                     (_("cli.stats.cross_sectoral"), stats.cross_sectoral)]
            + [("  " + label_of(SECTORS, k, lang), v) for k, v in stats.by_sector.items()
               if k not in ("monosektoriel", UNKNOWN)]
            + ([(_("cli.stats.no_participants"), stats.by_sector[UNKNOWN])]
               if stats.by_sector.get(UNKNOWN) else []))
    section(_("cli.stats.regions"),
            [(label_of(REGIONS, k, lang), v) for k, v in stats.by_region.items()])
    no_year = stats.total - sum(stats.by_start_year.values())
    section(_("cli.stats.start_year"),
            [(str(y), v) for y, v in sorted(stats.by_start_year.items())]
            + ([(unknown, no_year)] if no_year else []))
    width = max(len(r[0]) for r in rows if r) + 2
    lines = [ngettext(lang)("cli.stats.heading", "cli.stats.heading.plural", stats.total)]
    for row in rows:
        if row is None:
            lines.append("")
        else:
            lines.append(f"{row[0]:<{width}}{row[1]:>6}  {row[2]:>8}".rstrip())
    return "\n".join(lines)
