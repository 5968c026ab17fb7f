"""The chat in headless Chromium: a whole registration through the chat window (with a
misunderstood answer and a "go back"), verified by the link in the mail; and a reminder's
personal link used to change one field. Screenshots go to /tmp (desktop and phone).

The full app, Chromium and a page come from tests/browser/conftest.py."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.mail.models import OutboxMessage
from bot.mail.tokens import issue_token, lookup_token
from moderation.models import Lead, Submission
from tests.browser.conftest import LiveApp
from tests.conftest import sample_record

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

SHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}


class ChatPage:
    """The chat window as a person uses it."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def wait_for_question(self, text: str) -> None:
        await self.page.locator(".msg.bot.live", has_text=text).last.wait_for()

    async def _turn(self, action: Any) -> None:
        before = await self.page.locator(".msg.user").count()
        await action()
        await self.page.locator(".msg.user").nth(before).wait_for()
        await self.page.locator("#chat-typing").wait_for(state="detached")

    async def type(self, text: str, *, enter: bool = True) -> None:
        """Type an answer and send it with Enter (or the Send button: in the multi-line
        description, Enter starts a new line)."""
        async def act() -> None:
            await self.page.fill("#chat-input", text)
            if enter:
                await self.page.press("#chat-input", "Enter")
            else:
                await self.page.click("#chat-send")
        await self._turn(act)

    async def click(self, label: str, selector: str = "button") -> None:
        button = self.page.locator(f".msg.live {selector}", has_text=label).first
        await self._turn(button.click)

    async def answer_title_organisation_description(self) -> None:
        """The first three answers of a registration, up to the status question."""
        await self.wait_for_question("Hvad hedder initiativet?")
        await self.type("Video til KOL-patienter")
        await self.type("Aalborg Kommune")
        await self.type("Sygeplejersker ser borgerne over video.", enter=False)
        await self.wait_for_question("Hvad er initiativets status?")

    async def toggle(self, label: str) -> None:
        await self.page.locator(".msg.live button.toggle", has_text=label).click()

    async def bot_text(self) -> str:
        return str(await self.page.locator(".msg.bot").last.inner_text())


async def outbox_mails(db: Database) -> list[OutboxMessage]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_whole_registration_in_the_browser(page: Any, sandbox_app: LiveApp) -> None:
    chat_server, sqlite_db = sandbox_app.url, sandbox_app.db
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{chat_server}/chat")
    chat = ChatPage(page)
    await chat.answer_title_organisation_description()
    await chat.click("I drift", "button.choice")
    await chat.toggle("Kommune")
    await chat.toggle("Sygehus")
    await chat.click("Fortsæt", "button.continue")
    await chat.toggle("Region Nordjylland")
    await chat.click("Fortsæt", "button.continue")
    await chat.wait_for_question("Hvem er kontaktperson")
    # Go back: the regions question again, with the answer kept.
    await chat.click("Tilbage")
    await chat.wait_for_question("Nu: Region Nordjylland")
    pressed = page.locator(".msg.live button.toggle[aria-pressed=true]")
    assert await pressed.all_inner_texts() == ["Region Nordjylland"]
    await chat.click("Behold")
    await chat.type("Mette Jensen")
    await chat.type("mette.jensen@aalborg.dk")
    # A misunderstood answer: the hint and the suggestion as a button.
    await chat.type("Aalborg, Nordby")
    await chat.wait_for_question('Ukendt kommune "Nordby". Mente du Nordfyns?')
    await page.screenshot(path=str(SHOTS / "chat_problem.png"), full_page=False)
    await chat.click("Nordfyns", "button.suggestion")
    await chat.click("Spring resten over")
    await chat.wait_for_question("Her er din indmelding")
    summary = page.locator(".msg.live table.chat-summary")
    assert "Aalborg; Nordfyns" in await summary.inner_text()
    await page.screenshot(path=str(SHOTS / "chat_summary.png"), full_page=True)
    await chat.click("Send indmelding")
    # The last, optional question: an initiative that is not on the map becomes a lead.
    await chat.wait_for_question("ikke er på landkortet")
    assert "mette.jensen@aalborg.dk" in await page.locator(".msg.tone-done").first.inner_text()
    await chat.type("Sårapp i Vejle Kommune", enter=False)
    await chat.wait_for_question("Indmeld et nyt initiativ")
    async with sqlite_db.read() as s:
        [lead] = list(await s.scalars(select(Lead)))
    assert (lead.channel, lead.municipality) == ("chat", "Vejle")

    async with sqlite_db.read() as s:
        [sub] = list(await s.scalars(select(Submission)))
    assert (sub.state, sub.channel, sub.kind) == ("unverified", "chat", "new")
    assert sub.proposed["municipalities"] == ["Aalborg", "Nordfyns"]
    assert sub.proposed["regions"] == ["nordjylland"]

    # The verification mail is in the outbox; the sender delivers it to the sandbox.
    [mail] = await outbox_mails(sqlite_db)
    assert (mail.kind, mail.to_addr) == ("verification", "mette.jensen@aalborg.dk")
    for _ in range(60):
        await page.goto(f"{chat_server}/sandbox")
        found = page.locator("a", has_text="Bekræft din indmelding")
        if await found.count():
            break
        await page.wait_for_timeout(250)
    await found.first.click()
    text = await page.locator("main").inner_text()
    match = re.search(re.escape(chat_server) + r"/chat/verify/[A-Za-z0-9_-]+", text)
    assert match, "the mail in the sandbox carries the verification link"
    # It is the live verification token of this very submission (the outbox keeps the
    # sent mail without its tokens, so the link is checked against the token's row).
    async with sqlite_db.read() as s:
        token = await lookup_token(s, match[0].rsplit("/", 1)[1])
    assert token is not None and token.purpose == "chat_verify"
    assert token.submission_id == mail.submission_id
    await page.goto(match[0])
    await page.get_by_role("button", name="Bekræft").wait_for()
    await page.screenshot(path=str(SHOTS / "chat_verify.png"))
    await page.get_by_role("button", name="Bekræft").click()
    await page.get_by_role("heading", name="Tak – det er bekræftet").wait_for()
    async with sqlite_db.read() as s:
        [sub] = list(await s.scalars(select(Submission)))
    assert (sub.state, sub.channel) == ("pending", "chat")
    assert errors == [] and page.dialogs == []


async def test_reminder_link_changes_one_field(browser: Any, live_app: LiveApp) -> None:
    from bot.registry.repository import create_initiative

    chat_server, sqlite_db = live_app.url, live_app.db
    async with sqlite_db.write() as s:
        entry = await create_initiative(s, sample_record(), actor="test", channel="import")
        token = await issue_token(s, purpose="reminder", initiative_id=entry.id,
                                  contact_id=entry.contact_id)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2,
                                        is_mobile=True, has_touch=True, locale="da-DK")
    page = await context.new_page()
    try:
        await page.goto(f"{chat_server}/chat/u/{token}")
        chat = ChatPage(page)
        await chat.wait_for_question("Er de stadig korrekte?")
        await page.screenshot(path=str(SHOTS / "chat_phone_update.png"), full_page=False)
        await chat.click("Ret", "tr:has(th:text-is('Status')) button")
        await chat.wait_for_question("Nu: I drift")
        await chat.click("Under udbredelse", "button.choice")
        await chat.wait_for_question("Du har ændret 1 felt")
        await page.screenshot(path=str(SHOTS / "chat_phone_changed.png"))
        await chat.click("Send ændringer")
        await chat.wait_for_question("ikke er på landkortet")
        await chat.click("Nej tak")
        await chat.wait_for_question("Indmeld et nyt initiativ")
        async with sqlite_db.read() as s:
            [sub] = list(await s.scalars(select(Submission)))
        assert (sub.kind, sub.state, sub.channel, sub.token_matched) == (
            "update", "pending", "chat", True)
        assert sub.proposed == {"status": "under_udbredelse"}
        assert sub.initiative_id == entry.id and sub.base_version == entry.version
    finally:
        await context.close()


async def test_phone_screenshot_of_a_fresh_chat(browser: Any, live_app: LiveApp) -> None:
    chat_server = live_app.url
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2,
                                        is_mobile=True, has_touch=True, locale="da-DK")
    page = await context.new_page()
    try:
        await page.goto(f"{chat_server}/chat")
        chat = ChatPage(page)
        await chat.answer_title_organisation_description()
        await page.screenshot(path=str(SHOTS / "chat_phone_status.png"), full_page=False)
        # Nothing overflows sideways on a phone.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
    finally:
        await context.close()
