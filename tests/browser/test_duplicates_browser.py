"""The duplicates work list in headless Chromium, as a moderator works it: open the best
pair, compare side by side, merge field by field; dismiss another pair as "not a
duplicate"; choose entries on the merge page by searching. axe-core finds nothing;
photographed at 1366 and 390 px in Danish and English (``/tmp/duplicates_*.png``)."""
from __future__ import annotations

from typing import Any

import pytest

from bot.registry import duplicates
from bot.registry.models import Initiative
from bot.registry.repository import create_initiative
from tests.browser.conftest import LiveApp
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.conftest import sample_record
from tests.moderation_support import use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def seed(app: LiveApp, **entry: Any) -> Initiative:
    async with app.db.write() as session:
        return await create_initiative(session, sample_record(**entry), actor="test",
                                       channel="import")


async def test_a_moderator_works_through_the_suspected_duplicates(
        live_app: LiveApp, page: Any) -> None:
    kol = await seed(live_app, title="Telemedicinsk hjemmemonitorering af KOL-patienter",
                     organisation="Aalborg Kommune", contact_email="a@example.dk")
    twin = await seed(live_app, title="Telemedicinsk hjemmemonitorering af KOL patienter",
                      organisation="Aalborg Kommune", contact_email="b@example.dk",
                      website="https://kol.example.dk/ny")
    video = await seed(live_app, title="Videokonsultation med egen læge i Odense",
                       organisation="Odense Kommune", regions=["syddanmark"],
                       contact_email="c@example.dk")
    video2 = await seed(live_app, title="Videokonsultation med egen læge i Odense Kommune",
                        organisation="Region Syddanmark", regions=["syddanmark"],
                        contact_email="d@example.dk")
    async with live_app.db.read() as session:
        duplicates.invalidate(session)
    await log_in(page, live_app, "anna", "moderator")
    await page.get_by_role("link", name="Dubletter").click()
    await page.get_by_role("heading", name="Mulige dubletter").wait_for()
    await check_page(page, "duplicates_list")

    # The best pair first: compare and merge the new website over.
    first = page.locator("ol.pairs > li").first
    assert f"Opslag {kol.id}" in await first.inner_text()
    await first.get_by_role("link", name="Sammenlign").click()
    await page.get_by_role("table", name="De to opslag side om side").wait_for()
    await check_page(page, "duplicates_merge")
    await page.get_by_label("Overfør: Hjemmeside").check()
    await page.get_by_role("button", name="Sammenlæg").click()
    await page.get_by_text("Opslagene er lagt sammen.").wait_for()
    async with live_app.db.read() as session:
        kept = await session.get(Initiative, kol.id)
        gone = await session.get(Initiative, twin.id)
        assert kept is not None and kept.website == "https://kol.example.dk/ny"
        assert gone is not None and gone.merged_into_id == kol.id

    # The other pair is two initiatives: "not a duplicate", and it does not come back.
    await page.goto(f"{live_app.url}/moderation/duplicates")
    pair = page.locator("ol.pairs > li", has_text=f"Opslag {video.id}")
    assert f"Opslag {video2.id}" in await pair.inner_text()
    await pair.get_by_role("button", name="Ikke en dublet").click()
    await page.get_by_text("vises ikke igen").wait_for()
    assert await page.locator("ol.pairs > li").count() == 0

    # On the merge page, entries are found by searching, not by knowing numbers.
    await page.goto(f"{live_app.url}/moderation/merge")
    await page.get_by_role("group", name="Opslag der lægges ind").get_by_label(
        "Søg på titel, organisation eller nummer").fill("Odense")
    await page.get_by_role("button", name="Vis felter").click()
    merged_away = page.get_by_role("group", name="Opslag der lægges ind")
    kept = page.get_by_role("group", name="Opslag der bevares")
    await merged_away.get_by_role("radio", name=f"Opslag {video.id}").check()
    await kept.get_by_label("Søg på titel, organisation eller nummer").fill(
        "Region Syddanmark")
    await page.get_by_role("button", name="Vis felter").click()
    await kept.get_by_role("radio", name=f"Opslag {video2.id}").check()
    await page.get_by_role("button", name="Vis felter").click()
    await page.get_by_role("table", name="De to opslag side om side").wait_for()
    assert await page.get_by_text("markeret som forskellige opslag").is_visible()
    await check_page(page, "duplicates_merge_search")
