"""Server-side SVG charts for the statistics page.

Every function is pure: data in, an ``<svg>`` string out. Every chart has a ``<title>``
and a ``<desc>`` (referenced by ``aria-labelledby``), prints each number and percentage
next to its bar, and all text is escaped. The page puts a data table next to each chart,
so nothing is only available as a picture.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

from bot.core.i18n import format_share

ACCENT = "#0b5394"
PALETTE: tuple[str, ...] = ("#0b5394", "#d94801", "#2a7f3e", "#7a3e9d", "#8a6d00", "#5f6b76")
TEXT = "#1b1b1b"
MUTED = "#555555"
GRID = "#d0d7de"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Bar:
    """One bar: a label, a count, and optionally a link (to the filtered catalogue)."""

    label: str
    count: int
    href: str | None = None


def _e(text: object) -> str:
    return str(escape(str(text)))


def percent(count: int, whole: int) -> float:
    """``count`` as a percentage of ``whole`` (0 for an empty whole), one decimal."""
    return round(100.0 * count / whole, 1) if whole else 0.0


def format_percent(value: float, lang: str = "da") -> str:
    """12.5 → "12,5 %" in Danish, "12.5%" in English (Babel, the language's own way)."""
    return format_share(value / 100, lang, decimals=1)


def _open(chart_id: str, title: str, desc: str, width: int, height: float, *,
          links: bool = False) -> str:
    # role="img" makes everything inside presentational, so a chart whose bars are links
    # is a labelled group instead (its links stay reachable by keyboard and screen reader).
    role = "group" if links else "img"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="{role}" '
            f'viewBox="0 0 {width} {height:.0f}" width="{width}" height="{height:.0f}" '
            f'aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc" '
            f'font-family="{FONT}" font-size="14">'
            f'<title id="{_e(chart_id)}-title">{_e(title)}</title>'
            f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>')


def _wrap_link(inner: str, href: str | None, label: str) -> str:
    if not href:
        return inner
    return f'<a href="{_e(href)}" aria-label="{_e(label)}">{inner}</a>'


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, whole: int,
              lang: str = "da", width: int = 680, label_width: int = 230,
              colour: str = ACCENT) -> str:
    """Horizontal bars, one row per item, each with "count (share %)" after the bar.

    ``whole`` is what percentages are of (usually all entries; for participants and
    regions an entry can count in several rows, so shares need not add up to 100 %).
    """
    row, top = 34, 8
    height = top + row * max(1, len(bars)) + 8
    value_space = 120
    plot = width - label_width - value_space
    biggest = max((b.count for b in bars), default=0)
    out = [_open(chart_id, title, desc, width, height, links=any(b.href for b in bars))]
    out.append(f'<line x1="{label_width}" y1="{top}" x2="{label_width}" '
               f'y2="{height - 8}" stroke="{GRID}"/>')
    for i, b in enumerate(bars):
        y = top + i * row
        length = plot * b.count / biggest if biggest else 0
        pct = format_percent(percent(b.count, whole), lang)
        value = f"{b.count} ({pct})"
        inner = (f'<text x="{label_width - 10}" y="{y + 21}" text-anchor="end" '
                 f'fill="{TEXT}">{_e(b.label)}</text>'
                 f'<rect x="{label_width}" y="{y + 6}" width="{max(length, 1.5):.1f}" '
                 f'height="{row - 12}" fill="{colour}" rx="2"/>'
                 f'<text x="{label_width + length + 8:.1f}" y="{y + 21}" fill="{TEXT}" '
                 f'class="value">{_e(value)}</text>')
        out.append(f'<g class="bar">{_wrap_link(inner, b.href, f"{b.label}: {value}")}</g>')
    out.append("</svg>")
    return "".join(out)


def split_bar(chart_id: str, title: str, desc: str, parts: Sequence[Bar], *,
              lang: str = "da", width: int = 680) -> str:
    """One 100 % bar split into parts (e.g. ongoing vs ended), with a legend below that
    repeats each part's count and share."""
    whole = sum(p.count for p in parts)
    bar_h, top = 36, 8
    legend_row = 26
    height = top + bar_h + 16 + legend_row * len(parts) + 4
    out = [_open(chart_id, title, desc, width, height, links=any(p.href for p in parts))]
    x = 0.0
    inner_w = width - 2
    if whole == 0:
        out.append(f'<rect x="1" y="{top}" width="{inner_w}" height="{bar_h}" fill="#f1f3f5" '
                   f'stroke="{GRID}"/>')
    for i, p in enumerate(parts):
        colour = PALETTE[i % len(PALETTE)]
        w = inner_w * p.count / whole if whole else 0
        pct = format_percent(percent(p.count, whole), lang)
        if w > 0:
            seg = (f'<rect x="{1 + x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" '
                   f'fill="{colour}"/>')
            if w > 70:
                seg += (f'<text x="{1 + x + 8:.1f}" y="{top + 23}" fill="#ffffff" '
                        f'font-weight="600">{_e(pct)}</text>')
            out.append(_wrap_link(seg, p.href, f"{p.label}: {p.count} ({pct})"))
        x += w
    y = top + bar_h + 16
    for i, p in enumerate(parts):
        colour = PALETTE[i % len(PALETTE)]
        pct = format_percent(percent(p.count, whole), lang)
        yy = y + i * legend_row
        out.append(f'<rect x="1" y="{yy}" width="16" height="16" fill="{colour}"/>'
                   f'<text x="26" y="{yy + 13}" fill="{TEXT}">{_e(p.label)}: '
                   f'{p.count} ({_e(pct)})</text>')
    out.append("</svg>")
    return "".join(out)


def column_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *,
                 whole: int, lang: str = "da", width: int = 680, height: int = 260) -> str:
    """Vertical columns (e.g. initiatives per start year) with the count above each."""
    top, bottom, left = 24, 40, 8
    plot_h = height - top - bottom
    n = max(1, len(bars))
    slot = (width - left * 2) / n
    col_w = max(4.0, min(48.0, slot * 0.7))
    biggest = max((b.count for b in bars), default=0)
    out = [_open(chart_id, title, desc, width, height, links=any(b.href for b in bars))]
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" '
               f'stroke="{MUTED}"/>')
    label_every = 1 if slot >= 34 else (2 if slot >= 18 else 5)
    for i, b in enumerate(bars):
        cx = left + slot * i + slot / 2
        h = plot_h * b.count / biggest if biggest else 0
        pct = format_percent(percent(b.count, whole), lang)
        inner = (f'<rect x="{cx - col_w / 2:.1f}" y="{base - h:.1f}" width="{col_w:.1f}" '
                 f'height="{h:.1f}" fill="{ACCENT}" rx="2"><title>{_e(b.label)}: '
                 f'{b.count} ({_e(pct)})</title></rect>')
        if slot >= 22:
            inner += (f'<text x="{cx:.1f}" y="{base - h - 6:.1f}" text-anchor="middle" '
                      f'fill="{TEXT}" font-size="13">{b.count}</text>')
        if i % label_every == 0 or i == len(bars) - 1:
            inner += (f'<text x="{cx:.1f}" y="{base + 20}" text-anchor="middle" '
                      f'fill="{MUTED}" font-size="13">{_e(b.label)}</text>')
        out.append(f'<g class="bar">{_wrap_link(inner, b.href, f"{b.label}: {b.count}")}</g>')
    out.append("</svg>")
    return "".join(out)
