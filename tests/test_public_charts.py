"""SVG charts (bot.public.charts) and the map (bot.public.map_svg): pure functions, well-formed XML,
numbers present, text escaped; the geometry's municipalities lie in their regions."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.public import charts, map_svg
from bot.registry.vocabulary import MUNICIPALITIES, MUNICIPALITY_REGION, REGION_KEYS

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> str:
    return " ".join("".join(el.itertext()) for el in root.iter(f"{SVG}text"))


def test_bar_chart_is_accessible_and_shows_numbers() -> None:
    bars = [charts.Bar("Projekt", 3, "/?status=projekt"), charts.Bar("I drift", 1)]
    root = _parse(charts.bar_chart("status", "Status", "Fordeling", bars, whole=4))
    assert root.get("role") == "group"  # it holds links; a plain chart is an image
    plain = _parse(charts.bar_chart("s", "T", "D", [charts.Bar("A", 1)], whole=1))
    assert plain.get("role") == "img"
    assert root.get("aria-labelledby") == "status-title status-desc"
    assert root.find(f"{SVG}title").text == "Status"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Fordeling"  # type: ignore[union-attr]
    text = _texts(root)
    assert "3 (75,0\xa0%)" in text and "1 (25,0\xa0%)" in text and "Projekt" in text
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links == ["/?status=projekt"]


def test_english_percentages_and_empty_data() -> None:
    root = _parse(charts.bar_chart("x", "T", "D", [charts.Bar("A", 1)], whole=3, lang="en"))
    assert "1 (33.3%)" in _texts(root)
    _parse(charts.bar_chart("x", "T", "D", [], whole=0))
    _parse(charts.split_bar("x", "T", "D", [charts.Bar("A", 0), charts.Bar("B", 0)]))
    _parse(charts.column_chart("x", "T", "D", [], whole=0))


def test_split_bar_shares() -> None:
    root = _parse(charts.split_bar("s", "Igangværende og afsluttede", "d",
                                   [charts.Bar("Igangværende", 30), charts.Bar("Afsluttede", 10)]))
    text = _texts(root)
    assert "Igangværende: 30 (75,0\xa0%)" in text and "Afsluttede: 10 (25,0\xa0%)" in text


def test_column_chart_has_every_year() -> None:
    bars = [charts.Bar(str(y), n) for y, n in ((2019, 2), (2020, 0), (2021, 5))]
    root = _parse(charts.column_chart("y", "Startår", "d", bars, whole=7))
    text = _texts(root)
    for label in ("2019", "2020", "2021", "5"):
        assert label in text
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "2021: 5 (71,4\xa0%)" in titles


def test_chart_text_is_escaped() -> None:
    svg = charts.bar_chart(EVIL, EVIL, EVIL, [charts.Bar(EVIL, 1, EVIL)], whole=1)
    root = _parse(svg)
    assert "<script" not in svg and "<img" not in svg
    assert EVIL in _texts(root)
    assert not list(root.iter(f"{SVG}script"))
    svg = charts.split_bar("x", EVIL, EVIL, [charts.Bar(EVIL, 1)])
    assert "<script" not in svg
    _parse(svg)


# --- map ----------------------------------------------------------------------------------

def _draw(regions: dict[str, int], munis: dict[str, int]) -> str:
    texts = map_svg.MapTexts(
        title="Kort", desc="Regioner og kommuner", initiatives=lambda n: f"{n} initiativer",
        region_label=lambda k: f"Region {k}", legend_regions="Pr. region",
        legend_municipalities="Pr. kommune", capital_area="Hovedstadsområdet",
        bornholm="Bornholm")
    return map_svg.draw_map(regions, munis, texts, region_href=lambda k: f"/?region={k}",
                            municipality_href=lambda m: f"/?municipality={m}")


def test_geometry_has_every_municipality_inside_its_region() -> None:
    geo = map_svg.load_geometry()
    assert set(geo.regions) == set(REGION_KEYS)
    assert set(geo.municipalities) == set(MUNICIPALITIES) and len(MUNICIPALITIES) == 98
    assert map_svg.municipality_region_problems(geo) == []
    # The check itself catches a misplaced town: Odense moved to Zealand.
    moved = map_svg.Geometry(geo.regions, {**geo.municipalities, "Odense": (11.8, 55.45)})
    assert map_svg.municipality_region_problems(moved) == [
        "Odense: in ['sjaelland'], expected syddanmark"]


def test_map_draws_and_links_all_regions_and_municipalities() -> None:
    svg = _draw({"nordjylland": 4, "hovedstaden": 9}, {"Aalborg": 3, "København": 7})
    root = _parse(svg)
    links = [a for a in root.iter(f"{SVG}a")]
    regions = {a.get("data-region") or a.find(f"{SVG}path").get("data-region")  # type: ignore
               for a in links if a.get("class") == "region-link"}
    munis = [a.get("data-municipality") or "" for a in links
             if a.get("class") == "municipality-link"]
    assert regions == set(REGION_KEYS)
    assert sorted(munis) == sorted(MUNICIPALITIES)  # each exactly once
    hrefs = {a.get("href") for a in links}
    assert "/?region=nordjylland" in hrefs and "/?municipality=Ærø" in hrefs
    for a in links:
        assert a.find(f"{SVG}title") is not None  # tooltip and accessible name
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert "Aalborg Kommune: 3 initiativer" in titles
    assert "Region hovedstaden: 9 initiativer" in titles
    assert root.find(f"{SVG}title").text == "Kort"  # type: ignore[union-attr]


def test_map_shading_follows_counts() -> None:
    svg = _draw({"nordjylland": 10, "sjaelland": 1}, {})
    root = _parse(svg)
    fills = {p.get("data-region"): p.get("fill") for p in root.iter(f"{SVG}path")
             if p.get("data-region")}
    assert fills["nordjylland"] == map_svg.REGION_COLOURS[-1]
    assert fills["midtjylland"] == map_svg.REGION_COLOURS[0]
    assert fills["sjaelland"] != fills["nordjylland"] != fills["midtjylland"]


def test_colour_classes() -> None:
    assert map_svg.colour_classes(0) == [map_svg.ColourClass(0, 0, map_svg.REGION_COLOURS[0])]
    classes = map_svg.colour_classes(2)
    assert [(c.low, c.high) for c in classes] == [(0, 0), (1, 1), (2, 2)]
    classes = map_svg.colour_classes(23)
    assert classes[1].low == 1 and classes[-1].high == 23 and len(classes) == 6
    assert classes[-1].colour == map_svg.REGION_COLOURS[-1]
    eleven = map_svg.colour_classes(11)  # 1–3, 4–6, 7–9, 10–11: the last is the darkest
    assert [(c.low, c.high) for c in eleven][1:] == [(1, 3), (4, 6), (7, 9), (10, 11)]
    assert eleven[-1].colour == map_svg.REGION_COLOURS[-1]
    for a, b in zip(classes, classes[1:], strict=False):
        assert b.low == a.high + 1
    assert map_svg.marker_radius(0, 5) < map_svg.marker_radius(1, 5) < map_svg.marker_radius(5, 5)


def test_map_text_is_escaped() -> None:
    texts = map_svg.MapTexts(title=EVIL, desc=EVIL, initiatives=lambda n: EVIL,
                             region_label=lambda k: EVIL, legend_regions=EVIL,
                             legend_municipalities=EVIL, capital_area=EVIL, bornholm=EVIL)
    svg = map_svg.draw_map({"nordjylland": 1}, {"Aalborg": 1}, texts,
                           region_href=lambda k: EVIL, municipality_href=lambda m: EVIL)
    assert "<script" not in svg and "<img" not in svg
    _parse(svg)


def test_municipality_regions_agree_with_vocabulary() -> None:
    geo = map_svg.load_geometry()
    for name, point in geo.municipalities.items():
        assert map_svg.regions_containing(geo, point) == [MUNICIPALITY_REGION[name]], name
