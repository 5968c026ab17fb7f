"""The moderator UI in headless Chromium: log in, open an item, approve, reject with a
reason, merge a duplicate, bulk-approve confirmations; CSRF refusal; hostile text stays
text."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

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
    await page.get_by_role("link", name=f"#{sub.id} ").click()
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
    # The duplicate section is open and suggests the entry.
    target = page.get_by_label("Opslagets nummer")
    assert await target.input_value() == str(entry.id)
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
    await page.get_by_text("CSRF check failed").wait_for()
    assert await state_of(live_app, sub.id) == "pending"


async def test_script_in_mailed_text_is_shown_as_text(live_app: LiveApp, page: Any) -> None:
    title = "<script>alert('titel')</script>KOL"
    note = "Hej <img src=x onerror=\"alert('note')\"> tak"
    sub = await queue(live_app, kind="new", proposed={"title": title}, note=note)
    await log_in(page, live_app)
    assert await page.get_by_text(f"#{sub.id} {title}").is_visible()
    await page.goto(f"{live_app.url}/moderation/item/{sub.id}")
    await page.locator(".item-title").wait_for()
    assert await page.locator(".item-title").inner_text() == title
    assert note in await page.locator(".note-text").inner_text()
    assert await page.locator("img").count() == 0
    assert page.dialogs == []
