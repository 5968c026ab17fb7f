"""Outreach (#19) in headless Chromium, in the sandbox: an administrator imports an
address book (one bad row listed with what to fix), makes a campaign, sees whom it would
mail and starts it; the mail goes out over the sandbox's real SMTP server and shows on
/sandbox; the practice opens its personal link, finds the form prefilled and registers an
initiative; the campaign's page counts it. axe-core finds nothing on the outreach pages;
each is photographed at 1366 and 390 px in Danish and English (``/tmp/outreach_*.png``)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.campaigns.outreach import run_tick
from bot.core.db import dbnow
from moderation.models import OutreachRecipient, Submission
from tests.browser.conftest import LiveApp, sent_mail
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.moderation_support import use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

BOOK = ("Organisation;Type;E-mail;Kommune\r\n"
        "Lægerne i Tønder;almen praksis;laeger@toender.dk;Tønder\r\n"
        "Tønder Kommune, Sundhed;kommune;sundhed@toender.dk;550\r\n"
        "Stavefejl;kommune;sundhed@esbjerg.dk;Esbjærg\r\n").encode()


async def test_an_outreach_campaign_from_the_address_book_to_a_new_case(
        sandbox_app: LiveApp, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)
    app = sandbox_app
    await log_in(page, app, "ada", "admin")
    await page.get_by_role("link", name="Opsøgende kampagner").click()
    await page.get_by_role("heading", name="Opsøgende kampagner", exact=True).wait_for()
    await check_page(page, "outreach")

    await page.get_by_label("CSV-fil").set_input_files(
        files=[{"name": "adresser.csv", "mimeType": "text/csv", "buffer": BOOK}])
    await page.get_by_role("button", name="Importér").click()
    await page.get_by_text("Importeret: 2 nye, 0 opdateret, 0 uændret.").wait_for()
    table = page.get_by_role("table", name="Rækker, der ikke blev importeret")
    assert "Esbjærg" in await table.inner_text() and "Esbjerg" in await table.inner_text()
    from axe_playwright_python.async_playwright import Axe

    for width in (1366, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        assert (await Axe().run(page)).violations_count == 0
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        await page.screenshot(path=f"/tmp/outreach_import_da_{width}.png", full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})

    await page.get_by_label("Navn").fill("Almen praksis i Syddanmark")
    await page.get_by_label("Kommune", exact=True).uncheck()
    await page.get_by_label("Sygehus", exact=True).uncheck()
    await page.get_by_role("button", name="Opret kladde").click()
    await page.get_by_role("heading", name="Almen praksis i Syddanmark").wait_for()
    assert await page.get_by_role("cell", name="laeger@toender.dk").is_visible()
    assert await page.get_by_text("sundhed@toender.dk").count() == 0
    await check_page(page, "outreach_draft")
    await page.get_by_role("button", name="Start og skriv til 1 organisation").click()
    await page.get_by_text("Kampagnen er startet.").wait_for()

    assert (await run_tick(app.db, app.settings, dbnow(), ignore_window=True)).sent == 1
    await sent_mail(app, "outreach")

    # The mail as the sandbox kept it.
    await page.goto(f"{app.url}/sandbox")
    await page.locator("a", has_text="Er jeres telemedicinske initiativer").first.click()
    text = await page.locator("main").inner_text()
    assert "ingen igangværende telemedicinske initiativer med almen praksis i " \
           "Tønder Kommune" in text
    link = re.search(re.escape(app.url) + r"/indmeld\?invitation=[A-Za-z0-9_-]+", text)
    assert link is not None, text

    context = await page.context.browser.new_context(locale="da-DK")
    invited = await context.new_page()
    try:
        await invited.goto(link.group(0))
        await invited.get_by_text("Du er inviteret").wait_for()
        assert await invited.get_by_label("Organisation").input_value() == "Lægerne i Tønder"
        assert await invited.get_by_label("Almen praksis").is_checked()
        await invited.get_by_label("Titel").fill("Videokonsultation i Tønder")
        await invited.get_by_label("Beskrivelse").fill(
            "Patienter med kroniske sygdomme taler med lægen over video.")
        await invited.get_by_role("radio", name=re.compile("^I drift")).check()
        await invited.get_by_label("Kontaktperson").fill("Lise Læge")
        await invited.get_by_role("button", name="Send").click()
        await invited.get_by_role("heading", name=re.compile("mail", re.I)).wait_for()
    finally:
        await context.close()
    async with app.db.read() as session:
        rec = await session.scalar(select(OutreachRecipient))
        assert rec is not None and rec.submission_id is not None
        sub = await session.get(Submission, rec.submission_id)
        assert sub is not None and sub.proposed["organisation"] == "Lægerne i Tønder"

    await page.goto(f"{app.url}/moderation/outreach")
    await page.get_by_role("link", name="Almen praksis i Syddanmark").click()
    await page.get_by_role("heading", name="Sådan gik det").wait_for()
    await check_page(page, "outreach_running")
