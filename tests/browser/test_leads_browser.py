"""Leads (#19) in headless Chromium: a reply sentence names an initiative that is not on
the map; a moderator finds it under "Tip", sends an invitation (through the sandbox's real
SMTP server); the invited person opens the personal link, finds the form prefilled,
completes it and sends it: a new case. axe-core finds nothing on the leads page or the
invited form; both are photographed at 1366 and 390 px in Danish and English
(``/tmp/leads_*.png``)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.models import Lead, Submission
from tests.browser.conftest import LiveApp, sent_mail
from tests.browser.test_mail_admin_browser import check_page, log_in
from tests.moderation_support import use_fast_hashes
from tests.test_campaign_digest import plain_text

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

REPLY = ("From: Anne Holm <anne@odense.dk>\r\nTo: landkort@example.org\r\n"
         "Subject: Nyt initiativ\r\nMessage-ID: <lead-browser@odense.dk>\r\n"
         "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         "Hej\r\n\r\nTitel: Video i hjemmeplejen\r\nKommuner: Odense\r\n\r\n"
         "Vi kender også til et projekt med sårvurdering i Svendborg Kommune, som ikke er "
         "på landkortet.\r\n\r\nVenlig hilsen\r\nAnne\r\n").encode()


async def test_from_a_reply_sentence_through_the_invitation_to_a_new_case(
        sandbox_app: LiveApp, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)
    app = sandbox_app
    await store_message(app.db, REPLY, source="cli")
    await process_pending(app.db, app.settings)
    await log_in(page, app, "anna", "moderator")

    await page.get_by_role("link", name="Tip", exact=True).click()
    await page.get_by_role("heading", name="Tip om initiativer").wait_for()
    assert await page.get_by_text("sårvurdering i Svendborg Kommune").is_visible()
    await check_page(page, "leads")
    await page.get_by_label("Inviter (e-mail)").fill("sundhed@svendborg.dk")
    await page.get_by_role("button", name="Send invitation").click()
    await page.get_by_text("Invitationen ligger i udbakken.").wait_for()
    await page.goto(f"{app.url}/moderation/leads?state=invited")
    await page.get_by_role("button", name="Send invitationen igen").wait_for()
    await check_page(page, "leads_invited")

    mail = await sent_mail(app, "lead_invite")
    link = re.search(r"https?://\S+/indmeld\?lead=[A-Za-z0-9_-]+", plain_text(mail.raw))
    assert link is not None
    path = link.group(0).split("/indmeld", 1)[1]

    # The invited person, in a browser of their own (no moderator session).
    context = await page.context.browser.new_context(locale="da-DK")
    invited = await context.new_page()
    try:
        await invited.goto(f"{app.url}/indmeld{path}")
        await invited.get_by_text("Du er inviteret").wait_for()
        assert await invited.get_by_label("Organisation").input_value() == "Svendborg Kommune"
        await check_page(invited, "leads_invited_form")
        await invited.get_by_label("Titel").fill("Sårvurdering via app i Svendborg")
        await invited.get_by_label("Beskrivelse").fill(
            "Hjemmesygeplejen fotograferer sår, og sårsygeplejersken vurderer dem.")
        await invited.get_by_role("radio", name=re.compile("^Projekt")).check()
        await invited.get_by_label("Kommune", exact=True).check()
        await invited.get_by_label("Region Syddanmark").check()
        await invited.get_by_label("Kontaktperson").fill("Sara Sund")
        await invited.get_by_role("button", name="Send").click()
        await invited.get_by_role("heading", name=re.compile("mail", re.I)).wait_for()
    finally:
        await context.close()
    async with app.db.read() as session:
        lead = await session.scalar(select(Lead))
        # Sent, its address not yet verified: the lead points at the case, still invited.
        assert lead is not None and lead.state == "invited"
        sub = await session.get(Submission, lead.registered_submission_id)
        assert sub is not None and sub.proposed["organisation"] == "Svendborg Kommune"
        assert sub.proposed["title"] == "Sårvurdering via app i Svendborg"
