"""Make the map's geometry: ``bot/public/data/municipalities.json`` from DAGI outlines.

Source: ``municipalities.geojson`` in the project's shared folder (``../shared/geo``):
Danish municipality outlines by Geodatastyrelsen & Danske Kommuner (FOT data set,
2014-02-13, scale 1:500,000; published in magnuslarsen/geoJSON-Danish-Municipalities,
forked from Neogeografen/dagi). Open data under the Danish free geodata terms: credit
"Geodatastyrelsen & Danske Kommuner" wherever the map is shown. The service never reads
the source; it reads only the file this script writes, which is committed.

What the script does, in order (every step is deterministic, so a rerun on the same
source gives the same file byte for byte):

1. Reads the 311 polygons, joins them on the official three-digit municipality code
   (``lau_1``; the names in the source are from 2014, so they are not used) and leaves
   out Christiansø (411), which is not a municipality. Region keys come from
   ``iso_3166_2`` (DK-81 … DK-85).
2. Projects longitude/latitude with a spherical transverse Mercator centred on
   10.5° E, 56° N (conformal, like the UTM maps Danish readers know) into SVG units of
   ``--unit`` metres (default 100 m), y pointing down.
3. Drops islets smaller than ``--min-island`` km² that touch no other polygon (a
   municipality's largest polygon is always kept, so Læsø, Fanø, Samsø and Ærø stay).
4. Simplifies the whole set as one coverage (``shapely.coverage_simplify``, GEOS ≥ 3.12:
   Visvalingam–Whyatt on shared edges), so neighbours keep sharing their edges exactly:
   no gaps, no overlaps. ``--tolerance`` is in metres (default 250 m).
5. Rounds to whole units, removes repeated points and rings that collapsed.
6. Regions: the union of their municipalities' polygons; region borders: the edges two
   municipalities of different regions share, merged into lines (drawn on top).

Output (JSON, compact): ``projection`` (the parameters, so the service can place a
longitude/latitude the same way), ``municipalities`` (code → region and polygons),
``regions`` (key → polygons) and ``region_borders`` (lines). A polygon is a list of rings
(outer first, then holes); a ring or line is a flat list ``[x0, y0, x1, y1, …]`` of
integers, rings not repeating their first point.

Rerun (shapely is a tool-only dependency, not one of the service's):

    python3 -m venv /tmp/geo-venv && /tmp/geo-venv/bin/pip install 'shapely>=2.1'
    /tmp/geo-venv/bin/python tools/simplify_geo.py ../shared/geo/municipalities.geojson \\
        bot/public/data/municipalities.json

then run ``pytest tests/test_map.py``.
"""
from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "geo" / "municipalities.geojson"
DEFAULT_OUTPUT = ROOT / "bot" / "public" / "data" / "municipalities.json"

REGION_BY_ISO = {"DK-81": "nordjylland", "DK-82": "midtjylland", "DK-83": "syddanmark",
                 "DK-84": "hovedstaden", "DK-85": "sjaelland"}
NOT_MUNICIPALITIES = {"411"}  # Christiansø: administered by the state, no region
EARTH_RADIUS_M = 6_371_000.0
LON0, LAT0 = 10.5, 56.0


def project(lon: float, lat: float, unit: float) -> tuple[float, float]:
    """Spherical transverse Mercator around (LON0, LAT0): metres / unit, y down."""
    lam = math.radians(lon - LON0)
    phi = math.radians(lat)
    b = math.cos(phi) * math.sin(lam)
    x = EARTH_RADIUS_M * math.atanh(b)
    y = EARTH_RADIUS_M * (math.atan2(math.tan(phi), math.cos(lam)) - math.radians(LAT0))
    return x / unit, -y / unit


def read_source(path: Path, unit: float) -> list[tuple[str, str, Polygon]]:
    """(code, region, projected polygon) for every polygon of a real municipality."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for feature in raw["features"]:
        props = feature["properties"]
        code = str(props["lau_1"]).zfill(3)
        if code in NOT_MUNICIPALITIES:
            continue
        geom = feature["geometry"]
        if geom["type"] != "Polygon":
            raise SystemExit(f"{code}: unexpected geometry {geom['type']}")
        rings = [[project(p[0], p[1], unit) for p in ring] for ring in geom["coordinates"]]
        out.append((code, REGION_BY_ISO[props["iso_3166_2"]], Polygon(rings[0], rings[1:])))
    return out


def drop_islets(parts: list[tuple[str, str, Polygon]], min_area: float
                ) -> list[tuple[str, str, Polygon]]:
    """Leave out islets below ``min_area`` (units²) that touch nothing, but never a
    municipality's largest polygon."""
    largest: dict[str, float] = {}
    for code, _, poly in parts:
        largest[code] = max(largest.get(code, 0.0), poly.area)
    tree = shapely.STRtree([p for _, _, p in parts])
    kept = []
    for i, (code, region, poly) in enumerate(parts):
        if poly.area < min_area and poly.area < largest[code]:
            touching = [j for j in tree.query(poly, predicate="intersects") if j != i]
            if not touching:
                continue
        kept.append((code, region, poly))
    return kept


def flat(coords: Any) -> list[int]:
    """A ring's or line's points as ``[x0, y0, x1, y1, …]`` (integers)."""
    return [int(v) for xy in coords for v in xy]


def clean_ring(coords: Any) -> list[tuple[int, int]] | None:
    """Rounded ring without repeated points or its closing point; None when collapsed."""
    pts: list[tuple[int, int]] = []
    for x, y in coords:
        p = (round(x), round(y))
        if not pts or pts[-1] != p:
            pts.append(p)
    while len(pts) > 1 and pts[0] == pts[-1]:
        pts.pop()
    if len(pts) < 3 or Polygon(pts).area == 0:
        return None
    return pts


def polygon_rings(poly: Polygon) -> list[list[tuple[int, int]]] | None:
    outer = clean_ring(poly.exterior.coords)
    if outer is None:
        return None
    holes = [r for r in (clean_ring(h.coords) for h in poly.interiors) if r is not None]
    return [outer, *holes]


def as_polygons(geom: Any) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def region_borders(munis: dict[str, dict[str, Any]]) -> list[list[int]]:
    """Edges shared by two municipalities of different regions, merged into lines."""
    owners: dict[tuple[tuple[int, int], tuple[int, int]], set[str]] = {}
    for m in munis.values():
        for rings in m["rings"]:
            for ring in rings:
                for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                    owners.setdefault((min(a, b), max(a, b)), set()).add(m["region"])
    segments = [LineString(seg) for seg, regions in sorted(owners.items()) if len(regions) > 1]
    merged = shapely.line_merge(shapely.MultiLineString(segments))
    lines = [merged] if isinstance(merged, LineString) else list(merged.geoms)
    return sorted((flat(line.coords) for line in lines), key=lambda xs: (xs[0], xs[1]))


def build(source: Path, unit: float, tolerance_m: float, min_island_km2: float
          ) -> dict[str, Any]:
    parts = read_source(source, unit)
    parts = drop_islets(parts, min_island_km2 * 1_000_000 / unit ** 2)
    simplified = shapely.coverage_simplify([p for _, _, p in parts], tolerance_m / unit)
    munis: dict[str, dict[str, Any]] = {}
    for (code, region, _), geom in zip(parts, simplified, strict=True):
        entry = munis.setdefault(code, {"region": region, "rings": []})
        if entry["region"] != region:
            raise SystemExit(f"{code} lies in two regions")
        for poly in as_polygons(geom):
            rings = polygon_rings(poly)
            if rings is not None:
                entry["rings"].append(rings)
    regions: dict[str, list[list[list[int]]]] = {}
    for key in sorted(set(REGION_BY_ISO.values())):
        polys = [Polygon(rings[0], rings[1:]) for m in munis.values() if m["region"] == key
                 for rings in m["rings"]]
        union = unary_union([shapely.make_valid(p) for p in polys])
        regions[key] = []
        for poly in sorted(as_polygons(union), key=lambda p: -p.area):
            rings = polygon_rings(poly)
            if rings is not None:
                regions[key].append([flat(r) for r in rings])
    borders = region_borders(munis)
    return {
        "about": ("Danish municipality outlines, simplified for landkort's map by "
                  "tools/simplify_geo.py (which says how to rerun it). Source: "
                  "Geodatastyrelsen & Danske Kommuner, DAGI/FOT 2014-02-13, 1:500,000."),
        "credit": "Geodatastyrelsen & Danske Kommuner",
        "projection": {"name": "transverse Mercator on a sphere", "lon0": LON0, "lat0": LAT0,
                       "radius_m": EARTH_RADIUS_M, "unit_m": unit, "y": "down"},
        "parameters": {"tolerance_m": tolerance_m, "min_island_km2": min_island_km2,
                       "method": "shapely.coverage_simplify (shared edges kept)"},
        "municipalities": {
            code: {"region": m["region"],
                   "polygons": [[flat(r) for r in rings] for rings in
                                sorted(m["rings"], key=lambda rs: -Polygon(rs[0]).area)]}
            for code, m in sorted(munis.items())},
        "regions": regions,
        "region_borders": borders,
    }


def dump(data: dict[str, Any]) -> str:
    """Compact JSON with one municipality, region or border per line (readable diffs)."""
    def js(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    head = [f"{js(k)}:{js(v)}" for k, v in data.items() if not isinstance(v, dict | list)
            or k in ("projection", "parameters")]
    munis = ",\n".join(f"{js(k)}:{js(v)}" for k, v in data["municipalities"].items())
    regions = ",\n".join(f"{js(k)}:{js(v)}" for k, v in data["regions"].items())
    borders = ",\n".join(js(line) for line in data["region_borders"])
    return ("{" + ",\n".join(head) + ',\n"municipalities":{\n' + munis + '},\n"regions":{\n'
            + regions + '},\n"region_borders":[\n' + borders + "]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--unit", type=float, default=100.0, help="metres per SVG unit")
    parser.add_argument("--tolerance", type=float, default=250.0,
                        help="simplification tolerance in metres")
    parser.add_argument("--min-island", type=float, default=0.5,
                        help="leave out free-standing islets below this many km²")
    args = parser.parse_args()
    data = build(args.source, args.unit, args.tolerance, args.min_island)
    text = dump(data)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    counts = Counter(m["region"] for m in data["municipalities"].values())
    points = sum(len(r) // 2 for m in data["municipalities"].values()
                 for rings in m["polygons"] for r in rings)
    print(f"{args.output}: {len(data['municipalities'])} municipalities "
          f"({dict(sorted(counts.items()))}), {len(data['regions'])} regions, "
          f"{points} points, {args.output.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
