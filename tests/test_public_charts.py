"""SVG charts (bot.public.charts): pure functions, well-formed XML, numbers present, text
escaped. The map (bot.public.map_svg) is tested in tests/test_map.py."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.public import charts

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
