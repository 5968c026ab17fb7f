"""Answering the yearly mail on a phone (390×844), from a reminder taken out of the
demo's mail sandbox: confirm in two interactions, change the status and clear the end
date in the form in at most four, a wrong municipality shown beside its field, and the
queue holding exactly the right submission. axe-core checks every page; the mail's HTML
part and the pages are photographed in both languages (``/tmp/answer_*.png``)."""
from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.campaigns.reminders import run_tick
from bot.core.db import dbnow
from bot.mail.models import OutboxMessage
from bot.registry.models import Contact, Initiative
from bot.registry.repository import create_initiative
from moderation.models import Submission
from tests.browser.conftest import LiveApp
from tests.conftest import sample_record

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

SHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


async def assert_accessible(page: Any) -> None:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


async def phone(browser: Any, lang: str = "da") -> Any:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2,
                                        is_mobile=True, has_touch=True,
                                        locale="da-DK" if lang == "da" else "en-GB")
    return context, await context.new_page()


async def reminder_from_sandbox(app: LiveApp, page: Any, *, lang: str = "da",
                                **record: Any) -> tuple[Initiative, str, str]:
    """Make an entry, let the campaign send its reminder through the outbox to the
    sandbox, open the mail there; returns (entry, confirm link, form link)."""
    async with app.db.write() as s:
        entry = await create_initiative(s, sample_record(**record), actor="test",
                                        channel="import", language=lang)
        if lang == "en":
            await s.execute(update(Contact).where(Contact.id == entry.contact_id)
                            .values(language="en"))
    settings = app.settings.replace(sending_days="mon,tue,wed,thu,fri,sat,sun",
                                    sending_window="00:00-23:59")
    result = await run_tick(app.db, settings, dbnow())
    assert result.sent == 1
    wanted = "Is everything still correct" if lang == "en" else "Er alt stadig korrekt"
    for _ in range(80):
        await page.goto(f"{app.url}/sandbox")
        found = page.locator("a", has_text=entry.title[:30])
        if await found.count():
            break
        await page.wait_for_timeout(250)
    await page.goto(app.url + str(await found.first.get_attribute("href")))
    text = await page.locator("main").inner_text()
    assert wanted in text
    base = re.escape(app.url)
    confirm = re.search(base + r"/bekraeft/[A-Za-z0-9_-]+(?:\?lang=en)?", text)
    form = re.search(base + r"/ret/[A-Za-z0-9_-]+(?:\?lang=en)?", text)
    assert confirm and form, text
    return entry, confirm.group(0), form.group(0)


async def submissions(app: LiveApp) -> list[Submission]:
    async with app.db.read() as s:
        return list((await s.scalars(select(Submission).order_by(Submission.id))).all())


async def test_confirm_in_two_taps(browser: Any, sandbox_app: LiveApp) -> None:
    context, page = await phone(browser)
    try:
        entry, confirm, _ = await reminder_from_sandbox(sandbox_app, page)
        await page.goto(confirm)                                      # 1: open the link
        await assert_accessible(page)
        await page.screenshot(path=str(SHOTS / "answer_confirm_da_390.png"), full_page=True)
        assert await submissions(sandbox_app) == []  # opening changed nothing
        await page.get_by_role("button", name="Ja, alt er korrekt").click()  # 2: press
        await page.get_by_role("heading", name="Tak for bekræftelsen").wait_for()
        await assert_accessible(page)
        (sub,) = await submissions(sandbox_app)
        assert (sub.kind, sub.channel, sub.state, sub.initiative_id) == (
            "confirmation", "web", "pending", entry.id)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        await mail_on_a_phone(sandbox_app, page, "da")
    finally:
        await context.close()


async def mail_on_a_phone(app: LiveApp, page: Any, lang: str) -> None:
    """The reminder's HTML part as a phone shows it: the two buttons on the first screen,
    nothing wider than the phone."""
    async with app.db.read() as s:
        rows = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "reminder"))).all()
    assert rows
    for row in rows:
        msg = email.message_from_bytes(row.raw, policy=email.policy.default)
        html = msg.get_body(("html",))  # type: ignore[attr-defined]
        assert html is not None
        await page.set_content(str(html.get_content()))
        buttons = page.locator("a", has_text=re.compile(
            "everything is correct|alt er korrekt", re.I))
        box = await buttons.first.bounding_box()
        assert box is not None and box["y"] < PHONE["height"]
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        await page.screenshot(path=str(SHOTS / f"answer_mail_{lang}_390.png"), full_page=True)


async def test_change_status_and_clear_end_date_in_four(browser: Any,
                                                       sandbox_app: LiveApp) -> None:
    context, page = await phone(browser)
    try:
        entry, _, form = await reminder_from_sandbox(sandbox_app, page, status="i_drift",
                                                     end_date="2026-12-31")
        await page.goto(form)                                         # 1: open the link
        await assert_accessible(page)
        await page.screenshot(path=str(SHOTS / "answer_form_da_390.png"), full_page=True)
        await page.get_by_role("radio", name=re.compile("^Afsluttet")).check()   # 2
        await page.get_by_role("textbox", name=re.compile("^Slutdato")).fill("")  # 3
        await page.get_by_role("button", name="Send ændringer").click()        # 4
        await page.get_by_role("heading", name="Tak — ændringerne er sendt").wait_for()
        (sub,) = await submissions(sandbox_app)
        assert (sub.kind, sub.channel, sub.token_matched) == ("update", "web", True)
        assert sub.proposed == {"status": "afsluttet", "end_date": None}
        assert sub.initiative_id == entry.id
    finally:
        await context.close()


async def test_a_wrong_municipality_is_shown_beside_the_field(browser: Any,
                                                             sandbox_app: LiveApp) -> None:
    context, page = await phone(browser)
    try:
        _, _, form = await reminder_from_sandbox(sandbox_app, page)
        await page.goto(form)
        municipalities = page.get_by_role("combobox", name=re.compile("^Kommuner"))
        title = page.get_by_role("textbox", name=re.compile("^Titel"))
        await municipalities.fill("Aarhus, Nordby")
        await title.fill("Et nyt navn")
        await page.get_by_role("button", name="Send ændringer").click()
        error = page.locator("#err-municipalities")
        await error.wait_for()
        assert "Mente du Nordfyns?" in await error.inner_text()
        assert await title.input_value() == "Et nyt navn"
        assert await municipalities.get_attribute("aria-invalid") == "true"
        await assert_accessible(page)
        await page.screenshot(path=str(SHOTS / "answer_form_error_da_390.png"),
                              full_page=True)
        assert await submissions(sandbox_app) == []
    finally:
        await context.close()


async def test_english_pages_and_the_mail_on_a_phone(browser: Any,
                                                    sandbox_app: LiveApp) -> None:
    context, page = await phone(browser, "en")
    try:
        _, confirm, form = await reminder_from_sandbox(sandbox_app, page, lang="en")
        await page.goto(confirm)
        await page.get_by_role("button", name="Yes, everything is correct").wait_for()
        await assert_accessible(page)
        await page.screenshot(path=str(SHOTS / "answer_confirm_en_390.png"), full_page=True)
        await page.goto(form)
        await page.get_by_role("button", name="Send changes").wait_for()
        await assert_accessible(page)
        await page.screenshot(path=str(SHOTS / "answer_form_en_390.png"), full_page=True)
        await mail_on_a_phone(sandbox_app, page, "en")
    finally:
        await context.close()


async def test_new_initiative_form_is_accessible(browser: Any, live_app: LiveApp) -> None:
    for viewport, lang in ((PHONE, "da"), (DESKTOP, "en")):
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        try:
            await page.goto(f"{live_app.url}/indmeld?lang={lang}")
            await assert_accessible(page)
            await page.screenshot(path=str(SHOTS / f"answer_new_{lang}_{viewport['width']}"
                                                   ".png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"]
        finally:
            await context.close()
