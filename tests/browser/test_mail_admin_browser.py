"""The administrators' mail pages in headless Chromium, as an administrator would use
them: send a test mail and watch it go out (through the sandbox's real SMTP server), send
a failed mail again, read how a received mail was understood, reset a bouncing address,
look at the campaign dashboard; a moderator is refused. axe-core finds nothing on any of
them; each is photographed at 1366 and 390 px in Danish and English
(``/tmp/mail_admin_*.png``)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select, update

from bot.core.db import dbnow
from bot.mail import outbox
from bot.mail.models import CampaignStep, OutboxMessage
from bot.mail.templates import RenderedMail
from bot.registry.models import Contact
from bot.registry.repository import create_initiative
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from tests.browser.conftest import LiveApp
from tests.conftest import sample_record
from tests.moderation_support import PASSWORD, add_user, use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

PAGES = ("/moderation/mail", "/moderation/mail/received", "/moderation/mail/addresses",
         "/moderation/mail/campaigns")


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def log_in(page: Any, app: LiveApp, name: str, role: str) -> None:
    await add_user(app.db, name, role=role)
    await page.goto(f"{app.url}/login")
    await page.get_by_label("Brugernavn").fill(name)
    await page.get_by_label("Adgangskode").fill(PASSWORD)
    await page.get_by_role("button", name="Log ind").click()
    await page.get_by_role("heading", name="Moderationskø").wait_for()


async def seed(app: LiveApp) -> tuple[int, int]:
    """A bouncing contact with an entry in a reminder cycle, a failed reminder to an
    address that works, and a received mail that was processed. Returns the failed
    mail's and the received mail's ids."""
    async with app.db.write() as session:
        entry = await create_initiative(session, sample_record(
            contact_email="fuld.postkasse@example.dk", regions=["syddanmark"]),
            actor="test", channel="import")
        await session.execute(update(Contact).where(Contact.id == entry.contact_id)
                              .values(email_status="bouncing", last_bounce_at=dbnow()))
        session.add(CampaignStep(initiative_id=entry.id, cycle=2026, step=1,
                                 contact_id=entry.contact_id, state="failed",
                                 created_at=dbnow() - timedelta(days=3)))
        mail = RenderedMail(subject="Påmindelse: er jeres opslag stadig rigtigt?",
                            text="Hej\n", html=None)
        row = await outbox.enqueue(session, outbox.compose(
            app.settings, to_addr="ny.adresse@example.dk", mail=mail, kind="reminder"),
            kind="reminder")
        assert row is not None
        row.state, row.attempts, row.smtp_code = "failed", 8, 451
        row.last_error = "451 4.7.1 greylisted, try again later"
        failed = row.id
    raw = (b"From: Hanne Krogh <hanne@odense.dk>\r\nTo: landkort@example.org\r\n"
           b"Subject: Nyt initiativ: video i hjemmeplejen\r\nMessage-ID: <b1@odense.dk>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Hej\r\n\r\nTitel: Video i hjemmeplejen\r\nStatus: Projekt\r\n"
           b"Kommuner: Odense\r\n\r\nVi startede i marts og har 40 borgere med.\r\n"
           b"\r\nVenlig hilsen\r\nHanne\r\n")
    stored = await store_message(app.db, raw, source="cli")
    await process_pending(app.db, app.settings)
    return failed, stored.id


def with_lang(url: str, lang: str) -> str:
    """``url`` with its ``lang`` query parameter set (the rest of the query kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "lang"] + [("lang", lang)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def check_page(page: Any, name: str) -> None:
    """axe-core finds nothing; at 390 px nothing makes the page wider than the screen;
    photographed in both languages at both widths. Leaves the page in Danish at 1366."""
    from axe_playwright_python.async_playwright import Axe

    url = page.url
    for lang, width in (("da", 1366), ("da", 390), ("en", 1366), ("en", 390)):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(with_lang(url, lang))
        results = await Axe().run(page)
        assert results.violations_count == 0, (name, lang, width,
                                                results.generate_report())
        assert await page.evaluate("document.documentElement.scrollWidth") <= width, name
        await page.screenshot(path=f"/tmp/{name}_{lang}_{width}.png", full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})
    await page.goto(with_lang(url, "da"))


async def test_an_administrator_works_the_mail_pages(sandbox_app: LiveApp, page: Any) -> None:
    app = sandbox_app
    failed, received = await seed(app)
    await log_in(page, app, "ada", "admin")

    # Outgoing mail: the failed reminder is listed with its error; send it again.
    await page.get_by_role("link", name="Post", exact=True).click()
    await page.get_by_role("heading", name="Post", exact=True).wait_for()
    assert await page.get_by_text("451 4.7.1 greylisted").is_visible()
    await check_page(page, "mail_admin_outgoing")
    await page.get_by_role("link", name="Fejlet 1").click()
    await page.get_by_role("link", name="Påmindelse: er jeres opslag stadig rigtigt?").click()
    await check_page(page, "mail_admin_item")
    await page.get_by_role("button", name="Send igen").click()
    await page.get_by_text("Mailen sendes igen.").wait_for()

    # A test mail to the administrator's own address goes out through real SMTP.
    await page.get_by_role("link", name="Udgående post").click()
    await page.get_by_label("Modtagerens e-mailadresse").fill("ada@medcom.example.dk")
    await page.get_by_role("button", name="Send testmail").click()
    await page.get_by_text("Testmailen ligger i udbakken").wait_for()
    for _ in range(100):
        async with app.db.read() as session:
            states = set(await session.scalars(select(OutboxMessage.state)))
        if states == {"sent"}:
            break
        await page.wait_for_timeout(100)
    assert states == {"sent"}  # the test mail and the reminder sent again
    await page.goto(f"{app.url}/sandbox")
    assert await page.get_by_text("Testmail fra Det telemedicinske landkort").count() >= 1

    # Received mail: how the submission was read, field by field.
    await page.goto(f"{app.url}/moderation/mail/received")
    await check_page(page, "mail_admin_received")
    await page.get_by_role("link", name="Nyt initiativ: video i hjemmeplejen").click()
    await page.get_by_role("heading", name="Sådan blev mailen læst").wait_for()
    fields = await page.get_by_role("table", name="Felter læst i mailen").inner_text()
    assert "Video i hjemmeplejen" in fields and "linje med feltnavn" in fields
    assert page.url.endswith(f"/moderation/inbound/{received}")
    await check_page(page, "mail_admin_inbound")

    # Blocked addresses: a reset needs a reason and is then gone from the list.
    await page.goto(f"{app.url}/moderation/mail/addresses")
    await check_page(page, "mail_admin_addresses")
    await page.get_by_label("Hvorfor").fill("Postkassen er tømt; ringede til kontakten")
    await page.get_by_role("button", name="Nulstil").click()
    await page.get_by_text("Adressen er nulstillet").wait_for()
    assert await page.get_by_text("fuld.postkasse@example.dk").count() == 0

    # The campaign dashboard.
    await page.get_by_role("link", name="Kampagner", exact=True).click()
    await page.get_by_role("table", name="Pr. cyklus").wait_for()
    await check_page(page, "mail_admin_campaigns")


async def test_a_moderator_is_refused_the_mail_pages(live_app: LiveApp, page: Any) -> None:
    await log_in(page, live_app, "anna", "moderator")
    assert await page.get_by_role("link", name="Post", exact=True).count() == 0
    for path in PAGES:
        response = await page.goto(f"{live_app.url}{path}")
        assert response is not None and response.status == 403, path
