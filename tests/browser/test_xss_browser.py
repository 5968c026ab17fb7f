"""XSS end to end in headless Chromium: a mail whose title, description, organisation,
sender name and HTML body carry script goes through the real intake (store → processor)
into the queue, is approved, and then every page that shows it — moderation queue, item,
contacts, public catalogue (and its search), initiative page, the answer in the mail
sandbox and the sender's personal chat link — shows it as text: no dialog fires, no
injected element or handler exists, and the mail's HTML is sanitised in the item view.
Each page is checked to be the intended one (200 and its own heading) and to show the
hostile text. The audit log echoes a hostile filter value; the statistics and the map
show only counts (they are checked to count the entry).

(tests/browser/test_moderation_browser.py and test_public_browser.py seed hostile text
directly into the database; this one takes the mail path.)
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.demo.models import SandboxMail
from bot.registry.models import Initiative
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
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
    h1: document.querySelector('h1') ? document.querySelector('h1').innerText : '',
  };
}"""


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


async def assert_clean(page: Any, url: str, heading: str, *, ready: str | None = None
                       ) -> str:
    """Open ``url``; it must be the intended page (200, its ``h1`` contains ``heading``,
    and ``ready`` is shown once scripts have run) with nothing injected. Its text."""
    resp = await page.goto(url)
    assert resp is not None and resp.status == 200, (url, resp and resp.status)
    await page.wait_for_load_state("load")
    if ready is not None:
        await page.get_by_text(ready).first.wait_for()
    found = await page.evaluate(PROBE)
    text = found.pop("text")
    h1 = found.pop("h1")
    assert heading in h1, (url, heading, h1)
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


async def deliver_hostile_mail(app: LiveApp) -> Submission:
    """The hostile mail through the real intake: a new submission in the queue."""
    await store_message(app.db, HOSTILE_MAIL, source="lmtp")
    await process_pending(app.db, app.settings)
    async with app.db.read() as s:
        sub = await s.scalar(select(Submission))
    assert sub is not None and sub.kind == "new"
    assert SCRIPT in sub.proposed["title"]
    return sub


@dataclass
class Approved:
    entry: Initiative
    receipt: SandboxMail
    chat_link: str  # the sender's personal link from the answer, as a path


async def approve_hostile(app: LiveApp, sub: Submission) -> Approved:
    edits = {"website": None} if sub.proposed.get("website") else None
    await approve(app.db, sub.id, actor="anna", edits=edits)
    async with app.db.read() as s:
        entry = await s.scalar(select(Initiative))
    assert entry is not None and SCRIPT in entry.title
    receipt = await wait_for_receipt(app.db)
    body = message_from_bytes(receipt.raw, policy=default_policy).get_body(("plain",))
    chat = re.search(r"/chat/u/[A-Za-z0-9_-]{32}", body.get_content() if body else "")
    assert chat is not None, "the answer carries the sender's personal chat link"
    return Approved(entry, receipt, chat.group(0))


async def test_hostile_mail_stays_text_on_every_page(sandbox_app: LiveApp, page: Any) -> None:
    app = sandbox_app
    sub = await deliver_hostile_mail(app)

    await add_user(app.db, "anna")
    await page.goto(f"{app.url}/login")
    await page.get_by_label("Brugernavn").fill("anna")
    await page.get_by_label("Adgangskode").fill(PASSWORD)
    await page.get_by_role("button", name="Log ind").click()
    await page.wait_for_url(f"{app.url}/moderation")

    text = await assert_clean(page, f"{app.url}/moderation", "Moderationskø")
    assert f"KOL {SCRIPT}" in text
    text = await assert_clean(page, f"{app.url}/moderation/item/{sub.id}", f"Sag S-{sub.id}")
    assert f"KOL {SCRIPT}" in text and f"{SCRIPT} Eve" in text and IMG in text
    # the mail's HTML, sanitised with nh3: the harmless parts stay, the rest is gone
    html = await page.locator(".mail-html").inner_html()
    assert "klik" in html and 'href="https://example.dk/ok"' in html
    assert not re.search(r"<script|<iframe|<svg|\son\w+=|javascript:", html, re.I), html
    await page.locator("details", has=page.locator(".mail-html")).locator("summary").click()
    assert await page.locator(".mail-html a", has_text="klik").get_attribute("href") is None
    assert page.dialogs == []

    done = await approve_hostile(app, sub)
    entry, receipt = done.entry, done.receipt
    catalogue = "Telemedicinske initiativer i Danmark"
    # path, the page's heading, and hostile text it must show as text
    pages = [
        ("/moderation/contacts?q=eve", "Kontakter", f"{SCRIPT} Eve"),  # the sender's name
        ("/", catalogue, f"KOL {SCRIPT}"),
        (f"/?q={quote(SCRIPT)}", catalogue, f"“{SCRIPT}”"),  # the search, echoed
        (f"/initiativ/{entry.slug}", f"KOL {SCRIPT}", f"{IMG}{SCRIPT}"),  # organisation
        ("/sandbox", "Postkasse-sandkasse", f'"KOL {SCRIPT}"'),  # the answer's subject
        (f"/sandbox/{receipt.id}", f'"KOL {SCRIPT}"', IMG),  # the answer's form lines
    ]
    for path, heading, hostile in pages:
        text = await assert_clean(page, app.url + path, heading)
        assert hostile in text, (path, hostile)
    # The audit log shows no entry text; it echoes a filter value into an attribute.
    await assert_clean(page, f"{app.url}/moderation/audit?actor={quote(IMG)}", "Revisionslog")
    assert await page.locator("#a-actor").input_value() == IMG
    # Statistics and the map show only counts: the entry is counted there.
    text = await assert_clean(page, f"{app.url}/statistik", "Statistik")
    assert re.search(r"\b1\s+initiativer i alt", text), text[:500]
    await assert_clean(page, f"{app.url}/kort", "Kort over initiativer")
    odense = page.locator(".muni-table tr", has=page.locator("a", has_text="Odense"))
    assert (await odense.locator("td.num").text_content() or "").strip() == "1"


async def test_personal_chat_link_shows_the_entry_as_text(sandbox_app: LiveApp,
                                                         page: Any) -> None:
    app = sandbox_app
    done = await approve_hostile(app, await deliver_hostile_mail(app))
    text = await assert_clean(page, app.url + done.chat_link, "Opdatér et initiativ",
                              ready=f"KOL {SCRIPT}")  # the chat's summary of the entry
    assert f"{IMG}{SCRIPT}" in text and f"{SCRIPT} Eve" in text
