"""The moderator UI in headless Chromium: log in, open an item, approve, reject with a
reason, merge a duplicate, bulk-approve confirmations; CSRF refusal; hostile text stays
text."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.core.i18n import text
from bot.mail.models import OutboxMessage
from bot.registry.models import Initiative
from bot.registry.repository import create_initiative
from moderation.models import Submission
from moderation.submissions import create_submission
from tests.browser.conftest import LiveApp
from tests.conftest import sample_record
from tests.moderation_support import PASSWORD, add_user, use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def seed(app: LiveApp, **entry: Any) -> Initiative:
    async with app.db.write() as session:
        return await create_initiative(session, sample_record(**entry), actor="test",
                                       channel="import")


async def queue(app: LiveApp, *, kind: str, proposed: dict[str, Any],
                initiative: Initiative | None = None, **kw: Any) -> Submission:
    async with app.db.write() as session:
        ini = await session.get(Initiative, initiative.id) if initiative else None
        sub = await create_submission(session, kind=kind, channel="email", proposed=proposed,
                                      initiative=ini, sender_email=kw.pop(
                                          "sender_email", "afsender@example.dk"), **kw)
        assert sub is not None
        return sub


async def log_in(page: Any, app: LiveApp, name: str = "anna") -> None:
    await add_user(app.db, name)
    await page.goto(f"{app.url}/moderation")
    assert "/login" in page.url  # sent to the login form first
    await page.get_by_label("Brugernavn").fill(name)
    await page.get_by_label("Adgangskode").fill(PASSWORD)
    await page.get_by_role("button", name="Log ind").click()
    await page.wait_for_url(f"{app.url}/moderation")
    await page.get_by_role("heading", name="Moderationskø").wait_for()


async def state_of(app: LiveApp, sid: int) -> str:
    async with app.db.read() as session:
        return str(await session.scalar(select(Submission.state).where(Submission.id == sid)))


async def test_login_open_item_and_approve(live_app: LiveApp, page: Any) -> None:
    entry = await seed(live_app)
    sub = await queue(live_app, kind="update", initiative=entry,
                      proposed={"status": "afsluttet"})
    await log_in(page, live_app)
    await page.get_by_role("link", name=f"S-{sub.id} ").click()
    await page.get_by_role("heading", name="Ændringer").wait_for()
    assert await page.get_by_text("Ingen arbejder på sagen.").is_visible()
    await page.get_by_role("button", name="Tag sagen").click()
    await page.get_by_text("Du har sagen.").wait_for()
    await page.locator("#approve").click()
    await page.get_by_text("Sagen er godkendt.").wait_for()
    assert await state_of(live_app, sub.id) == "approved"
    async with live_app.db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.status == "afsluttet"


async def test_reject_with_a_reason_queues_the_mail(live_app: LiveApp, page: Any) -> None:
    sub = await queue(live_app, kind="new", proposed={"title": "Ikke telemedicin"},
                      sender_email="afsender@example.dk")
    await log_in(page, live_app)
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    await page.get_by_text("Afvis", exact=True).first.click()  # open the <details>
    await page.get_by_label("Begrundelse").select_option("not_telemedicine")
    await page.get_by_label("Egen tekst").fill("Skriv gerne igen, hvis det ændrer sig.")
    await page.get_by_role("button", name="Afvis").click()
    await page.get_by_text("Sagen er afvist").wait_for()
    assert page.dialogs == ["Er du sikker?"]  # moderation.js asked first
    assert await state_of(live_app, sub.id) == "rejected"
    async with live_app.db.read() as session:
        mails = list(await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "rejection")))
    assert [m.to_addr for m in mails] == ["afsender@example.dk"]


async def test_merge_a_duplicate_field_by_field(live_app: LiveApp, page: Any) -> None:
    entry = await seed(live_app)
    sub = await queue(live_app, kind="new", flags=["likely_duplicate"], proposed=sample_record(
        title="Hjemmemonitorering af KOL-patienter", website="https://kol.example.dk/ny"))
    await log_in(page, live_app)
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    # The duplicate section is open and suggests the entry, chosen.
    target = page.get_by_role("radio", name=f"Opslag {entry.id}")
    assert await target.is_checked()
    await page.locator('input[name="take"][value="website"]').check()
    await page.get_by_role("button", name="Markér som dublet og flet").click()
    await page.get_by_text("Sagen er markeret som dublet.").wait_for()
    assert await state_of(live_app, sub.id) == "duplicate"
    async with live_app.db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.website == "https://kol.example.dk/ny"
        assert fresh.title == "Telemedicinsk hjemmemonitorering af KOL"


async def test_bulk_approve_confirmations(live_app: LiveApp, page: Any) -> None:
    a = await seed(live_app)
    b = await seed(live_app, title="Videokonsultation i psykiatrien",
                   contact_email="psyk@example.dk")
    c1 = await queue(live_app, kind="confirmation", initiative=a, proposed={})
    c2 = await queue(live_app, kind="confirmation", initiative=b, proposed={})
    upd = await queue(live_app, kind="update", initiative=a, proposed={"status": "projekt"})
    await log_in(page, live_app)
    await page.locator(f"#sel-{c1.id}").check()
    await page.locator(f"#sel-{c2.id}").check()
    assert await page.locator(f"#sel-{upd.id}").count() == 0  # only confirmations
    await page.get_by_role("button", name="Godkend valgte bekræftelser").click()
    await page.get_by_text("2 godkendt").wait_for()
    assert [await state_of(live_app, s.id) for s in (c1, c2, upd)] == \
        ["approved", "approved", "pending"]


async def test_a_form_without_its_csrf_token_is_refused(live_app: LiveApp, page: Any) -> None:
    sub = await queue(live_app, kind="new", proposed=sample_record(title="Forsøg"))
    await log_in(page, live_app)
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    # Strip the token from the approve form, as a forged cross-site form would lack it.
    await page.eval_on_selector(
        "#approve", "b => b.form.querySelector('input[name=csrf_token]').remove()")
    await page.locator("#approve").click()
    # A page of the site, in the moderator's language, saying what to do.
    await page.get_by_text(text("da", "err.form_expired")).wait_for()
    assert await page.locator("h1").inner_text() == text("da", "err.403.title")
    assert await state_of(live_app, sub.id) == "pending"


async def test_script_in_mailed_text_is_shown_as_text(live_app: LiveApp, page: Any) -> None:
    title = "<script>alert('titel')</script>KOL"
    note = "Hej <img src=x onerror=\"alert('note')\"> tak"
    sub = await queue(live_app, kind="new", proposed={"title": title}, note=note)
    await log_in(page, live_app)
    assert await page.get_by_text(f"S-{sub.id} {title}").is_visible()
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    await page.locator(".item-title").wait_for()
    assert await page.locator(".item-title").inner_text() == title
    assert note in await page.locator(".note-text").inner_text()
    assert await page.locator("img").count() == 0
    assert page.dialogs == []


async def test_item_page_shows_where_each_value_came_from(page: Any,
                                                          live_app: LiveApp) -> None:
    """A reply that clears a value and says in a sentence that the initiative ended,
    with a PDF attached: the diff says "remove the value", the sentence is shown as a
    suggestion, the PDF is a download link; axe-core finds nothing; photographed at
    1366 and 390 px in Danish and English (``/tmp/item_sources_*.png``)."""
    from pathlib import Path

    from axe_playwright_python.async_playwright import Axe

    from intake.inbox.store import store_message
    from intake.mail.processor import process_pending
    from tests.test_moderation_web import _mail_with_files

    entry = await seed(live_app, status="i_drift", website="https://tele.example.dk",
                       contact_email="mette.jensen@example.dk")
    async with live_app.db.write() as session:
        from bot.mail.tokens import issue_token
        token = await issue_token(session, purpose="reminder", initiative_id=entry.id,
                                  contact_id=entry.contact_id)
    raw = (Path(__file__).parents[1] / "fixtures" / "mail" / "intake" /
           "clear_and_sentence_da.eml").read_bytes().replace(b"@@TOKEN@@", token.encode())
    await store_message(live_app.db, raw, source="cli")
    await process_pending(live_app.db, live_app.settings)
    async with live_app.db.read() as session:
        (update,) = (await session.scalars(select(Submission))).all()
    stored = await store_message(live_app.db, _mail_with_files(), source="cli")
    with_files = await queue(live_app, kind="new", proposed={"title": "Med bilag"},
                             inbound_message_id=stored.id)
    await log_in(page, live_app)
    for lang, width in (("da", 1366), ("da", 390), ("en", 1366), ("en", 390)):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(f"{live_app.url}/moderation/item/{update.id}?lang={lang}")
        row = page.locator("tr.changed.sentence")
        assert await row.count() >= 1
        text = await page.locator("#changes-h + table").inner_text()
        assert ("fjern værdien" if lang == "da" else "remove the value") in text
        assert "lukkede tilbuddet i november 2025" in text
        results = await Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        await page.screenshot(path=f"/tmp/item_sources_{lang}_{width}.png", full_page=True)
        # Nothing makes the page wider than the screen (a wide table scrolls inside
        # its own region).
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await page.set_viewport_size({"width": 1366, "height": 900})
    await page.goto(f"{live_app.url}/moderation/item/{with_files.id}")
    link = page.locator(f'a[href="/moderation/item/{with_files.id}/attachment/0"]')
    assert await link.count() == 1
    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


async def test_edit_with_menus_check_boxes_and_type_ahead(live_app: LiveApp,
                                                          page: Any) -> None:
    """"Ret og godkend" as a moderator uses it: a status menu, check boxes for
    participants, a type-ahead over the municipalities; a wrong date is named at the top
    and next to its field, and the cursor lands in that field."""
    sub = await queue(live_app, kind="new", proposed=sample_record(
        title="Hjemmedialyse med video", municipalities=["Aalborg"]))
    await log_in(page, live_app)
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    await page.get_by_text("Ret og godkend").first.click()
    await page.get_by_label("Status", exact=True).select_option(label="Projekt")
    await page.get_by_role("checkbox", name="Almen praksis").check()
    finder = page.get_by_label("Find kommune")
    await finder.fill("thi")
    thisted = page.get_by_role("checkbox", name="Thisted")
    await thisted.wait_for()
    assert await page.get_by_role("checkbox", name="Odense").is_hidden()
    await thisted.check()
    await finder.press("Enter")  # filtering, not submitting
    assert "/approve" not in page.url
    # Technology from the vocabulary's terms, and a word no term covers yet.
    await page.get_by_label("Find term").nth(1).fill("video")
    await page.get_by_role("checkbox", name="Videokonsultation").check()
    await page.get_by_label("Andre ord").nth(1).fill("dialysemaskine")
    await page.locator("#e-start_date").fill("den 32. marts")
    await page.locator(".edit-form button[type=submit]").click()
    await page.get_by_role("heading", name="Ret disse felter").wait_for()
    assert await page.evaluate("document.activeElement.id") == "e-start_date"
    assert await page.locator("#err-start_date").is_visible()
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    await page.screenshot(path="/tmp/edit_errors_da_1366.png", full_page=True)
    await page.locator("#e-start_date").fill("marts 2024")
    await page.locator(".edit-form button[type=submit]").click()
    await page.get_by_text("Sagen er godkendt.").wait_for()
    async with live_app.db.read() as session:
        made = await session.scalar(select(Initiative).where(
            Initiative.title == "Hjemmedialyse med video"))
        assert made is not None
        assert made.status == "projekt" and "almen_praksis" in made.participants
        assert made.municipalities == ["Aalborg", "Thisted"]
        assert made.start_date == "2024-03"
        assert made.technology == ["Pulsoximeter", "Tablet", "Videokonsultation",
                                   "dialysemaskine"]
