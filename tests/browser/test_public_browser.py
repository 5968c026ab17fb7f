"""The public landkort in headless Chromium: catalogue filters (with and without the
auto-submit script), the statistics and map pages with demo data (screenshots to /tmp),
and that text from mail or chat never runs as script."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from bot.core.db import Database
from bot.demo.data import seed_registry
from bot.registry.repository import create_initiative
from tests.browser.conftest import LiveApp
from tests.conftest import sample_record
from tests.public_seed import seed_sample

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

SHOTS = Path("/tmp")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


async def seed(db: Database) -> int:
    """The demo registry when it is there, else the tests' varied sample."""
    added = await seed_registry(db)
    return added or await seed_sample(db, 40)


@pytest_asyncio.fixture
async def public_server(live_app: LiveApp) -> str:
    """The whole app (tests/browser/conftest.py) with a seeded registry; its base URL."""
    await seed(live_app.db)
    return live_app.url


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def _count(pg: Any) -> int:
    return int(await pg.locator("#results-count strong").inner_text())


async def test_catalogue_filters_work_with_and_without_javascript(public_server: str,
                                                                   page: Any) -> None:
    await page.goto(public_server + "/")
    total = await _count(page)
    assert total > 0
    assert await page.locator("h1").inner_text() == "Telemedicinske initiativer i Danmark"
    # Choosing a region does not navigate by itself (WCAG 3.2.2 On Input); the
    # "Vis resultater" button applies it and gives a shareable address.
    await page.select_option("#f-region", "nordjylland")
    await page.wait_for_timeout(300)
    assert _query(page.url) == {}
    async with page.expect_navigation():
        await page.click(".filter-actions button[type=submit]")
    assert _query(page.url) == {"region": ["nordjylland"]}
    in_region = await _count(page)
    assert 0 < in_region < total
    for meta in await page.locator(".result .regions").all_inner_texts():
        assert "Region Nordjylland" in meta
    # A search narrows further; the chosen region is kept.
    await page.fill("#q", "kol")
    async with page.expect_navigation():
        await page.press("#q", "Enter")
    assert _query(page.url) == {"q": ["kol"], "region": ["nordjylland"]}
    assert await _count(page) <= in_region
    await page.screenshot(path=str(SHOTS / "landkort-catalogue-filtered.png"), full_page=True)
    # Removing the search via its chip.
    async with page.expect_navigation():
        await page.click(".chips a:has-text('Søgning')")
    assert _query(page.url) == {"region": ["nordjylland"]}
    assert await _count(page) == in_region
    # Following a result opens its page.
    first = page.locator(".result-title a").first
    title = await first.inner_text()
    async with page.expect_navigation():
        await first.click()
    assert await page.locator("h1").inner_text() == title
    await page.screenshot(path=str(SHOTS / "landkort-initiative.png"), full_page=True)
    assert page.dialogs == []
    # Without JavaScript the button submits the same form.
    context = await page.context.browser.new_context(java_script_enabled=False,
                                                     locale="da-DK")
    try:
        pg = await context.new_page()
        await pg.goto(public_server + "/")
        await pg.select_option("#f-status", "afsluttet")
        async with pg.expect_navigation():
            await pg.click(".filter-actions button[type=submit]")
        assert _query(pg.url)["status"] == ["afsluttet"]
        badges = await pg.locator(".result .badge").all_inner_texts()
        assert badges and set(badges) == {"Afsluttet"}
    finally:
        await context.close()


async def test_statistics_and_map_pages_render(public_server: str, page: Any) -> None:
    await page.goto(public_server + "/statistik")
    charts = page.locator("svg.chart")
    assert await charts.count() == 7
    box = await charts.first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 60
    await page.click("#fig-status summary")
    assert await page.locator("#fig-status table").is_visible()
    await page.screenshot(path=str(SHOTS / "landkort-statistics.png"), full_page=True)
    # A bar links to the filtered catalogue.
    async with page.expect_navigation():
        await page.locator("#fig-regions svg a").first.click()
    assert "region" in _query(page.url)

    await page.goto(public_server + "/kort")
    svg = page.locator("svg.map")
    box = await svg.bounding_box()
    assert box is not None and box["width"] > 500 and box["height"] > 400
    assert await page.locator("svg.map a.region-link").count() == 5
    assert await page.locator("svg.map a.municipality-link").count() == 98
    await svg.screenshot(path=str(SHOTS / "landkort-map.png"))
    await page.screenshot(path=str(SHOTS / "landkort-map-page.png"), full_page=True)
    async with page.expect_navigation():
        await page.locator('svg.map a.municipality-link[data-municipality="Aarhus"]').click()
    assert _query(page.url) == {"municipality": ["Aarhus"]}
    await page.goto(public_server + "/kort")
    # Keyboard: a region is a focusable link; Enter follows it.
    link = page.locator('svg.map a.region-link[href="/?region=nordjylland"]')
    await link.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert _query(page.url) == {"region": ["nordjylland"]}


async def test_no_script_from_registry_text_runs(public_server: str, page: Any,
                                                 live_app: LiveApp) -> None:
    async with live_app.db.write() as session:
        evil = await create_initiative(session, sample_record(
            title=f"Evil {SCRIPT}{IMG}", description=f"{SCRIPT} {IMG}",
            organisation=f"{IMG}{SCRIPT}", patient_groups=[SCRIPT], technology=[IMG],
            contact_email="evil@example.dk", website="javascript:alert(1)"),
            actor="test", channel="chat")
    for path in ("/", "/?q=evil", f"/initiativ/{evil.slug}", "/statistik", "/kort", "/api",
                 f"/?patient_group={SCRIPT}"):
        await page.goto(public_server + path)
        await page.wait_for_load_state("load")
        assert await page.locator("img[src=x]").count() == 0, path
    await page.goto(public_server + f"/initiativ/{evil.slug}")
    assert SCRIPT in await page.locator("h1").inner_text()
    assert page.dialogs == []


@pytest.mark.parametrize("lang", ["da", "en"])
async def test_new_public_pages_are_accessible_and_fit_a_phone(browser: Any,
                                                               live_app: LiveApp,
                                                               lang: str) -> None:
    """The catalogue (with its downloads, "last updated" and footer), the about,
    accessibility, privacy and licence pages, and the 404 page: axe-core finds nothing,
    and nothing is wider than a phone. Photographed as /tmp/public_*.png."""
    from axe_playwright_python.async_playwright import Axe

    from bot.registry.repository import create_initiative
    from tests.conftest import sample_record

    async with live_app.db.write() as session:
        await create_initiative(session, sample_record(), actor="test", channel="import")
    for width in (1366, 390):
        context = await browser.new_context(viewport={"width": width, "height": 900})
        page = await context.new_page()
        try:
            for path in ("/", "/om", "/tilgaengelighed", "/privatliv", "/licens", "/kort/",
                         "/statistik", "/api"):
                await page.goto(f"{live_app.url}{path}?lang={lang}")
                results = await Axe().run(page)
                assert results.violations_count == 0, (path, results.generate_report())
                assert await page.evaluate("document.documentElement.scrollWidth") <= width
                name = path.strip("/").replace("/", "_") or "catalogue"
                await page.screenshot(path=f"/tmp/public_{name}_{lang}_{width}.png",
                                      full_page=True)
        finally:
            await context.close()


@pytest.mark.parametrize("lang", ["da", "en"])
async def test_map_links_every_municipality_outlines_the_filter_and_fits_a_phone(
        browser: Any, public_server: str, lang: str) -> None:
    """/kort at a desktop and a phone width: all 98 municipalities drawn and linked (on
    the map and in the table), the filter outlined, axe-core finds nothing, nothing wider
    than the screen. Photographed as /tmp/shots/map-<lang>-<width>[-filter].png."""
    from axe_playwright_python.async_playwright import Axe

    from bot.registry.vocabulary import MUNICIPALITIES

    shots = Path("/tmp/shots")
    shots.mkdir(exist_ok=True)
    for width in (1366, 390):
        context = await browser.new_context(viewport={"width": width, "height": 900})
        page = await context.new_page()
        try:
            await page.goto(f"{public_server}/kort?lang={lang}")
            links = page.locator("svg.map a.municipality-link")
            names = await links.evaluate_all("els => els.map(e => e.dataset.municipality)")
            assert sorted(names) == sorted(MUNICIPALITIES)
            sizes = await links.evaluate_all(
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return Math.min(r.width, r.height); })")
            assert min(sizes) > 2  # every shape is drawn, none collapsed
            assert await page.locator(".muni-table tbody a").count() == 98
            assert await page.locator(".map-legend li").count() >= 2
            results = await Axe().run(page)
            assert results.violations_count == 0, results.generate_report()
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            await page.screenshot(path=str(shots / f"map-{lang}-{width}.png"), full_page=True)
            # A tap on a small municipality in the enlarged capital area follows its link.
            async with page.expect_navigation():
                await page.locator('svg.map .inset-capital a.municipality-link'
                                   '[data-municipality="Frederiksberg"]').click()
            assert _query(page.url)["municipality"] == ["Frederiksberg"]

            await page.goto(f"{public_server}/kort?municipality=Aalborg&lang={lang}")
            current = page.locator('svg.map a[aria-current="true"]')
            assert await current.count() == 1
            assert await current.get_attribute("data-municipality") == "Aalborg"
            assert await page.locator("svg.map g.highlight path").count() == 2  # halo, line
            assert await page.locator(".muni-table tr.selected").inner_text() != ""
            assert await page.locator(".map-selected a").get_attribute("href") == (
                f"/?municipality=Aalborg&lang={lang}")
            results = await Axe().run(page)
            assert results.violations_count == 0, results.generate_report()
            await page.screenshot(path=str(shots / f"map-{lang}-{width}-aalborg.png"))

            await page.goto(f"{public_server}/kort?region=hovedstaden&lang={lang}")
            current = page.locator('svg.map a[aria-current="true"]')
            assert await current.count() == 1
            assert await current.get_attribute("href") == f"/?region=hovedstaden&lang={lang}"
            assert await page.locator("svg.map g.highlight").count() == 3  # + panel, Bornholm
            await page.locator("svg.map").screenshot(
                path=str(shots / f"map-{lang}-{width}-hovedstaden.png"))
        finally:
            await context.close()
