"""An evaluation report from a contact's reply to the public entry page (#19), in headless
Chromium: the moderator sees the PDF on the case, attaches it with one button, and the
entry page links it; the download is the PDF. axe-core finds nothing on either page; both
are photographed at 1366 and 390 px in Danish and English
(``/tmp/evaluation_report_*.png``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intake.inbox.models import InboundMessage
from tests.browser.conftest import LiveApp
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.conftest import sample_record
from tests.moderation_support import use_fast_hashes
from tests.test_evaluation_reports import PDF, _reply

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


async def test_a_reply_s_pdf_becomes_the_entry_s_report(
        live_app: LiveApp, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.registry.repository import create_initiative
    from moderation.submissions import create_submission

    use_fast_hashes(monkeypatch)
    app = live_app
    raw = _reply([("Evaluering af KOL-kufferten 2025.pdf", "application/pdf", PDF)])
    async with app.db.write() as session:
        entry = await create_initiative(session, sample_record(
            title="KOL-kuffert i Vejle", contact_email="kontakt1@example.dk",
            evaluation_status="evalueret"), actor="test", channel="import")
        inbound = InboundMessage(source="cli", content_hash="e" * 64, raw=raw, size=len(raw),
                                 from_addr="kontakt1@example.dk", subject="SV: Påmindelse",
                                 state="done")
        session.add(inbound)
        await session.flush()
        sub = await create_submission(
            session, kind="update", channel="email", initiative=entry,
            proposed={"evaluation_status": "evalueret"}, sender_email="kontakt1@example.dk",
            inbound_message_id=inbound.id, idempotency_key="report-browser",
            actor="email:kontakt1@example.dk")
        assert sub is not None
        sub_id, slug = sub.id, entry.slug
    await log_in(page, app, "anna", "moderator")
    await page.goto(f"{app.url}/moderation/item/{sub_id}")
    await page.get_by_role("button", name="Læg på opslaget som evalueringsrapport").click()
    await page.get_by_text("Evalueringsrapporten er lagt på opslaget.").wait_for()
    await check_page(page, "evaluation_report_case")

    await page.goto(f"{app.url}/initiativ/{slug}")
    link = page.get_by_role("link", name="Evaluering af KOL-kufferten 2025.pdf (PDF, 1 kB)")
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "Evaluering af KOL-kufferten 2025.pdf"
    assert Path(await download.path()).read_bytes() == PDF
    await check_page(page, "evaluation_report_entry")
