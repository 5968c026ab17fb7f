"""Every moderation and administration page with content on it, in headless Chromium:
axe-core finds no violation, nothing is wider than a 390 px phone, and each is
photographed at 1366 and 390 px in Danish and English (``/tmp/modpage_*.png``). The mail
pages and the duplicates work list are walked in their own tests
(test_mail_admin_browser, test_duplicates_browser)."""
from __future__ import annotations

from typing import Any

import pytest

from bot.links.checker import LinkResult, LinkTarget
from bot.links.store import record_results
from bot.registry.repository import create_initiative
from intake.inbox.store import store_message
from intake.parse.leads import find_leads
from moderation import decisions
from moderation.leads import record_leads
from moderation.submissions import create_submission
from tests.browser.conftest import LiveApp
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.conftest import sample_record
from tests.moderation_support import use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def test_every_moderation_page_passes_axe(live_app: LiveApp, page: Any) -> None:
    app = live_app
    async with app.db.write() as session:
        entry = await create_initiative(session, sample_record(), actor="import",
                                        channel="import")
        first = await create_submission(
            session, kind="update", channel="email", initiative=entry,
            proposed={"status": "afsluttet", "end_date": "2026-06-30"},
            sender_email="mette.jensen@example.dk", sender_name="Mette Jensen")
        assert first is not None
        first_id = first.id
        second = await create_submission(
            session, kind="confirmation", channel="web", initiative=entry, proposed={},
            sender_email="mette.jensen@example.dk")
        assert second is not None
        second_id = second.id
    await decisions.approve(app.db, first_id, actor="demo")
    # A dead website link (three checks in a row) and a lead to act on.
    for _ in range(3):
        await record_results(app.db, [LinkResult(
            LinkTarget(entry.id, "website", "https://example.dk/kol"), "broken", 404)])
    async with app.db.write() as session:
        await record_leads(session, find_leads(
            "Vi kender også til et projekt med video i Holbæk Kommune."), channel="email",
            key="axe:1", mentioned_by="mette.jensen@example.dk")
    stored = await store_message(app.db, b"From: x@example.dk\r\nSubject: stor\r\n\r\n" +
                                 b"x" * 200, source="cli", max_bytes=100)
    await log_in(page, app, "ada", "admin")
    pages = {
        "queue": "/moderation",
        "item": f"/moderation/item/{second_id}",
        "audit": "/moderation/audit",
        "completeness": "/moderation/completeness",
        "contacts": "/moderation/contacts?q=mette",
        "quarantine": "/moderation/inbound",
        "quarantined_mail": f"/moderation/inbound/{stored.id}",
        "users": "/moderation/users",
        "leads": "/moderation/leads",
        "reports": "/moderation/reports",
    }
    for name, path in pages.items():
        await page.goto(f"{app.url}{path}")
        await check_page(page, f"modpage_{name}")
    # The entry's history on the item page reads as sentences.
    await page.goto(f"{app.url}/moderation/item/{second_id}")
    history = await page.locator("ol.history").inner_text()
    assert "Mette Jensen foreslog ændringen (E-mail); godkendt af demo" in history
    assert "Status: I drift → Afsluttet" in history
    assert await page.get_by_text("Døde links").is_visible()
    # The login form, logged out.
    await page.context.clear_cookies()
    await page.goto(f"{app.url}/login")
    await check_page(page, "modpage_login")
