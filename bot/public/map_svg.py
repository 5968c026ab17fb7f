"""The public map of Denmark as server-side SVG: regions shaded by how many initiatives
involve them, municipalities as proportional circles, every shape a link to the
filtered catalogue.

Geometry lives in ``bot/data/denmark.json`` (hand-made, simplified, ``[lon, lat]``):
no network access is needed and nothing is fetched at run time. Drawing is pure: counts
in, an SVG string out; every piece of text is escaped.

Layout: the main map shows Jutland, Funen and Zealand with the islands; Bornholm is an
inset in the empty top-right corner (as on most Danish maps) and the dense capital area
(Copenhagen and its suburbs) is drawn a second time, enlarged, in a panel to the right.
A municipality whose town lies inside that enlarged area is drawn (and linked) there
only, so every municipality appears exactly once.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markupsafe import escape

from bot.registry.vocabulary import MUNICIPALITY_REGION, REGION_KEYS

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "denmark.json"

Point = tuple[float, float]
Ring = list[Point]

# ColorBrewer "Blues" (sequential, colour-blind safe); index 0 is for zero.
REGION_COLOURS: tuple[str, ...] = ("#f1f3f5", "#deebf7", "#9ecae1", "#6baed6", "#3182bd",
                                   "#08519c")
MARKER_FILL = "#d94801"
MARKER_STROKE = "#ffffff"
SEA = "#eaf2f8"
COS_LAT = math.cos(math.radians(56.0))

# Where each region's name is written on the main map (lon, lat of the text's start):
# in the sea next to the region, so no label covers a municipality.
REGION_LABELS: dict[str, Point] = {
    "nordjylland": (8.05, 57.62), "midtjylland": (10.98, 56.62), "syddanmark": (8.75, 54.66),
    "hovedstaden": (11.30, 56.22), "sjaelland": (10.90, 54.555),
}

# Bounding boxes (lon0, lat0, lon1, lat1).
MAIN_BOX = (7.95, 54.50, 12.85, 57.82)
CAPITAL_BOX = (12.24, 55.56, 12.73, 55.91)
BORNHOLM_BOX = (14.62, 54.95, 15.22, 55.34)


@dataclass(frozen=True)
class Geometry:
    """Region outlines (rings of lon/lat points) and municipality positions."""

    regions: dict[str, list[Ring]]
    municipalities: dict[str, Point]


@lru_cache(maxsize=1)
def load_geometry() -> Geometry:
    """Read ``bot/data/denmark.json`` once."""
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    regions = {key: [[(float(x), float(y)) for x, y in ring] for ring in rings]
               for key, rings in raw["regions"].items()}
    munis = {name: (float(p[0]), float(p[1])) for name, p in raw["municipalities"].items()}
    return Geometry(regions=regions, municipalities=munis)


def point_in_ring(point: Point, ring: Sequence[Point]) -> bool:
    """Even-odd rule: is ``point`` inside the polygon ``ring``?"""
    x, y = point
    inside = False
    for i in range(len(ring)):
        x1, y1 = ring[i]
        x2, y2 = ring[i - 1]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def regions_containing(geometry: Geometry, point: Point) -> list[str]:
    """The regions whose outline contains ``point`` (one, for a sound geometry)."""
    return [key for key, rings in geometry.regions.items()
            if any(point_in_ring(point, ring) for ring in rings)]


def in_box(point: Point, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection with longitudes shrunk by cos(56°): lon/lat → SVG px."""

    box: tuple[float, float, float, float]
    scale: float          # pixels per degree of latitude
    x0: float = 0.0       # where the box's west edge lands
    y0: float = 0.0       # where the box's north edge lands

    def __call__(self, point: Point) -> Point:
        lon, lat = point
        return (self.x0 + (lon - self.box[0]) * COS_LAT * self.scale,
                self.y0 + (self.box[3] - lat) * self.scale)

    @property
    def width(self) -> float:
        return (self.box[2] - self.box[0]) * COS_LAT * self.scale

    @property
    def height(self) -> float:
        return (self.box[3] - self.box[1]) * self.scale


def ring_path(ring: Sequence[Point], project: Projection) -> str:
    """An SVG path ``d`` for one closed ring."""
    pts = [project(p) for p in ring]
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z"


@dataclass(frozen=True)
class ColourClass:
    """One legend step: counts ``low``..``high`` are drawn in ``colour``."""

    low: int
    high: int
    colour: str


def colour_classes(max_count: int, steps: int = 5) -> list[ColourClass]:
    """Equal-interval classes from 1 to ``max_count`` (at most ``steps``), after a zero class."""
    classes = [ColourClass(0, 0, REGION_COLOURS[0])]
    if max_count <= 0:
        return classes
    width = math.ceil(max_count / min(steps, max_count))
    n = math.ceil(max_count / width)  # e.g. 11 in steps of 3: four classes, not five
    low = 1
    for i in range(n):
        high = min(max_count, low + width - 1)
        colour = REGION_COLOURS[1 + round(i * (len(REGION_COLOURS) - 2) / max(1, n - 1))]
        classes.append(ColourClass(low, high, colour))
        low = high + 1
        if low > max_count:
            break
    return classes


def colour_for(count: int, classes: Sequence[ColourClass]) -> str:
    for c in classes:
        if c.low <= count <= c.high:
            return c.colour
    return classes[-1].colour


def marker_radius(count: int, max_count: int, *, r_min: float = 3.5,
                  r_max: float = 13.0) -> float:
    """Circle radius with area proportional to ``count`` (a small ring for zero)."""
    if count <= 0 or max_count <= 0:
        return 2.5
    return r_min + (r_max - r_min) * math.sqrt(count / max_count)


@dataclass(frozen=True)
class MapTexts:
    """The words the map needs, in the page's language."""

    title: str
    desc: str
    initiatives: Callable[[int], str]       # 3 → "3 initiativer"
    region_label: Callable[[str], str]      # key → "Region Nordjylland"
    legend_regions: str
    legend_municipalities: str
    capital_area: str
    bornholm: str


def _e(text: object) -> str:
    return str(escape(str(text)))


def _region_shapes(geometry: Geometry, project: Projection, counts: Mapping[str, int],
                   classes: Sequence[ColourClass], texts: MapTexts,
                   region_href: Callable[[str], str] | None, *, only: set[str] | None = None,
                   skip_ring: Callable[[Ring], bool] | None = None) -> list[str]:
    out: list[str] = []
    for key in REGION_KEYS:
        if only is not None and key not in only:
            continue
        rings = [r for r in geometry.regions.get(key, []) if not (skip_ring and skip_ring(r))]
        if not rings:
            continue
        d = "".join(ring_path(r, project) for r in rings)
        count = counts.get(key, 0)
        fill = colour_for(count, classes)
        shape = (f'<path class="region" data-region="{_e(key)}" d="{d}" fill="{fill}" '
                 f'stroke="#ffffff" stroke-width="1.2" stroke-linejoin="round"/>')
        if region_href is None:
            out.append(shape)
            continue
        label = f"{texts.region_label(key)}: {texts.initiatives(count)}"
        out.append(f'<a class="region-link" href="{_e(region_href(key))}" '
                   f'aria-label="{_e(label)}"><title>{_e(label)}</title>{shape}</a>')
    return out


def _marker(name: str, point: Point, count: int, max_count: int, texts: MapTexts,
            href: str, project: Projection, scale_r: float = 1.0) -> str:
    x, y = project(point)
    r = marker_radius(count, max_count) * scale_r
    label = f"{name} Kommune: {texts.initiatives(count)}"
    if count > 0:
        circle = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{MARKER_FILL}" '
                  f'fill-opacity="0.85" stroke="{MARKER_STROKE}" stroke-width="1"/>')
    else:
        circle = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#ffffff" '
                  f'stroke="#6b6b6b" stroke-width="1"/>')
    return (f'<a class="municipality-link" data-municipality="{_e(name)}" href="{_e(href)}" '
            f'aria-label="{_e(label)}"><title>{_e(label)}</title>{circle}</a>')


def draw_map(region_counts: Mapping[str, int], municipality_counts: Mapping[str, int],
             texts: MapTexts, *, region_href: Callable[[str], str],
             municipality_href: Callable[[str], str],
             geometry: Geometry | None = None) -> str:
    """The whole map as one ``<svg>`` element (role="img" is not used: it holds links)."""
    geo = geometry or load_geometry()
    classes = colour_classes(max(region_counts.values(), default=0))
    max_muni = max(municipality_counts.values(), default=0)

    main = Projection(MAIN_BOX, 205.0, x0=10.0, y0=10.0)
    panel_x = main.x0 + main.width + 24
    capital = Projection(CAPITAL_BOX, 720.0, x0=panel_x, y0=34.0)
    # Bornholm inset in the empty north-east corner of the main map.
    born = Projection(BORNHOLM_BOX, 330.0, x0=main.x0 + main.width - 140, y0=40.0)
    width = panel_x + max(capital.width, 215.0) + 10
    height = main.y0 + main.height + 10

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="map-title map-desc">',
        f'<title id="map-title">{_e(texts.title)}</title>',
        f'<desc id="map-desc">{_e(texts.desc)}</desc>',
        f'<defs><clipPath id="clip-capital"><rect x="{capital.x0:.1f}" y="{capital.y0:.1f}" '
        f'width="{capital.width:.1f}" height="{capital.height:.1f}"/></clipPath></defs>',
        f'<rect x="{main.x0:.1f}" y="{main.y0:.1f}" width="{main.width:.1f}" '
        f'height="{main.height:.1f}" fill="{SEA}" rx="6"/>',
    ]

    def is_bornholm(ring: Ring) -> bool:
        return all(in_box(p, BORNHOLM_BOX) for p in ring)

    # Main map: every region is a link (Bornholm's ring is drawn in its inset instead).
    parts.append('<g class="regions">')
    parts += _region_shapes(geo, main, region_counts, classes, texts, region_href,
                            skip_ring=is_bornholm)
    parts.append("</g>")

    # Region names (decorative: each region link already carries its name).
    parts.append('<g class="region-labels" aria-hidden="true">')
    for key, where in REGION_LABELS.items():
        x, y = main(where)
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" class="map-region-label">'
                     f'{_e(texts.region_label(key))}</text>')
    parts.append("</g>")

    # Bornholm inset: a framed box; the island belongs to Region Hovedstaden.
    parts.append(f'<g class="inset inset-bornholm"><rect x="{born.x0 - 6:.1f}" '
                 f'y="{born.y0 - 20:.1f}" width="{born.width + 12:.1f}" '
                 f'height="{born.height + 26:.1f}" fill="{SEA}" stroke="#7b8794" rx="4"/>'
                 f'<text x="{born.x0:.1f}" y="{born.y0 - 6:.1f}" class="map-caption">'
                 f'{_e(texts.bornholm)}</text>')
    bornholm_rings = {"hovedstaden": [r for r in geo.regions["hovedstaden"] if is_bornholm(r)]}
    parts += _region_shapes(Geometry(bornholm_rings, {}), born, region_counts, classes, texts,
                            None)
    parts.append("</g>")

    # Frame on the main map showing the enlarged capital area.
    (cx0, cy0), (cx1, cy1) = main((CAPITAL_BOX[0], CAPITAL_BOX[3])), main(
        (CAPITAL_BOX[2], CAPITAL_BOX[1]))
    parts.append(f'<rect x="{cx0:.1f}" y="{cy0:.1f}" width="{cx1 - cx0:.1f}" '
                 f'height="{cy1 - cy0:.1f}" fill="none" stroke="#1b1b1b" '
                 f'stroke-dasharray="3 2" aria-hidden="true"/>')

    # Capital-area panel: the two Zealand regions again, enlarged and clipped.
    parts.append(f'<g class="inset inset-capital"><text x="{capital.x0:.1f}" '
                 f'y="{capital.y0 - 10:.1f}" class="map-caption">{_e(texts.capital_area)}'
                 f'</text><rect x="{capital.x0:.1f}" y="{capital.y0:.1f}" '
                 f'width="{capital.width:.1f}" height="{capital.height:.1f}" fill="{SEA}"/>'
                 f'<g clip-path="url(#clip-capital)" aria-hidden="true">')
    parts += _region_shapes(geo, capital, region_counts, classes, texts, None,
                            only={"hovedstaden", "sjaelland"}, skip_ring=is_bornholm)
    parts.append(f'</g><rect x="{capital.x0:.1f}" y="{capital.y0:.1f}" '
                 f'width="{capital.width:.1f}" height="{capital.height:.1f}" fill="none" '
                 f'stroke="#1b1b1b" stroke-dasharray="3 2"/></g>')

    # Municipality markers: largest first so small circles stay clickable on top.
    parts.append('<g class="municipalities">')
    order = sorted(geo.municipalities.items(),
                   key=lambda kv: (-municipality_counts.get(kv[0], 0), kv[0]))
    for name, point in order:
        count = municipality_counts.get(name, 0)
        href = municipality_href(name)
        if in_box(point, CAPITAL_BOX):
            parts.append(_marker(name, point, count, max_muni, texts, href, capital))
        elif in_box(point, BORNHOLM_BOX):
            parts.append(_marker(name, point, count, max_muni, texts, href, born))
        else:
            parts.append(_marker(name, point, count, max_muni, texts, href, main))
    parts.append("</g>")

    parts.append(_legend(panel_x, capital.y0 + capital.height + 40, classes, max_muni,
                         texts))
    parts.append("</svg>")
    return "".join(parts)


def _legend(x: float, y: float, classes: Sequence[ColourClass], max_muni: int,
            texts: MapTexts) -> str:
    out = [f'<g class="legend" transform="translate({x:.1f},{y:.1f})">',
           f'<text x="0" y="0" class="map-legend-title">{_e(texts.legend_regions)}</text>']
    for i, c in enumerate(classes):
        yy = 12 + i * 22
        label = str(c.low) if c.low == c.high else f"{c.low}–{c.high}"
        out.append(f'<rect x="0" y="{yy}" width="26" height="16" fill="{c.colour}" '
                   f'stroke="#4a5560" stroke-width="0.8"/><text x="34" y="{yy + 13}" '
                   f'class="map-legend-label">{_e(label)}</text>')
    yy = 12 + len(classes) * 22 + 26
    out.append(f'<text x="0" y="{yy}" class="map-legend-title">'
               f'{_e(texts.legend_municipalities)}</text>')
    samples = sorted({v for v in (1, math.ceil(max_muni / 2), max_muni) if v > 0})
    cy: float = yy + 22
    out.append(f'<circle cx="13" cy="{cy}" r="2.5" fill="#ffffff" stroke="#6b6b6b"/>'
               f'<text x="34" y="{cy + 5}" class="map-legend-label">0</text>')
    for v in samples:
        r = marker_radius(v, max_muni)
        cy += max(22.0, 2 * r + 6)
        out.append(f'<circle cx="13" cy="{cy:.1f}" r="{r:.1f}" fill="{MARKER_FILL}" '
                   f'fill-opacity="0.85" stroke="{MARKER_STROKE}"/><text x="34" '
                   f'y="{cy + 5:.1f}" class="map-legend-label">{_e(texts.initiatives(v))}'
                   f'</text>')
    out.append("</g>")
    return "".join(out)


def municipality_region_problems(geometry: Geometry | None = None) -> list[str]:
    """Municipalities whose point is not inside exactly their own region (should be none)."""
    geo = geometry or load_geometry()
    problems = []
    for name, point in geo.municipalities.items():
        found = regions_containing(geo, point)
        if found != [MUNICIPALITY_REGION.get(name)]:
            problems.append(f"{name}: in {found or 'no region'}, expected "
                            f"{MUNICIPALITY_REGION.get(name)}")
    return problems
