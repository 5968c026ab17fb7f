"""The yearly report as files: CSV (every row of every section, then the table of years),
JSON (the figures as counted) and a PDF on A4.

The PDF is drawn with fpdf2, which installs from PyPI alone (no browser, no system
library), from the same sections as the page: a title, the key figures, each section
as bars with count and share, the table of years and the note on what the data can say.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.core.i18n import format_date, gettext
from bot.core.spreadsheet import csv_document
from bot.report.sections import (
    TermLabel,
    key_figures,
    sections,
    sector_trend,
    trend_columns,
    trend_rows,
)


def report_json(data: Mapping[str, Any]) -> str:
    """The figures as counted (or as frozen), for programs."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def report_csv(data: Mapping[str, Any], lang: str, *,
               term_label: TermLabel | None = None) -> str:
    """Every section's rows (all terms, not only the most frequent), then one row per
    year: ``section, label, count, of, share``. Shares are percent with a dot, so a
    spreadsheet in any language reads them as numbers."""
    _ = gettext(lang)
    rows: list[list[str]] = []
    for s in sections(data, lang, top=None, term_label=term_label):
        for r in s.rows:
            share = f"{100.0 * r.count / r.whole:.1f}" if r.whole else ""
            rows.append([s.title, r.label, str(r.count), str(r.whole), share])
    columns = trend_columns(lang)
    for y in trend_rows(data, lang):
        for key, heading in columns:
            rows.append([_("report.trend"), f"{y['year']}: {heading}", y[key], "", ""])
    headings, by_year = sector_trend(data, lang)
    for row in by_year:
        for heading, cell in zip(headings, row[1:], strict=True):
            rows.append([_("report.sector_trend"), f"{row[0]}: {heading}",
                         cell.split(" ")[0], "", ""])
    return csv_document([_("report.csv.section"), _("report.csv.label"),
                         _("report.csv.count"), _("report.csv.of"), _("report.csv.share")],
                        rows)


# fpdf2's core fonts cover Latin-1; Danish letters are in it, a few marks are not.
_PLAIN = str.maketrans({"–": "-", "—": "-", "→": "->", "’": "'", "‘": "'", "“": '"',
                        "”": '"', "…": "...", "\u00a0": " ", "\u202f": " ", "≥": ">="})


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=16)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.set_text_color(85, 85, 85)
        self.cell(0, 6, _latin1(f"{self.footer_text} · {self.page_no()}"), align="C")

    def line_of_text(self, text: str, size: float = 10, *, bold: bool = False,
                     height: float = 5.2, colour: tuple[int, int, int] = (27, 27, 27)) -> None:
        self.set_font("helvetica", style="B" if bold else "", size=size)
        self.set_text_color(*colour)
        self.multi_cell(0, height, _latin1(text), align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)


def report_pdf(data: Mapping[str, Any], lang: str, *,
               term_label: TermLabel | None = None) -> bytes:
    """The report as an A4 PDF in ``lang``."""
    _ = gettext(lang)
    title = _("report.title", year=data["year"])
    pdf = _Document(title)
    pdf.set_title(_latin1(title))
    pdf.set_author(_latin1(_("site.name")))
    pdf.add_page()
    pdf.line_of_text(title, 18, bold=True, height=9)
    counted = _("report.counted", date=format_date(data["reference_date"], lang))
    state = (_("report.frozen", date=format_date(str(data["frozen_at"])[:10], lang))
             if data.get("frozen_at") else _("report.preliminary"))
    pdf.line_of_text(f"{counted} {state}", 10, colour=(85, 85, 85))
    pdf.ln(3)
    figures = key_figures(data, lang)
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / 4
    for i in range(0, len(figures), 4):
        y = pdf.get_y()
        for j, kf in enumerate(figures[i:i + 4]):
            pdf.set_xy(pdf.l_margin + j * width, y)
            pdf.set_font("helvetica", style="B", size=15)
            pdf.set_text_color(11, 83, 148)
            pdf.cell(width, 7, _latin1(kf.value))
            pdf.set_xy(pdf.l_margin + j * width, y + 7)
            pdf.set_font("helvetica", size=8)
            pdf.set_text_color(27, 27, 27)
            pdf.multi_cell(width - 3, 3.8, _latin1(kf.what), align="L", new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
        pdf.set_xy(pdf.l_margin, y + 18)
    for s in sections(data, lang, term_label=term_label):
        _section(pdf, s, lang)
    pdf.ln(2)
    pdf.line_of_text(_("report.trend"), 13, bold=True, height=7)
    _trend_table(pdf, data, lang)
    pdf.ln(3)
    pdf.line_of_text(_("report.sector_trend"), 13, bold=True, height=7)
    _sector_table(pdf, data, lang)
    pdf.ln(3)
    pdf.line_of_text(_("report.note.title"), 13, bold=True, height=7)
    for key in ("report.note.voluntary", "report.note.gp", "report.note.history",
                "report.note.fields"):
        pdf.line_of_text(_(key), 9.5, height=4.8)
        pdf.ln(1)
    return bytes(pdf.output())


def _section(pdf: _Document, s: Any, lang: str) -> None:
    needed = 16 + 6 * max(1, len(s.rows))
    if pdf.get_y() + min(needed, 80) > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(2)
    pdf.line_of_text(s.title, 12, bold=True, height=6.5)
    pdf.line_of_text(s.desc, 8.5, height=4.2, colour=(85, 85, 85))
    pdf.ln(1)
    usable = pdf.w - pdf.l_margin - pdf.r_margin
    label_w, value_w = 62.0, 30.0
    bar_w = usable - label_w - value_w
    biggest = max((r.count for r in s.rows), default=0) or 1
    for r in s.rows:
        if pdf.get_y() + 6 > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_font("helvetica", size=8.5)
        pdf.set_text_color(27, 27, 27)
        pdf.set_xy(pdf.l_margin, y)
        label = _latin1(r.label)
        if pdf.get_string_width(label) > label_w - 2:  # a long term: cut, with "..."
            while label and pdf.get_string_width(label + "...") > label_w - 2:
                label = label[:-1]
            label = label.rstrip() + "..."
        pdf.cell(label_w, 5.5, label)
        pdf.set_fill_color(11, 83, 148)
        # Bars against the biggest row; parts of a whole against that whole.
        length = bar_w * (r.count / biggest if s.chart == "bars" else
                          (r.count / r.whole if r.whole else 0.0))
        if length > 0:
            pdf.rect(pdf.l_margin + label_w, y + 1, max(length, 0.4), 3.5, style="F")
        pdf.set_xy(pdf.l_margin + label_w + bar_w, y)
        pdf.cell(value_w, 5.5, _latin1(f"{r.count} ({r.share(lang)})"), align="R")
        pdf.set_xy(pdf.l_margin, y + 6)
    if s.more:
        pdf.line_of_text(gettext(lang)("report.more", n=s.more), 8, colour=(85, 85, 85))
    for note in s.notes:
        pdf.line_of_text(note, 8.5, height=4.2, colour=(85, 85, 85))


def _trend_table(pdf: _Document, data: Mapping[str, Any], lang: str) -> None:
    _ = gettext(lang)
    columns = [("year", _("report.trend.year"))] + trend_columns(lang)
    usable = pdf.w - pdf.l_margin - pdf.r_margin
    w = usable / len(columns)
    pdf.set_font("helvetica", style="B", size=6.5)
    y = pdf.get_y()
    for i, (_key, heading) in enumerate(columns):
        pdf.set_xy(pdf.l_margin + i * w, y)
        pdf.multi_cell(w, 3.2, _latin1(heading), align="C" if i else "L",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, y + 10)
    pdf.set_font("helvetica", size=7.5)
    for row in trend_rows(data, lang):
        if pdf.get_y() + 5 > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        for i, (key, _heading) in enumerate(columns):
            pdf.set_xy(pdf.l_margin + i * w, y)
            pdf.cell(w, 5, _latin1(row[key]), align="R" if i else "L")
        pdf.set_xy(pdf.l_margin, y + 5)


def _sector_table(pdf: _Document, data: Mapping[str, Any], lang: str) -> None:
    _ = gettext(lang)
    headings, rows = sector_trend(data, lang)
    usable = pdf.w - pdf.l_margin - pdf.r_margin
    first = 20.0
    w = (usable - first) / max(1, len(headings))
    pdf.set_font("helvetica", style="B", size=7)
    y = pdf.get_y()
    pdf.set_xy(pdf.l_margin, y)
    pdf.cell(first, 4, _latin1(_("report.trend.year")))
    for i, heading in enumerate(headings):
        pdf.set_xy(pdf.l_margin + first + i * w, y)
        pdf.multi_cell(w, 3.4, _latin1(heading), align="C", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, y + 11)
    pdf.set_font("helvetica", size=7.5)
    for row in rows:
        if pdf.get_y() + 5 > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(first, 5, _latin1(row[0]))
        for i, cell in enumerate(row[1:]):
            pdf.set_xy(pdf.l_margin + first + i * w, y)
            pdf.cell(w, 5, _latin1(cell), align="R")
        pdf.set_xy(pdf.l_margin, y + 5)


__all__ = ["report_csv", "report_json", "report_pdf"]
