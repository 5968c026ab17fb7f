"""XSS end to end in headless Chromium: a mail whose title, description, organisation,
sender name and HTML body carry script goes through the real intake (store → processor)
into the queue, is approved, and then every page that shows it — moderation queue, item,
audit log, contacts, public catalogue, initiative page, statistics, map, the receipt in
the mail sandbox and the sender's personal chat link — shows it as text: no dialog fires,
no injected element or handler exists, and the mail's HTML is sanitised in the item view.

(tests/browser/test_moderation_browser.py and test_public_browser.py seed hostile text
directly into the database; this one takes the mail path.)
"""
from __future__ import annotations

import asyncio
import re
import time
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.mail_models import SandboxMail
from bot.models import Initiative
from intake.processor import process_pending
from intake.store import store_message
from moderation.decisions import approve
from moderation.models import Submission
from tests.browser.conftest import LiveApp
from tests.moderation_support import PASSWORD, add_user, use_fast_hashes

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
JS = "javascript:alert(3)"

HOSTILE_MAIL = (
    f"From: \"{SCRIPT} Eve\" <eve@example.dk>\r\nTo: landkort@example.org\r\n"
    f"Subject: Nyt initiativ {SCRIPT}\r\nMessage-ID: <xss-1@example.dk>\r\n"
    f"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"ALT\"\r\n\r\n"
    f"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    f"Titel: KOL {SCRIPT}\r\nBeskrivelse: Måling hjemme {IMG} se {JS}\r\n"
    f"Status: Projekt\r\nDeltagere: Kommune\r\nRegioner: Region Syddanmark\r\n"
    f"Kommuner: Odense\r\nOrganisation: {IMG}{SCRIPT}\r\nHjemmeside: {JS}\r\n"
    f"Patientgrupper: {SCRIPT}\r\n\r\n"
    f"--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    f"<html><body><p onclick=\"alert(4)\">Titel: KOL</p>{SCRIPT}"
    f"<img src=x onerror=alert(5)><a href=\"{JS}\">klik</a>"
    f"<iframe src=\"{JS}\"></iframe><svg onload=alert(6)></svg>"
    f"<a href=\"https://example.dk/ok\">ok</a></body></html>\r\n--ALT--\r\n").encode()

# Everything an injection would leave in the DOM.
PROBE = """() => {
  const attrs = ['href', 'src', 'action', 'formaction', 'xlink:href'];
  const all = [...document.querySelectorAll('*')];
  return {
    inlineAlert: [...document.scripts].filter(s => /alert/.test(s.textContent)).length,
    img: document.querySelectorAll('img[src="x"]').length,
    handlers: all.filter(e => [...e.attributes].some(a => /^on/i.test(a.name))).length,
    jsUrls: all.filter(e => attrs.some(n => /^\\s*javascript:/i.test(e.getAttribute(n) || '')))
               .length,
    frames: document.querySelectorAll('iframe').length,
    text: document.body ? document.body.innerText : '',
  };
}"""


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def assert_clean(page: Any, url: str) -> str:
    resp = await page.goto(url)
    assert resp is not None and resp.status < 500, (url, resp and resp.status)
    await page.wait_for_load_state("load")
    found = await page.evaluate(PROBE)
    text = found.pop("text")
    assert found == {"inlineAlert": 0, "img": 0, "handlers": 0, "jsUrls": 0, "frames": 0}, \
        (url, found)
    assert page.dialogs == [], (url, page.dialogs)
    return str(text)


async def wait_for_receipt(db: Database) -> SandboxMail:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with db.read() as s:
            row = await s.scalar(select(SandboxMail).where(
                SandboxMail.kind.in_(("receipt", "problems"))))
        if row is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError("the answer never reached the sandbox")


async def test_hostile_mail_stays_text_on_every_page(sandbox_app: LiveApp, page: Any) -> None:
    app = sandbox_app
    await store_message(app.db, HOSTILE_MAIL, source="lmtp")
    await process_pending(app.db, app.settings)
    async with app.db.read() as s:
        sub = await s.scalar(select(Submission))
    assert sub is not None and sub.kind == "new"
    assert SCRIPT in sub.proposed["title"]

    await add_user(app.db, "anna")
    await page.goto(f"{app.url}/login")
    await page.get_by_label("Brugernavn").fill("anna")
    await page.get_by_label("Adgangskode").fill(PASSWORD)
    await page.get_by_role("button", name="Log ind").click()
    await page.wait_for_url(f"{app.url}/moderation")

    text = await assert_clean(page, f"{app.url}/moderation")
    assert SCRIPT in text
    text = await assert_clean(page, f"{app.url}/moderation/item/{sub.id}")
    assert SCRIPT in text
    # the mail's HTML, sanitised with nh3: the harmless parts stay, the rest is gone
    html = await page.locator(".mail-html").inner_html()
    assert "klik" in html and 'href="https://example.dk/ok"' in html
    assert not re.search(r"<script|<iframe|<svg|\son\w+=|javascript:", html, re.I), html
    await page.locator("details", has=page.locator(".mail-html")).locator("summary").click()
    assert await page.locator(".mail-html a", has_text="klik").get_attribute("href") is None
    assert page.dialogs == []

    edits = {"website": None} if sub.proposed.get("website") else None
    await approve(app.db, sub.id, actor="anna", edits=edits)
    async with app.db.read() as s:
        entry = await s.scalar(select(Initiative))
    assert entry is not None and SCRIPT in entry.title

    receipt = await wait_for_receipt(app.db)
    body = message_from_bytes(receipt.raw, policy=default_policy).get_body(("plain",))
    chat = re.search(r"/chat/u/[A-Za-z0-9_-]{32}", body.get_content() if body else "")
    pages = ["/moderation/audit", "/moderation/contacts", "/", f"/?q={SCRIPT}",
             f"/initiativ/{entry.slug}", "/statistik", "/kort", "/sandbox",
             f"/sandbox/{receipt.id}"]
    assert chat is not None, "the answer carries the sender's personal chat link"
    pages.append(chat.group(0))  # the chat's summary of the entry
    for path in pages:
        await assert_clean(page, app.url + path)
    text = await assert_clean(page, f"{app.url}/initiativ/{entry.slug}")
    assert SCRIPT in text
