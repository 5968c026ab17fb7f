"""The yearly report (#19) in headless Chromium, with the demo registry (whose history
goes back two years): the page of the latest year, the year menu, the downloads, the
print layout on A4, and the catalogue's evaluation filter. axe-core finds nothing; the
pages are photographed at 1366 and 390 px in Danish and English (``/tmp/report_*.png``),
and the page printed as the browser prints it (``/tmp/report_print.pdf``)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo.data import seed_registry
from bot.report.store import report_for
from tests.browser.conftest import LiveApp
from tests.browser.test_mail_admin_browser import check_page

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


async def test_a_reader_opens_prints_and_downloads_the_yearly_report(
        live_app: LiveApp, page: Any, tmp_path: Path) -> None:
    assert await seed_registry(live_app.db)
    last_year = datetime.now(UTC).year - 1
    # The editors published last year's report (this year's stays preliminary).
    await report_for(live_app.db, last_year, reference_day="10-01",
                     today=datetime.now(UTC).date(), freeze=True, actor="ada")
    await page.goto(live_app.url + "/statistik")
    await page.get_by_role("link", name="Se årsrapporten").click()
    heading = page.get_by_role("heading", level=1)
    assert (await heading.inner_text()).startswith("Det telemedicinske landkort 20")
    await check_page(page, "report")

    # Another year from the menu: last year's report is the final, frozen edition.
    await page.get_by_label("År", exact=True).select_option(str(last_year))
    await page.get_by_role("button", name="Vis").click()
    await page.get_by_role("heading", name=f"Det telemedicinske landkort {last_year}").wait_for()
    assert await page.get_by_text("Endelig udgave").is_visible()
    assert await page.get_by_role("heading", name="Udviklingen over årene").is_visible()
    assert await page.get_by_role("heading",
                                  name="Hvad tallene kan og ikke kan sige").is_visible()
    await check_page(page, "report_last_year")

    # The downloads are the service's own files.
    for link, start in (("Hent som PDF", b"%PDF-"), ("Hent tallene som CSV", b"Afsnit"),
                        ("Hent tallene som JSON", b"{")):
        async with page.expect_download() as info:
            await page.get_by_role("link", name=link).click()
        download = await info.value
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        assert saved.read_bytes().startswith(start), link
        assert saved.name.startswith(f"landkort-rapport-{last_year}")

    # Printed by the browser: A4 pages without the site's header, menus or buttons.
    await page.emulate_media(media="print")
    assert not await page.locator(".site-header").is_visible()
    assert not await page.locator(".report-tools").is_visible()
    pdf = await page.pdf(format="A4", path="/tmp/report_print.pdf")
    assert pdf.startswith(b"%PDF-")
    await page.emulate_media(media="screen")


async def test_the_catalogue_filters_by_evaluation(live_app: LiveApp, page: Any) -> None:
    assert await seed_registry(live_app.db)
    await page.goto(live_app.url + "/")
    before = int(await page.locator("#results-count strong").inner_text())
    await page.select_option("#f-evaluation", "evalueret")
    async with page.expect_navigation():
        await page.click(".filter-actions button[type=submit]")
    after = int(await page.locator("#results-count strong").inner_text())
    assert 0 < after < before
    first = page.locator(".result-title a").first
    await first.click()
    assert await page.get_by_role("link", name="Evalueret", exact=True).is_visible()
    await check_page(page, "report_entry_evaluated")
