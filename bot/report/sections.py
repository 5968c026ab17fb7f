"""The yearly report as labelled sections, in the reader's language: what the page draws
as charts and tables, the PDF as bars and the CSV as rows, so the three say the same.

Pure: the report's dict (:func:`bot.report.figures.yearly_report`) in, sections out.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.i18n import format_date, format_share, gettext
from bot.registry.fields import form_label
from bot.registry.vocabulary import (
    EVALUATIONS,
    MUNICIPALITIES_BY_REGION,
    PARTICIPANTS,
    PRO_KINDS,
    REGION_KEYS,
    REGIONS,
    SECTORS,
    STATUSES,
    label_of,
)

# The page and the PDF show the most frequent terms; the CSV and JSON have them all.
TOP_TERMS = 15
UNKNOWN = "ukendt"


@dataclass(frozen=True)
class Row:
    """One line of a section: a label, a count, and what its share is of."""

    label: str
    count: int
    whole: int
    key: str = ""

    def share(self, lang: str) -> str:
        return format_share(self.count / self.whole if self.whole else 0.0, lang, decimals=1)


@dataclass(frozen=True)
class Section:
    """One figure of the report: a title, what it shows, its rows and how to draw them
    ("bars": one bar per row; "split": the rows are parts of one whole)."""

    id: str
    title: str
    desc: str
    rows: list[Row]
    chart: Literal["bars", "split", "none"] = "bars"
    more: int = 0  # rows left out of the page (all are in the CSV)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyFigure:
    value: str
    what: str


TermLabel = Callable[[str, str], str]  # (vocabulary, stored Danish term) → reader's label


def _term_rows(pairs: list[list[Any]], total: int, vocabulary: str,
               term_label: TermLabel | None) -> list[Row]:
    return [Row(term_label(vocabulary, str(name)) if term_label else str(name), int(n), total,
                str(name)) for name, n in pairs]


def key_figures(data: Mapping[str, Any], lang: str) -> list[KeyFigure]:
    """The figures at the top of the report."""
    _ = gettext(lang)
    t = data["totals"]
    total = t["total"]

    def pct(n: int) -> str:
        return format_share(n / total if total else 0.0, lang, decimals=1)

    return [
        KeyFigure(str(total), _("report.kf.total")),
        KeyFigure(str(t["ongoing"]), _("report.kf.ongoing", share=pct(t["ongoing"]))),
        KeyFigure(str(t["new"]), _("report.kf.new")),
        KeyFigure(str(t["newly_ended"]), _("report.kf.newly_ended")),
        KeyFigure(pct(data["cross_sectoral"]), _("report.kf.cross")),
        KeyFigure(pct(data["by_participant"].get("almen_praksis", 0)), _("report.kf.gp")),
        KeyFigure(pct(data["pro"]["with_pro"]), _("report.kf.pro")),
        KeyFigure(pct(data["evaluation"].get("evalueret", 0)), _("report.kf.evaluated")),
    ]


def sections(data: Mapping[str, Any], lang: str, *, top: int | None = TOP_TERMS,
             term_label: TermLabel | None = None) -> list[Section]:
    """Every section of the report, in reading order. ``top`` cuts the term lists (None:
    all rows, for the CSV); ``term_label`` names technology and patient-group terms in
    the reader's language (the report stores the Danish names)."""
    _ = gettext(lang)
    total = int(data["totals"]["total"])
    out: list[Section] = []

    def add(key: str, rows: list[Row], chart: Literal["bars", "split", "none"] = "bars",
            **kw: Any) -> None:
        out.append(Section(key, _(f"report.{key}"), _(f"report.{key}.desc"), rows, chart,
                           **kw))

    by_status = data["by_status"]
    add("status", [Row(_("report.unknown") if k == UNKNOWN else label_of(STATUSES, k, lang),
                       n, total, k) for k, n in by_status.items()])
    pvr = data["pilot_vs_rollout"]
    ongoing = pvr["projekt"] + pvr["udbredelse_drift"]  # MedCom compares the ongoing ones
    add("pilot_vs_rollout", [Row(_("report.pilot"), pvr["projekt"], ongoing, "projekt"),
                             Row(_("report.rollout"), pvr["udbredelse_drift"], ongoing,
                                 "udbredelse_drift")], "split")
    add("participants", [Row(label_of(PARTICIPANTS, k, lang), n, total, k)
                         for k, n in data["by_participant"].items()],
        notes=[_("report.participants.gp_note")])
    sector_rows = [Row(_("report.mono"), data["monosectoral"], total, "monosektoriel"),
                   Row(_("report.cross"), data["cross_sectoral"], total, "tvaersektoriel")]
    add("sectors", sector_rows, "split")
    combos = sorted(((k, n) for k, n in data["by_sector"].items()
                     if k not in ("monosektoriel", UNKNOWN)), key=lambda kv: kv[1])
    add("sector_combos", [Row(label_of(SECTORS, k, lang), n, total, k) for k, n in combos],
        notes=[_("report.sector_combos.rare", combo=label_of(SECTORS, combos[0][0], lang))]
        if combos and total else [])
    add("regions", [Row(label_of(REGIONS, k, lang), n, total, k)
                    for k, n in data["by_region"].items()])
    without = data["municipalities_without"]
    coverage_rows = [Row(label_of(REGIONS, r, lang),
                         len(MUNICIPALITIES_BY_REGION[r]) - len(without.get(r, [])),
                         len(MUNICIPALITIES_BY_REGION[r]), r) for r in REGION_KEYS]
    add("municipalities", coverage_rows, "none",
        notes=[_("report.municipalities.without", region=label_of(REGIONS, r, lang),
                 names=", ".join(without[r])) for r in REGION_KEYS if without.get(r)])
    for key in ("patient_groups", "technology"):
        pairs = data[key]
        shown = pairs if top is None else pairs[:top]
        add(key, _term_rows(shown, total, key, term_label), more=len(pairs) - len(shown))
    pro = data["pro"]
    add("pro", [Row(_("report.pro.with"), pro["with_pro"], total, "with_pro")]
        + [Row(t.label(lang), pro.get(t.key, 0), total, t.key) for t in PRO_KINDS]
        + [Row(_("report.unknown"), pro.get(UNKNOWN, 0), total, UNKNOWN)])
    ev = data["evaluation"]
    add("evaluation", [Row(t.label(lang), ev.get(t.key, 0), total, t.key)
                       for t in reversed(EVALUATIONS)]
        + [Row(_("report.unknown"), ev.get(UNKNOWN, 0), total, UNKNOWN),
           Row(_("report.evaluation.with_link"), ev.get("with_link", 0), total,
               "with_link")])
    shared = int((data.get("experiences") or {}).get("with", 0))
    add("experiences", [Row(_("report.experiences.with"), shared, total, "with")])
    comp = data["completeness"]
    add("completeness", [Row(_("report.completeness.complete"), comp["complete"], total,
                             "complete")]
        + [Row(_("report.completeness.missing", field=form_label(k, lang)), n, total, k)
           for k, n in comp["missing"].items()])
    fresh = data["freshness"]["confirmed_12m"]
    add("freshness", [Row(_("report.freshness.fresh"), fresh, total, "fresh"),
                      Row(_("report.freshness.stale"), total - fresh, total, "stale")],
        "split")
    campaign = data.get("campaign")
    if campaign:
        entries = int(campaign["entries"])
        add("campaign", [Row(_(f"report.campaign.{k}"), int(campaign[k]), entries, k)
                         for k in ("answered", "via_link", "via_form", "via_mail",
                                   "via_chat", "confirmed", "updated", "bounced",
                                   "opted_out", "no_answer")],
            notes=[_("report.campaign.of", n=entries)])
    else:
        add("campaign", [], "none", notes=[_("report.campaign.none")])
    return out


def trend_columns(lang: str) -> list[tuple[str, str]]:
    """(key, heading) of the columns of the table of years."""
    _ = gettext(lang)
    return [(k, _(f"report.trend.{k}")) for k in (
        "total", "projekt", "rollout", "ended", "cross", "gp", "pro", "evaluated", "experiences",
        "municipalities", "new", "newly_ended")]


def trend_rows(data: Mapping[str, Any], lang: str) -> list[dict[str, str]]:
    """One row per year up to the report's, the shares MedCom follows since 2013."""
    rows = []
    for y in data["trend"]:
        total = y["total"]

        def pct(n: int, whole: int = total) -> str:
            return format_share(n / whole if whole else 0.0, lang, decimals=1)

        s = y["by_status"]
        rows.append({
            "year": str(y["year"]),
            "counted": format_date(y["reference_date"], lang),
            "total": str(total), "projekt": pct(s.get("projekt", 0)),
            "rollout": pct(s.get("under_udbredelse", 0) + s.get("i_drift", 0)),
            "ended": str(y["ended"]), "cross": pct(y["cross_sectoral"]),
            "gp": pct(y["by_participant"].get("almen_praksis", 0)),
            "pro": str(y["with_pro"]), "evaluated": str(y["evaluated"]),
            "experiences": str(y.get("with_experiences", 0)),
            "municipalities": f"{y['municipalities_covered']}/98",
            "new": str(y["new"]), "newly_ended": str(y["newly_ended"]),
        })
    return rows


def sector_trend(data: Mapping[str, Any], lang: str) -> tuple[list[str], list[list[str]]]:
    """The sector combinations year by year (MedCom follows how rare general practice's
    are): headings, then per year its count of each combination and its share."""
    combos = [k for k in (t.key for t in SECTORS) if k != "monosektoriel"]
    headings = [label_of(SECTORS, k, lang) for k in combos]
    rows = []
    for y in data["trend"]:
        total = y["total"]
        cells = [str(y["year"])]
        for k in combos:
            n = int(y["by_sector"].get(k, 0))
            cells.append(f"{n} ({format_share(n / total if total else 0.0, lang, decimals=1)})")
        rows.append(cells)
    return headings, rows


__all__ = ["KeyFigure", "Row", "Section", "TOP_TERMS", "key_figures", "sections",
           "sector_trend", "trend_columns", "trend_rows"]
