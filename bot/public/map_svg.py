"""The public map of Denmark as server-side SVG: the 98 municipalities shaded by how many
initiatives name them (a choropleth), region borders on top, every municipality a link to
the filtered catalogue.

Geometry lives in ``bot/public/data/municipalities.json``, made by
``tools/simplify_geo.py`` from DAGI outlines (Geodatastyrelsen & Danske Kommuner, 2014):
per official municipality code (``MUNICIPALITY_CODES``) its simplified polygons, already
projected into SVG units (100 m, y down), the regions as the union of their
municipalities, and the borders between regions. Nothing is fetched at run time. Drawing
is pure: counts in, an SVG string out; every piece of text is escaped.

Layout (one ``viewBox`` in the data's units): Jutland, Funen and Zealand as they lie; the
capital area drawn a second time, three times larger, in the empty Kattegat corner;
Bornholm as an inset in the Baltic corner. A municipality lying wholly inside the
enlarged area is linked there (a link big enough to tap), the others on the main map; the
other copy of each shape is a mouse-only duplicate (``tabindex="-1"``, hidden from
assistive technology), so every municipality has exactly one link in the tab order.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from markupsafe import escape

from bot.registry.vocabulary import MUNICIPALITY_CODES, MUNICIPALITY_REGION, REGION_KEYS

DATA_FILE = Path(__file__).resolve().parent / "data" / "municipalities.json"
CREDIT = "Geodatastyrelsen & Danske Kommuner, DAGI 2014"

Point = tuple[float, float]
Ring = list[int]                # flat [x0, y0, x1, y1, …], not closed
Polygon = list[Ring]            # outer ring first, then holes
Box = tuple[float, float, float, float]   # x0, y0, x1, y1 in data units

# ColorBrewer "YlGnBu" (sequential, colour-blind safe) for 1 and more; zero is a neutral
# off-white, set apart from the lightest class by hue, from the sea by a border.
ZERO_COLOUR = "#f4f3ef"
CLASS_COLOURS: tuple[str, ...] = ("#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
SEA = "#dfeaf3"
MUNICIPALITY_STROKE = "#8795a1"
REGION_STROKE = "#1b1b1b"
HIGHLIGHT = "#d7301f"

# The frame of the whole map and of its panels, in data units (100 m; x east, y south,
# origin at 10.5° E 56° N). Worked out once against the data: see tests/test_map.py.
VIEW: Box = (-1590.0, -2010.0, 2560.0, 1650.0)
CAPITAL_SOURCE: Box = (995.0, 60.0, 1385.0, 545.0)   # Copenhagen and its suburbs
CAPITAL_SCALE = 3.0
CAPITAL_AT: Point = (1335.0, -1880.0)                # the panel's top-left corner
BORNHOLM_CODE = "400"
BORNHOLM_SOURCE: Box = (2640.0, 676.0, 2983.0, 1051.0)
BORNHOLM_SCALE = 1.5
BORNHOLM_AT: Point = (1900.0, 420.0)
FONT = 82.0                                         # label size in data units

# Where each region's name is written (lon, lat of the text's start): in the sea next to
# the region, so no label covers land.
REGION_LABELS: dict[str, Point] = {
    "nordjylland": (8.0, 57.6), "midtjylland": (11.05, 56.5), "syddanmark": (8.05, 54.62),
    "hovedstaden": (12.78, 55.93), "sjaelland": (10.45, 54.555),
}


@dataclass(frozen=True)
class Projection:
    """Spherical transverse Mercator, as tools/simplify_geo.py projects: lon/lat → units."""

    lon0: float
    lat0: float
    radius: float   # the earth's radius in data units

    def __call__(self, lon: float, lat: float) -> Point:
        lam = math.radians(lon - self.lon0)
        phi = math.radians(lat)
        y = math.atan2(math.tan(phi), math.cos(lam)) - math.radians(self.lat0)
        return self.radius * math.atanh(math.cos(phi) * math.sin(lam)), -self.radius * y


@dataclass(frozen=True)
class Municipality:
    """One municipality's outline: its region (from the data) and polygons."""

    code: str
    region: str
    polygons: list[Polygon]
    path: str = field(compare=False)

    @property
    def bbox(self) -> Box:
        return bbox_of(self.polygons)

    @property
    def main_bbox(self) -> Box:
        """The box around its largest polygon (the data lists the largest first)."""
        return bbox_of(self.polygons[:1])


@dataclass(frozen=True)
class Geometry:
    """The packaged map data."""

    projection: Projection
    credit: str
    municipalities: dict[str, Municipality]        # by official code
    regions: dict[str, list[Polygon]]
    region_borders: list[list[int]]

    def by_name(self, name: str) -> Municipality:
        return self.municipalities[MUNICIPALITY_CODES[name]]

    def project(self, lon: float, lat: float) -> Point:
        return self.projection(lon, lat)


@lru_cache(maxsize=1)
def load_geometry() -> Geometry:
    """Read ``bot/public/data/municipalities.json`` once."""
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    munis = {code: Municipality(code, m["region"], m["polygons"], polygons_path(m["polygons"]))
             for code, m in raw["municipalities"].items()}
    p = raw["projection"]
    projection = Projection(float(p["lon0"]), float(p["lat0"]),
                            float(p["radius_m"]) / float(p["unit_m"]))
    return Geometry(projection, raw["credit"], munis, raw["regions"], raw["region_borders"])


# --- geometry helpers (pure) ---------------------------------------------------------------

def points(ring: Sequence[int]) -> list[Point]:
    return [(float(ring[i]), float(ring[i + 1])) for i in range(0, len(ring) - 1, 2)]


def bbox_of(polygons: Iterable[Polygon]) -> Box:
    xs = [v for poly in polygons for ring in poly for v in ring[0::2]]
    ys = [v for poly in polygons for ring in poly for v in ring[1::2]]
    return (min(xs), min(ys), max(xs), max(ys))


def box_inside(inner: Box, outer: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def boxes_meet(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def ring_area_centroid(ring: Sequence[int]) -> tuple[float, Point]:
    """Signed area and centroid of one ring (shoelace)."""
    pts = points(ring)
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    area /= 2
    if area == 0:
        return 0.0, pts[0]
    return area, (cx / (6 * area), cy / (6 * area))


def centroid(polygons: Sequence[Polygon]) -> Point:
    """The area-weighted centroid of the outer rings."""
    total = sx = sy = 0.0
    for poly in polygons:
        area, (x, y) = ring_area_centroid(poly[0])
        total += abs(area)
        sx += x * abs(area)
        sy += y * abs(area)
    return (sx / total, sy / total)


def point_in_ring(point: Point, ring: Sequence[int]) -> bool:
    """Even-odd rule: is ``point`` inside the ring?"""
    x, y = point
    pts = points(ring)
    inside = False
    for (x1, y1), (x2, y2) in zip(pts, pts[-1:] + pts[:-1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def point_in_polygons(point: Point, polygons: Iterable[Polygon]) -> bool:
    """Inside an outer ring and in none of its holes, for any of the polygons."""
    return any(point_in_ring(point, poly[0]) and
               not any(point_in_ring(point, hole) for hole in poly[1:]) for poly in polygons)


def ring_path(ring: Sequence[int]) -> str:
    """An SVG path for one ring: an absolute start, then relative steps."""
    steps = " ".join(f"{ring[i] - ring[i - 2]} {ring[i + 1] - ring[i - 1]}"
                     for i in range(2, len(ring) - 1, 2))
    return f"M{ring[0]} {ring[1]}l{steps.replace(' -', '-')}z"


def polygons_path(polygons: Iterable[Polygon]) -> str:
    return "".join(ring_path(ring) for poly in polygons for ring in poly)


def line_path(line: Sequence[int]) -> str:
    return ring_path(line)[:-1]


# --- classes and texts ---------------------------------------------------------------------

@dataclass(frozen=True)
class ColourClass:
    """One legend step: counts ``low``..``high`` are drawn in ``colour``."""

    low: int
    high: int
    colour: str

    @property
    def label(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def colour_classes(max_count: int, steps: int = len(CLASS_COLOURS)) -> list[ColourClass]:
    """Zero, then equal-width classes from 1 to ``max_count`` (at most ``steps``)."""
    classes = [ColourClass(0, 0, ZERO_COLOUR)]
    if max_count <= 0:
        return classes
    width = math.ceil(max_count / min(steps, max_count))
    n = math.ceil(max_count / width)  # e.g. 11 in steps of 3: four classes, not five
    for i in range(n):
        low, high = 1 + i * width, min(max_count, (i + 1) * width)
        colour = CLASS_COLOURS[round(i * (len(CLASS_COLOURS) - 1) / max(1, n - 1))]
        classes.append(ColourClass(low, high, colour))
    return classes


def colour_for(count: int, classes: Sequence[ColourClass]) -> str:
    for c in classes:
        if c.low <= count <= c.high:
            return c.colour
    return classes[-1].colour


@dataclass(frozen=True)
class MapTexts:
    """The words the map needs, in the page's language."""

    title: str
    desc: str
    initiatives: Callable[[int], str]       # 3 → "3 initiativer"
    municipality: Callable[[str], str]      # "Aalborg" → "Aalborg Kommune"
    region_label: Callable[[str], str]      # key → "Region Nordjylland"
    capital_area: str
    bornholm: str
    credit: str


def _e(text: object) -> str:
    return str(escape(str(text)))


def _f(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


# --- drawing -------------------------------------------------------------------------------

def in_capital_panel(muni: Municipality) -> bool:
    """Linked in the enlarged capital area: its main polygon lies wholly inside it."""
    return box_inside(muni.main_bbox, CAPITAL_SOURCE)


def _muni_shape(name: str, muni: Municipality, count: int, fill: str, texts: MapTexts,
                href: str, *, primary: bool, selected: bool) -> str:
    label = f"{texts.municipality(name)}: {texts.initiatives(count)}"
    path = (f'<path d="{muni.path}" fill="{fill}" stroke="{MUNICIPALITY_STROKE}" '
            f'stroke-width="0.6" stroke-linejoin="round" fill-rule="evenodd" '
            f'vector-effect="non-scaling-stroke"/>')
    if primary:
        current = ' aria-current="true"' if selected else ""
        return (f'<a class="municipality-link{" selected" if selected else ""}" '
                f'data-municipality="{_e(name)}" data-code="{muni.code}" href="{_e(href)}" '
                f'aria-label="{_e(label)}"{current}><title>{_e(label)}</title>{path}</a>')
    return (f'<a class="municipality-copy" href="{_e(href)}" tabindex="-1" '
            f'aria-hidden="true"><title>{_e(label)}</title>{path}</a>')


def _outline(d: str, width: float = 3.0) -> str:
    """A highlight around a selected shape: white halo under a strong line."""
    return (f'<path d="{d}" fill="none" stroke="#ffffff" stroke-width="{width + 3:g}" '
            f'stroke-linejoin="round" vector-effect="non-scaling-stroke"/>'
            f'<path d="{d}" fill="none" stroke="{HIGHLIGHT}" stroke-width="{width:g}" '
            f'stroke-linejoin="round" vector-effect="non-scaling-stroke"/>')


def _text_lines(text: str, x: float, y: float, longest: int = 18) -> str:
    """A region's name in the sea, on two lines when it is long ("Capital Region / of
    Denmark"): split at the space nearest the middle; ``y`` is the last line's baseline."""
    lines = [text]
    if len(text) > longest and " " in text:
        spaces = [i for i, c in enumerate(text) if c == " "]
        cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
        lines = [text[:cut], text[cut + 1:]]
    top = y - (len(lines) - 1) * FONT * 1.1
    spans = "".join(f'<tspan x="{x:.0f}" y="{top + i * FONT * 1.1:.0f}">{_e(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text font-size="{FONT:g}" font-weight="600" fill="#173b5f">{spans}</text>'


def _borders(geo: Geometry, box: Box | None = None) -> str:
    lines = [line for line in geo.region_borders
             if box is None or boxes_meet(bbox_of([[line]]), box)]
    if not lines:
        return ""
    d = "".join(line_path(line) for line in lines)
    return (f'<path class="region-borders" d="{d}" fill="none" stroke="{REGION_STROKE}" '
            f'stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round" '
            f'vector-effect="non-scaling-stroke"/>')


def draw_map(municipality_counts: Mapping[str, int], texts: MapTexts, *,
             municipality_href: Callable[[str], str], region_href: Callable[[str], str],
             region_counts: Mapping[str, int] | None = None,
             selected_municipalities: Iterable[str] = (),
             selected_regions: Iterable[str] = (), geometry: Geometry | None = None) -> str:
    """The whole map as one ``<svg>`` element (no role="img": it holds links).

    ``municipality_counts`` is keyed by the vocabulary's names. The selected
    municipalities and regions (the catalogue filter the map was opened with; unknown
    names are ignored) are outlined and their links marked ``aria-current``."""
    geo = geometry or load_geometry()
    region_counts = region_counts or {}
    classes = colour_classes(max(municipality_counts.values(), default=0))
    names = sorted(MUNICIPALITY_CODES)
    shapes = {name: geo.by_name(name) for name in names}
    chosen = {n for n in selected_municipalities if n in shapes}
    chosen_regions = [k for k in REGION_KEYS if k in set(selected_regions)]

    def shape(name: str, primary: bool) -> str:
        count = municipality_counts.get(name, 0)
        return _muni_shape(name, shapes[name], count, colour_for(count, classes), texts,
                           municipality_href(name), primary=primary,
                           selected=name in chosen)

    def highlight(box: Box) -> str:
        out = [_outline(shapes[n].path) for n in sorted(chosen)
               if boxes_meet(shapes[n].bbox, box)]
        for key in chosen_regions:
            polys = [p for p in geo.regions[key] if boxes_meet(bbox_of([p]), box)]
            if polys:
                out.append(_outline(polygons_path(polys)))
        return f'<g class="highlight" pointer-events="none">{"".join(out)}</g>' if out else ""

    x0, y0, x1, y1 = VIEW
    width, height = x1 - x0, y1 - y0
    main_box: Box = (x0, y0, x1, y1)
    cx0, cy0, cx1, cy1 = CAPITAL_SOURCE
    bx0, by0, bx1, by1 = BORNHOLM_SOURCE
    cap_w, cap_h = (cx1 - cx0) * CAPITAL_SCALE, (cy1 - cy0) * CAPITAL_SCALE
    born_w, born_h = (bx1 - bx0) * BORNHOLM_SCALE, (by1 - by0) * BORNHOLM_SCALE
    in_panel = {n for n in names if in_capital_panel(shapes[n])}

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="{_f(x0)} {_f(y0)} '
        f'{_f(width)} {_f(height)}" width="{_f(width / 5)}" height="{_f(height / 5)}" '
        f'aria-labelledby="map-title map-desc" font-family="system-ui, sans-serif">',
        f'<title id="map-title">{_e(texts.title)}</title>',
        f'<desc id="map-desc">{_e(texts.desc)}</desc>',
        f'<defs><clipPath id="clip-capital"><rect x="{_f(cx0)}" y="{_f(cy0)}" '
        f'width="{_f(cx1 - cx0)}" height="{_f(cy1 - cy0)}"/></clipPath>'
        f'<clipPath id="clip-bornholm"><rect x="{_f(bx0)}" y="{_f(by0)}" '
        f'width="{_f(bx1 - bx0)}" height="{_f(by1 - by0)}"/></clipPath></defs>',
        f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(width)}" height="{_f(height)}" '
        f'fill="{SEA}"/>',
    ]

    # Main map: every municipality but Bornholm; those linked in the panel as copies.
    parts.append('<g class="municipalities">')
    parts += [shape(n, n not in in_panel) for n in names if shapes[n].code != BORNHOLM_CODE]
    parts.append("</g>")
    parts.append(_borders(geo))
    parts.append(highlight(main_box))

    # Region names in the sea: links to the region's catalogue.
    parts.append('<g class="region-labels">')
    for key, (lon, lat) in REGION_LABELS.items():
        x, y = geo.project(lon, lat)
        label = f"{texts.region_label(key)}: {texts.initiatives(region_counts.get(key, 0))}"
        current = ' aria-current="true"' if key in chosen_regions else ""
        parts.append(f'<a class="region-link" href="{_e(region_href(key))}" '
                     f'aria-label="{_e(label)}"{current}><title>{_e(label)}</title>'
                     f'{_text_lines(texts.region_label(key), x, y)}</a>')
    parts.append("</g>")

    # The capital area's frame on the main map, and a line to its enlargement.
    px, py = CAPITAL_AT
    parts.append(f'<g class="capital-frame" aria-hidden="true" fill="none" stroke="#1b1b1b" '
                 f'stroke-width="1" vector-effect="non-scaling-stroke" '
                 f'stroke-dasharray="4 3"><rect x="{_f(cx0)}" y="{_f(cy0)}" '
                 f'width="{_f(cx1 - cx0)}" height="{_f(cy1 - cy0)}" '
                 f'vector-effect="non-scaling-stroke"/><path d="M{_f(cx1)} {_f(cy0)}L{_f(px)} '
                 f'{_f(py + cap_h)}" vector-effect="non-scaling-stroke"/></g>')

    # The capital-area panel: the same shapes, enlarged and clipped.
    parts.append(f'<g class="inset inset-capital"><text x="{_f(px)}" y="{_f(py - 30)}" '
                 f'font-size="{FONT:g}" font-weight="600" fill="#1b1b1b">'
                 f'{_e(texts.capital_area)}</text><rect x="{_f(px)}" y="{_f(py)}" '
                 f'width="{_f(cap_w)}" height="{_f(cap_h)}" fill="{SEA}"/>'
                 f'<g transform="translate({_f(px - cx0 * CAPITAL_SCALE)} '
                 f'{_f(py - cy0 * CAPITAL_SCALE)}) scale({CAPITAL_SCALE:g})">'
                 f'<g clip-path="url(#clip-capital)">')
    parts += [shape(n, n in in_panel) for n in names
              if n in in_panel or boxes_meet(shapes[n].bbox, CAPITAL_SOURCE)]
    parts.append(_borders(geo, CAPITAL_SOURCE))
    parts.append(highlight(CAPITAL_SOURCE))
    parts.append(f'</g></g><rect x="{_f(px)}" y="{_f(py)}" width="{_f(cap_w)}" '
                 f'height="{_f(cap_h)}" fill="none" stroke="#1b1b1b" stroke-width="1" '
                 f'vector-effect="non-scaling-stroke" stroke-dasharray="4 3"/></g>')

    # Bornholm, the only shape in its inset.
    qx, qy = BORNHOLM_AT
    born_name = next(n for n in names if shapes[n].code == BORNHOLM_CODE)
    parts.append(f'<g class="inset inset-bornholm"><text x="{_f(qx)}" y="{_f(qy - 30)}" '
                 f'font-size="{FONT:g}" font-weight="600" fill="#1b1b1b">{_e(texts.bornholm)}'
                 f'</text><rect x="{_f(qx)}" y="{_f(qy)}" width="{_f(born_w)}" '
                 f'height="{_f(born_h)}" fill="{SEA}" stroke="#1b1b1b" stroke-width="1" '
                 f'vector-effect="non-scaling-stroke"/>'
                 f'<g transform="translate({_f(qx - bx0 * BORNHOLM_SCALE)} '
                 f'{_f(qy - by0 * BORNHOLM_SCALE)}) scale({BORNHOLM_SCALE:g})">'
                 f'<g clip-path="url(#clip-bornholm)">{shape(born_name, True)}'
                 f'{highlight(BORNHOLM_SOURCE)}</g></g></g>')

    parts.append(f'<text x="{_f(x1 - 30)}" y="{_f(y1 - 30)}" text-anchor="end" '
                 f'font-size="{FONT * 0.7:g}" fill="#3d4650">{_e(texts.credit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def municipality_region_problems(geometry: Geometry | None = None) -> list[str]:
    """Municipalities without an outline, or whose outline is not in their region: its
    region in the data differs from the vocabulary's, or its centroid lies outside its
    region's outline or inside another's (should be none)."""
    geo = geometry or load_geometry()
    problems = []
    for name, code in sorted(MUNICIPALITY_CODES.items()):
        muni = geo.municipalities.get(code)
        if muni is None or not muni.polygons:
            problems.append(f"{name}: no outline")
            continue
        expected = MUNICIPALITY_REGION[name]
        point = centroid(muni.polygons[:1]) if point_in_polygons(
            centroid(muni.polygons[:1]), muni.polygons) else _inner_point(muni)
        found = [key for key, polys in geo.regions.items() if point_in_polygons(point, polys)]
        if muni.region != expected or found != [expected]:
            problems.append(f"{name}: data says {muni.region}, outline in {found or 'none'}, "
                            f"expected {expected}")
    return problems


def _inner_point(muni: Municipality) -> Point:
    """A point inside a municipality whose centroid falls outside it (a crescent): the
    midpoint of the widest inside stretch of the horizontal line through its centroid."""
    cx, cy = centroid(muni.polygons[:1])
    xs = []
    for ring in muni.polygons[0]:
        pts = points(ring)
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y1 > cy) != (y2 > cy):
                xs.append(x1 + (cy - y1) * (x2 - x1) / (y2 - y1))
    xs.sort()
    spans = [(b - a, (a + b) / 2) for a, b in zip(xs[0::2], xs[1::2], strict=False)]
    return (max(spans)[1], cy) if spans else (cx, cy)
