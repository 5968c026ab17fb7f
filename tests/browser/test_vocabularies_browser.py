"""Vocabularies in headless Chromium: a moderator maps a proposed word on a case page; an
administrator adds a term for a proposal and merges two terms on the vocabulary page.
axe-core finds nothing; photographed at 1366 and 390 px in Danish and English
(``/tmp/vocab_*.png``)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.registry.models import Initiative
from bot.registry.repository import create_initiative
from moderation.submissions import create_submission
from tests.browser.conftest import LiveApp
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.conftest import sample_record
from tests.moderation_support import use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def test_words_become_terms_in_the_moderators_hands(live_app: LiveApp, page: Any,
                                                          browser: Any) -> None:
    app = live_app
    async with app.db.write() as session:
        await create_initiative(session, sample_record(
            title="Robot i hjemmeplejen", technology=["Hjemmerobot"],
            contact_email="r@example.dk"), actor="import", channel="import")
        await create_initiative(session, sample_record(
            title="Telekonsultation i Thisted", technology=["Telekonsultation"],
            contact_email="t@example.dk"), actor="import", channel="import")
        sub = await create_submission(session, kind="new", channel="email", proposed={
            "title": "Sårfoto", "technology": ["sårkamera", "app"]},
            sender_email="a@example.dk")
        assert sub is not None
        case = sub.id

    # A moderator: the case names its new word; it means an existing term.
    await log_in(page, app, "anna", "moderator")
    await page.goto(f"{app.url}/moderation/item/{case}")
    await page.get_by_role("heading", name="Nye ord, der venter").wait_for()
    await check_page(page, "vocab_case")
    await page.get_by_label("Betyder").select_option(label="Billeddeling")
    await page.get_by_role("button", name="Gem").click()
    await page.get_by_text("Ordet er gemt i ordlisten.").wait_for()
    assert await page.get_by_role("heading", name="Nye ord, der venter").count() == 0

    # An administrator: a proposal becomes a term; two terms become one.
    admin = await browser.new_context(locale="da-DK")
    apage = await admin.new_page()
    apage.set_default_timeout(15_000)

    async def accept(dialog: Any) -> None:  # "Er du sikker?" before a merge
        await dialog.accept()
    apage.on("dialog", accept)
    await log_in(apage, app, "ada", "admin")
    await apage.get_by_role("link", name="Ordlister").click()
    await apage.get_by_role("heading", name="Nye ord, der venter").wait_for()
    await check_page(apage, "vocab_page")
    for word in ("Hjemmerobot", "Telekonsultation"):
        proposal = apage.locator("ul.blocked > li", has_text=word)
        await proposal.get_by_role("button", name="Gem").click()  # "(en ny term)" first
        await apage.get_by_text("Ordet er gemt i ordlisten.").wait_for()
    term = apage.locator("ul.terms > li").filter(
        has=apage.locator("summary strong", has_text=re.compile("^Telekonsultation$")))
    await term.locator("summary").click()
    await term.get_by_label("Læg sammen med").select_option(label="Videokonsultation")
    await term.get_by_role("button", name="Læg sammen").click()
    await apage.get_by_text("Termerne er lagt sammen.").wait_for()
    await apage.get_by_text("1 opslag fik en ny version.").wait_for()
    async with app.db.read() as session:
        titles = {e.title: e.technology for e in await session.scalars(select(Initiative))}
    assert titles["Telekonsultation i Thisted"] == ["Videokonsultation"]
    assert titles["Robot i hjemmeplejen"] == ["Hjemmerobot"]
    await admin.close()
