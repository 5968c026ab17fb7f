"""The yearly report's figures, computed from the version history: pure, data in and a
JSON-ready dict out, so the page, the PDF, the CSV, the JSON, the frozen copy and the
tests all read the same numbers.

Every entry counts with its latest version written at or before the year's reference
date (MedCom counts "primo oktober", ``stats_reference_day``). What a version history
cannot tell — how the year's campaign was answered — is passed in, counted by
:mod:`moderation.campaign_stats`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.registry.record import MANDATORY_FIELDS, missing_mandatory
from bot.registry.stats import compute_stats, reference_date
from bot.registry.vocabulary import (
    EVALUATIONS,
    MUNICIPALITIES_BY_REGION,
    MUNICIPALITY_REGION,
    NO_PRO,
    PRO_KINDS,
    REGION_KEYS,
)

# The first year a report can be asked for: MedCom has followed the status shares since.
FIRST_YEAR = 2013
# The format of the dict below; a frozen copy names the format it was written in.
REPORT_FORMAT = 1
# Versions nobody answered for — the service's own rewrites (vocabularies), imports and
# demo data — say nothing about whether the entry is still right: they do not make it
# fresh. Answers by mail, chat and the web pages do (a confirmation writes a version).
NOT_A_CONFIRMATION = frozenset({"system", "import", "demo"})
FRESH_DAYS = 365
UNKNOWN = "ukendt"


@dataclass(frozen=True)
class Version:
    """One version of an entry as the report reads it."""

    created_at: datetime  # naive UTC
    channel: str
    data: Mapping[str, Any]


History = Mapping[int, Sequence[Version]]  # entry id → versions, oldest first


def moment_of(day: date) -> datetime:
    """The moment of the count: the start of the reference day (naive UTC, as the
    statistics page counts); a version written at that moment or before counts."""
    return datetime(day.year, day.month, day.day)


def as_of(history: History, moment: datetime) -> dict[int, Mapping[str, Any]]:
    """Each entry's latest version at ``moment`` (entries not yet there are left out)."""
    out: dict[int, Mapping[str, Any]] = {}
    for entry_id, versions in history.items():
        latest = None
        for v in versions:
            if v.created_at > moment:
                break
            latest = v.data
        if latest is not None:
            out[entry_id] = latest
    return out


def _counts(records: Sequence[Mapping[str, Any]], key: str) -> list[list[Any]]:
    counter: Counter[str] = Counter()
    for r in records:
        counter.update(set(r.get(key) or []))
    return [[name, n] for name, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _has_pro(record: Mapping[str, Any]) -> bool:
    return any(k != NO_PRO for k in record.get("pro") or [])


def _evaluated(record: Mapping[str, Any]) -> str:
    status = record.get("evaluation_status")
    if status:
        return str(status)
    # Before the field existed, a link to an evaluation was how an entry said so.
    return "evalueret" if record.get("evaluation_url") else UNKNOWN


def year_summary(records: Mapping[int, Mapping[str, Any]],
                 before: Mapping[int, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The headline figures of one year (also one row of the trend table)."""
    rows = list(records.values())
    stats = compute_stats(rows)
    ended_now = {i for i, r in records.items() if r.get("status") == "afsluttet"}
    ended_before = {i for i, r in (before or {}).items() if r.get("status") == "afsluttet"}
    municipalities = {m for r in rows for m in r.get("municipalities") or []
                      if m in MUNICIPALITY_REGION}
    return {
        "total": stats.total, "ongoing": stats.ongoing, "ended": stats.ended,
        "by_status": stats.by_status,
        "cross_sectoral": stats.cross_sectoral, "monosectoral": stats.monosectoral,
        "by_sector": stats.by_sector, "by_participant": stats.by_participant,
        "with_pro": sum(1 for r in rows if _has_pro(r)),
        "evaluated": sum(1 for r in rows if _evaluated(r) == "evalueret"),
        "with_experiences": sum(1 for r in rows if r.get("experiences")),
        "municipalities_covered": len(municipalities),
        "new": len(set(records) - set(before or {})) if before is not None else stats.total,
        "newly_ended": len(ended_now - ended_before),
    }


def yearly_report(history: History, year: int, *, reference_day: str, today: date,
                  campaign: Mapping[str, int] | None, first_year: int | None = None,
                  generated_at: datetime | None = None) -> dict[str, Any]:
    """The whole report for ``year``, counted at its reference date.

    ``campaign`` is the year's campaign, counted by :mod:`moderation.campaign_stats`
    (``CycleStats`` as a dict; None when none ran). The trend runs from the
    first year the history covers (or ``first_year``) up to ``year``."""
    counted = reference_date(year, reference_day)
    moment = moment_of(counted)
    records = as_of(history, moment)
    rows = list(records.values())
    stats = compute_stats(rows)
    starts = [v.created_at for versions in history.values() for v in versions[:1]]
    start_year = first_year or (min(starts).year if starts else year)
    trend: list[dict[str, Any]] = []
    previous: dict[int, Mapping[str, Any]] | None = None
    for y in range(min(start_year, year), year + 1):
        day = reference_date(y, reference_day)
        at = records if y == year else as_of(history, moment_of(day))
        if at or trend:
            trend.append({"year": y, "reference_date": day.isoformat(),
                          **year_summary(at, previous)})
        previous = at
    summary = trend[-1] if trend else {**year_summary(records, None), "year": year}

    by_municipality = Counter(m for r in rows for m in set(r.get("municipalities") or [])
                              if m in MUNICIPALITY_REGION)
    without = {region: sorted(m for m in MUNICIPALITIES_BY_REGION[region]
                              if not by_municipality.get(m)) for region in REGION_KEYS}
    pro = Counter(k for r in rows for k in set(r.get("pro") or []))
    evaluation = Counter(_evaluated(r) for r in rows)
    missing = Counter(k for r in rows for k in missing_mandatory(r))
    fresh_since = moment - timedelta(days=FRESH_DAYS)
    fresh = sum(1 for entry_id in records if any(
        fresh_since < v.created_at <= moment and v.channel not in NOT_A_CONFIRMATION
        for v in history[entry_id]))
    return {
        "format": REPORT_FORMAT,
        "year": year,
        "reference_date": counted.isoformat(),
        "generated_at": (generated_at or datetime.now(UTC).replace(tzinfo=None))
        .replace(microsecond=0).isoformat(),
        "preliminary": counted > today,
        "totals": {"total": stats.total, "ongoing": stats.ongoing, "ended": stats.ended,
                   "new": summary["new"], "newly_ended": summary["newly_ended"]},
        "by_status": stats.by_status,
        "pilot_vs_rollout": {
            "projekt": stats.by_status.get("projekt", 0),
            "udbredelse_drift": stats.by_status.get("under_udbredelse", 0)
            + stats.by_status.get("i_drift", 0)},
        "by_participant": stats.by_participant,
        "monosectoral": stats.monosectoral, "cross_sectoral": stats.cross_sectoral,
        "by_sector": stats.by_sector,
        "by_region": stats.by_region,
        "regions_without": [k for k in REGION_KEYS if not stats.by_region.get(k)],
        "by_municipality": {m: by_municipality.get(m, 0) for m in sorted(MUNICIPALITY_REGION)},
        "municipalities_without": without,
        "patient_groups": _counts(rows, "patient_groups"),
        "technology": _counts(rows, "technology"),
        "pro": {"with_pro": sum(1 for r in rows if _has_pro(r)),
                **{t.key: pro.get(t.key, 0) for t in PRO_KINDS},
                UNKNOWN: sum(1 for r in rows if not r.get("pro"))},
        "experiences": {"with": sum(1 for r in rows if r.get("experiences"))},
        "evaluation": {**{t.key: evaluation.get(t.key, 0) for t in EVALUATIONS},
                       UNKNOWN: evaluation.get(UNKNOWN, 0),
                       "with_link": sum(1 for r in rows if r.get("evaluation_url"))},
        "completeness": {"complete": sum(1 for r in rows if not missing_mandatory(r)),
                         "missing": {k: missing.get(k, 0) for k in MANDATORY_FIELDS}},
        "freshness": {"confirmed_12m": fresh, "days": FRESH_DAYS},
        "campaign": None if campaign is None else dict(campaign),
        "trend": trend,
    }


__all__ = ["FIRST_YEAR", "FRESH_DAYS", "REPORT_FORMAT", "History", "Version", "as_of",
           "moment_of", "year_summary", "yearly_report"]
