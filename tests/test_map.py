"""The map (bot.public.map_svg and /kort): the packaged DAGI outlines cover all 98
municipalities, each in its region; the SVG links every municipality exactly once, says
its count, escapes text and outlines the filter it was opened with."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.public import map_svg
from bot.registry.vocabulary import (
    MUNICIPALITIES,
    MUNICIPALITY_CODES,
    MUNICIPALITY_REGION,
    REGION_KEYS,
)
from tests.conftest import MakeInitiative

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
TEXTS = map_svg.MapTexts(
    title="Kort", desc="Kommuner og regioner",
    initiatives=lambda n: f"{n} initiativ{'' if n == 1 else 'er'}",
    municipality=lambda name: f"{name} Kommune", region_label=lambda k: f"Region {k}",
    capital_area="Hovedstadsområdet", bornholm="Bornholm", credit="Kort: DAGI")


def _draw(munis: dict[str, int], regions: dict[str, int] | None = None, **kw: Any) -> str:
    return map_svg.draw_map(munis, TEXTS, region_counts=regions or {},
                            region_href=lambda k: f"/?region={k}",
                            municipality_href=lambda m: f"/?municipality={m}", **kw)


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _links(root: ET.Element, cls: str) -> list[ET.Element]:
    return [a for a in root.iter(f"{SVG}a") if cls in (a.get("class") or "").split()]


def _within(root: ET.Element, group_class: str) -> set[str]:
    """The municipalities linked inside the <g> with this class."""
    return {a.get("data-municipality") or "" for g in root.iter(f"{SVG}g")
            if group_class in (g.get("class") or "").split()
            for a in _links(g, "municipality-link")}


# --- the packaged geometry --------------------------------------------------------------

def test_every_municipality_has_an_outline_in_its_region() -> None:
    geo = map_svg.load_geometry()
    assert len(MUNICIPALITIES) == 98 == len(set(MUNICIPALITY_CODES.values()))
    assert set(MUNICIPALITY_CODES) == set(MUNICIPALITIES)
    assert set(geo.municipalities) == set(MUNICIPALITY_CODES.values())  # no Christiansø
    assert set(geo.regions) == set(REGION_KEYS)
    for name, code in MUNICIPALITY_CODES.items():
        assert len(code) == 3 and code.isdigit()
        assert geo.municipalities[code].polygons, name
        assert geo.municipalities[code].region == MUNICIPALITY_REGION[name], name
    # Each outline's centroid (or an inner point) lies in its own region's union only.
    assert map_svg.municipality_region_problems(geo) == []
    # ... and the check catches a municipality filed under the wrong region.
    odense = geo.by_name("Odense")
    moved = map_svg.Geometry(geo.projection, geo.credit, {
        **geo.municipalities, odense.code: map_svg.Municipality(
            odense.code, "sjaelland", odense.polygons, odense.path)},
        geo.regions, geo.region_borders)
    assert map_svg.municipality_region_problems(moved) == [
        "Odense: data says sjaelland, outline in ['syddanmark'], expected syddanmark"]


def test_towns_fall_in_their_municipality() -> None:
    """The service's projection is the tool's: a town's longitude/latitude lands inside
    its municipality's outline (and in no other)."""
    geo = map_svg.load_geometry()
    towns = {"Aalborg": (9.92, 57.05), "Aarhus": (10.20, 56.15), "Odense": (10.39, 55.40),
             "København": (12.57, 55.68), "Frederiksberg": (12.53, 55.68),
             "Frederikshavn": (10.58, 57.72), "Bornholm": (14.70, 55.10),  # Skagen, Rønne
             "Esbjerg": (8.45, 55.47), "Læsø": (11.00, 57.27), "Sønderborg": (9.79, 54.91)}
    for name, (lon, lat) in towns.items():
        point = geo.project(lon, lat)
        inside = [n for n in MUNICIPALITIES
                  if map_svg.point_in_polygons(point, geo.by_name(n).polygons)]
        assert inside == [name], (name, inside)


def test_neighbours_share_their_edges() -> None:
    """Topology-preserving simplification: Frederiksberg, an island inside København,
    keeps every corner on København's outline (no gaps, no overlaps)."""
    geo = map_svg.load_geometry()
    corners = set(map_svg.points(geo.by_name("Frederiksberg").polygons[0][0]))
    around = {p for poly in geo.by_name("København").polygons for ring in poly
              for p in map_svg.points(ring)}
    assert corners and corners <= around


def test_packaged_file_is_small_and_the_service_never_reads_the_source() -> None:
    assert map_svg.DATA_FILE.stat().st_size < 300_000
    assert "Geodatastyrelsen & Danske Kommuner" in map_svg.load_geometry().credit
    for path in (ROOT / "bot").rglob("*.py"):
        assert "shared/geo" not in path.read_text(encoding="utf-8"), path


# --- drawing ----------------------------------------------------------------------------

def test_every_municipality_is_linked_exactly_once() -> None:
    root = _parse(_draw({"Aalborg": 3, "København": 7}))
    links = _links(root, "municipality-link")
    assert sorted(a.get("data-municipality") or "" for a in links) == sorted(MUNICIPALITIES)
    assert {a.get("href") for a in links} == {f"/?municipality={m}" for m in MUNICIPALITIES}
    for a in links:
        title = a.find(f"{SVG}title")
        assert title is not None and a.get("aria-label") == title.text  # name and tooltip
        assert a.get("tabindex") is None
    # The other copy of a shape (main map or capital panel) is for the mouse only.
    for a in _links(root, "municipality-copy"):
        assert a.get("tabindex") == "-1" and a.get("aria-hidden") == "true"
        assert a.get("data-municipality") is None
    regions = _links(root, "region-link")
    assert [a.get("href") for a in regions] == [f"/?region={k}" for k in map_svg.REGION_LABELS]
    assert root.find(f"{SVG}title").text == "Kort"  # type: ignore[union-attr]


def test_small_municipalities_are_linked_in_the_enlarged_capital_area() -> None:
    root = _parse(_draw({}))
    panel = _within(root, "inset-capital")
    assert {"Frederiksberg", "Vallensbæk", "Dragør", "Glostrup", "Herlev", "Rødovre",
            "København", "Tårnby", "Gentofte", "Hørsholm"} <= panel
    assert not panel & {"Roskilde", "Køge", "Helsingør", "Bornholm"}
    assert _within(root, "inset-bornholm") == {"Bornholm"}


def test_counts_are_in_titles_and_colours() -> None:
    root = _parse(_draw({"Aalborg": 4, "Læsø": 1, "Odense": 2}, {"nordjylland": 5}))
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert {"Aalborg Kommune: 4 initiativer", "Læsø Kommune: 1 initiativ",
            "Vejle Kommune: 0 initiativer", "Region nordjylland: 5 initiativer"} <= titles
    fills = {a.get("data-municipality"): a.find(f"{SVG}path").get("fill")  # type: ignore
             for a in _links(root, "municipality-link")}
    classes = map_svg.colour_classes(4)
    assert fills["Aalborg"] == classes[-1].colour == map_svg.CLASS_COLOURS[-1]
    assert fills["Vejle"] == map_svg.ZERO_COLOUR
    assert len({fills["Aalborg"], fills["Odense"], fills["Læsø"], fills["Vejle"]}) == 4


def test_colour_classes_are_even_and_start_at_zero() -> None:
    assert map_svg.colour_classes(0) == [map_svg.ColourClass(0, 0, map_svg.ZERO_COLOUR)]
    assert [c.label for c in map_svg.colour_classes(2)] == ["0", "1", "2"]
    assert [c.label for c in map_svg.colour_classes(10)] == ["0", "1–2", "3–4", "5–6", "7–8",
                                                             "9–10"]
    eleven = map_svg.colour_classes(11)  # 1–3, 4–6, 7–9, 10–11: the last is the darkest
    assert [(c.low, c.high) for c in eleven][1:] == [(1, 3), (4, 6), (7, 9), (10, 11)]
    assert eleven[-1].colour == map_svg.CLASS_COLOURS[-1]
    for max_count in range(1, 60):
        classes = map_svg.colour_classes(max_count)
        assert classes[-1].high == max_count and len(classes) <= 6
        widths = {c.high - c.low for c in classes[1:-1]}
        assert len(widths) <= 1  # equal steps (the last may be shorter)
        for a, b in zip(classes, classes[1:], strict=False):
            assert b.low == a.high + 1 and a.colour != b.colour
        assert map_svg.ZERO_COLOUR not in [c.colour for c in classes[1:]]


def test_map_text_is_escaped() -> None:
    texts = map_svg.MapTexts(title=EVIL, desc=EVIL, initiatives=lambda n: EVIL,
                             municipality=lambda name: EVIL, region_label=lambda k: EVIL,
                             capital_area=EVIL, bornholm=EVIL, credit=EVIL)
    svg = map_svg.draw_map({"Aalborg": 1}, texts, region_href=lambda k: EVIL,
                           municipality_href=lambda m: EVIL,
                           selected_municipalities=[EVIL], selected_regions=[EVIL])
    assert "<script" not in svg and "<img" not in svg
    root = _parse(svg)
    assert EVIL in {t.text for t in root.iter(f"{SVG}title")}


def test_the_filter_is_outlined() -> None:
    plain = _parse(_draw({}))
    assert not [a for a in plain.iter(f"{SVG}a") if a.get("aria-current")]
    assert not [g for g in plain.iter(f"{SVG}g") if g.get("class") == "highlight"]

    root = _parse(_draw({}, selected_municipalities=["Aalborg"]))
    current = [a for a in root.iter(f"{SVG}a") if a.get("aria-current") == "true"]
    assert [a.get("data-municipality") for a in current] == ["Aalborg"]
    assert "selected" in (current[0].get("class") or "")
    outlines = [g for g in root.iter(f"{SVG}g") if g.get("class") == "highlight"]
    assert len(outlines) == 1  # on the main map only
    d = outlines[0].find(f"{SVG}path").get("d")  # type: ignore[union-attr]
    assert d == map_svg.load_geometry().by_name("Aalborg").path

    # A capital-area municipality is outlined on the main map and in the panel.
    root = _parse(_draw({}, selected_municipalities=["Frederiksberg"]))
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "highlight"]) == 2

    root = _parse(_draw({}, selected_regions=["hovedstaden"]))
    current = [a for a in root.iter(f"{SVG}a") if a.get("aria-current") == "true"]
    assert [a.get("href") for a in current] == ["/?region=hovedstaden"]
    # Main map, capital panel and the Bornholm inset.
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "highlight"]) == 3

    unknown = _parse(_draw({}, selected_municipalities=["Atlantis"], selected_regions=["x"]))
    assert not [a for a in unknown.iter(f"{SVG}a") if a.get("aria-current")]


# --- the page ---------------------------------------------------------------------------

@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.asyncio
async def test_map_page_legend_table_credit_and_filter(
        client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    for _ in range(3):
        await make_initiative(regions=["nordjylland"], municipalities=["Aalborg"])
    await make_initiative(regions=["syddanmark"], municipalities=["Ærø"])
    html = await (await client.get("/kort")).text()
    assert "Kort: Geodatastyrelsen &amp; Danske Kommuner, DAGI 2014" in html
    assert "<title>Aalborg Kommune: 3 initiativer</title>" in html
    assert html.count('class="municipality-link"') == 98 and "aria-current" not in html
    # The legend's classes, and the table links every municipality too.
    for label in (">0</li>", ">1</li>", ">2</li>", ">3</li>"):
        assert label in html
    assert html.count('<th scope="row"><a href="/?municipality=') == 98
    assert 'href="/?municipality=%C3%86r%C3%B8">Ærø</a>' in html

    html = await (await client.get("/kort?municipality=Aalborg&lang=en")).text()
    assert "Map: Geodatastyrelsen &amp; Danske Kommuner, DAGI 2014" in html
    assert "Outlined in red on the map: Aalborg Municipality." in html
    assert 'href="/?municipality=Aalborg&amp;lang=en">See the initiatives</a>' in html
    assert 'class="municipality-link selected" data-municipality="Aalborg"' in html
    assert '<tr class="selected" aria-current="true"><th scope="row">' \
           '<a href="/?municipality=Aalborg&amp;lang=en">Aalborg</a>' in html

    client.session.cookie_jar.clear()  # ?lang=en is remembered
    html = await (await client.get("/kort?region=sjaelland")).text()
    assert "Markeret med rødt på kortet: Region Sjælland." in html
    assert 'class="region-link" href="/?region=sjaelland" aria-label="Region Sjælland: ' \
           '0 initiativer" aria-current="true"' in html
    html = await (await client.get("/kort?municipality=%3Cscript%3E")).text()
    assert "<script>" not in html and 'class="map-selected"' not in html


@pytest.mark.asyncio
async def test_the_map_names_the_municipalities_without_initiatives(
        client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    """Coverage (#19): where the registry names no initiative, by region, with the way
    to register one."""
    from bot.registry.vocabulary import MUNICIPALITIES_BY_REGION

    everywhere_but = [m for names in MUNICIPALITIES_BY_REGION.values() for m in names
                      if m not in ("Læsø", "Fanø", "Ærø")]
    await make_initiative(municipalities=everywhere_but)
    html = await (await client.get("/kort?lang=da")).text()
    section = html[html.index('id="coverage-h"'):]
    assert "Kommuner uden initiativer på landkortet: 3" in section
    assert "<dt>Region Nordjylland (1)</dt><dd>Læsø</dd>" in section
    assert "<dt>Region Syddanmark (2)</dt><dd>Fanø, Ærø</dd>" in section
    assert 'href="/indmeld">Kender du et? Meld det ind.</a>' in section
    await make_initiative(title="Øerne", municipalities=["Læsø", "Fanø", "Ærø"],
                          contact_email="oe@example.dk")
    html = await (await client.get("/kort?lang=en")).text()
    assert "Municipalities without initiatives on the map: 0" in html
    assert "Every municipality has at least one initiative." in html
