"""The moderator web UI over HTTP: login, sessions, the queue, items and decisions."""
from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from sqlalchemy import select, update

from bot.app import create_app
from bot.core.appkeys import SETTINGS
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from bot.registry.models import Initiative
from bot.registry.repository import apply_changes
from intake.inbox.models import InboundMessage
from moderation.models import AuditEvent, Submission
from moderation.web.queue_view import QueueFilters, fetch_queue
from moderation.web.security import SESSION_COOKIE, login_csrf_token
from tests.conftest import MakeInitiative, MakeSubmission, sample_record
from tests.moderation_support import (
    PASSWORD,
    add_user,
    csrf_of,
    login,
    take_item,
    use_fast_hashes,
)

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    await add_user(db, "anna")
    app = create_app(settings, db, components=("moderation.web.routes",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest_asyncio.fixture
async def anna(client: Client) -> str:
    """Log anna in; the CSRF token of her session."""
    return await login(client, "anna")


async def _outbox(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.read() as session:
        return list(await session.scalars(select(OutboxMessage)
                                          .where(OutboxMessage.kind == kind)))


def _body(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- login and sessions ------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_anonymous_users_are_sent_to_login(client: Client) -> None:
    resp = await client.get("/moderation/audit?actor=x", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=/moderation/audit?actor=x"
    resp = await client.post("/moderation/bulk-approve", data={"ids": "1"},
                             allow_redirects=False)
    assert resp.status == 401


@pytest.mark.asyncio
async def test_login_rotates_the_session_and_sets_safe_cookies(client: Client,
                                                               db: Database) -> None:
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: "attacker-chosen-value-123"})
    resp = await client.get("/login?next=/moderation/contacts")
    token = csrf_of(await resp.text())
    resp = await client.post("/login", data={"csrf_token": token, "username": "anna",
                                             "password": PASSWORD,
                                             "next": "/moderation/contacts"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/moderation/contacts"
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie.value != "attacker-chosen-value-123" and len(cookie.value) >= 43
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    from moderation.models import WebSession
    async with db.read() as session:
        stored = list(await session.scalars(select(WebSession.id_hash)))
    assert len(stored) == 1 and cookie.value not in stored[0]  # only a hash is stored


@pytest.mark.asyncio
async def test_open_redirect_after_login_is_refused(client: Client) -> None:
    resp = await client.get("/login")
    token = csrf_of(await resp.text())
    resp = await client.post("/login", data={"csrf_token": token, "username": "anna",
                                             "password": PASSWORD,
                                             "next": "//evil.example/moderation"},
                             allow_redirects=False)
    assert resp.headers["Location"] == "/moderation"


@pytest.mark.asyncio
async def test_login_form_needs_its_csrf_token(client: Client) -> None:
    await client.get("/login")
    resp = await client.post("/login", data={"username": "anna", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 403


@pytest.mark.asyncio
async def test_wrong_password_and_unknown_user_look_the_same(client: Client) -> None:
    texts = []
    for name in ("anna", "nobody"):
        resp = await client.get("/login")
        token = csrf_of(await resp.text())
        resp = await client.post("/login", data={"csrf_token": token, "username": name,
                                                 "password": "wrong password"})
        assert resp.status == 401
        texts.append((await resp.text()).replace(name, "NAME"))
    assert texts[0] == texts[1]
    assert "Forkert brugernavn eller adgangskode" in texts[0]


@pytest.mark.asyncio
async def test_login_is_throttled_after_repeated_failures(client: Client,
                                                          settings: Settings) -> None:
    async def attempt(password: str) -> int:
        resp = await client.get("/login")
        token = csrf_of(await resp.text())
        resp = await client.post("/login", data={"csrf_token": token, "username": "anna",
                                                 "password": password},
                                 allow_redirects=False)
        return resp.status

    for _ in range(settings.login_max_failures):
        assert await attempt("wrong password") == 401
    # Even the right password is refused while throttled.
    assert await attempt(PASSWORD) == 429


@pytest.mark.asyncio
async def test_https_base_url_makes_the_cookie_secure(db: Database, settings: Settings) -> None:
    await add_user(db, "anna")
    app = create_app(settings.replace(base_url="https://landkort.example"), db,
                     components=("moderation.web.routes",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        resp = await c.get("/login")
        assert resp.cookies["landkort_login"]["secure"]
        # The test client speaks plain HTTP, so it would not send the Secure cookie back.
        nonce = "n" * 32
        c.session.cookie_jar.update_cookies({"landkort_login": nonce})
        token = login_csrf_token(app[SETTINGS], nonce)
        resp = await c.post("/login", data={"csrf_token": token, "username": "anna",
                                            "password": PASSWORD}, allow_redirects=False)
        assert resp.cookies[SESSION_COOKIE]["secure"]


@pytest.mark.asyncio
async def test_logout_ends_the_session(client: Client, anna: str) -> None:
    assert (await client.get("/logout")).status == 405
    resp = await client.post("/logout", data={"csrf_token": anna}, allow_redirects=False)
    assert resp.status == 303
    resp = await client.get("/moderation", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")


@pytest.mark.asyncio
async def test_post_without_csrf_is_refused(client: Client, anna: str,
                                            make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed=sample_record())
    for data in ({}, {"csrf_token": "wrong"}):
        resp = await client.post(f"/moderation/item/{sub.id}/approve", data=data)
        assert resp.status == 403
    resp = await client.post(f"/moderation/item/{sub.id}/approve",
                             headers={"X-CSRF-Token": anna}, allow_redirects=False)
    assert resp.status == 303


# --- the queue ------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_queue_lists_open_items_oldest_first_with_filters(
        client: Client, anna: str, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    a = await make_submission(kind="new", proposed=sample_record(title="Første forslag",
                                                                 regions=["sjaelland"]))
    b = await make_submission(kind="confirmation", initiative=entry,
                              flags=["sender_differs"])
    c = await make_submission(kind="update", initiative=entry, proposed={"title": "Tredje"})
    await make_submission(kind="new", proposed={"title": "Afgjort"}, state="approved")
    html = await (await client.get("/moderation")).text()
    assert html.index(f"S-{a.id} ") < html.index(f"S-{b.id} ") < html.index(f"S-{c.id} ")
    assert "Afgjort" not in html and "3 åbne" in html
    html = await (await client.get("/moderation?region=sjaelland")).text()
    assert "Første forslag" in html and f"S-{b.id} " not in html  # b's entry: nordjylland
    html = await (await client.get("/moderation?region=sjaelland&kind=new")).text()
    assert f"S-{a.id} " in html and f"S-{b.id} " not in html
    html = await (await client.get("/moderation?flag=sender_differs")).text()
    assert f"S-{b.id} " in html and f"S-{a.id} " not in html
    html = await (await client.get("/moderation?mine=1")).text()
    assert "Ingen åbne sager" in html
    await client.get(f"/moderation/item/{c.id}")  # looking claims nothing
    assert f"S-{c.id} " not in await (await client.get("/moderation?mine=1")).text()
    await take_item(client, c.id)  # "Tag sagen" does
    html = await (await client.get("/moderation?mine=1")).text()
    assert f"S-{c.id} " in html and f"S-{a.id} " not in html
    html = await (await client.get("/moderation?lang=en")).text()
    assert "Moderation queue" in html and "3 open" in html


@pytest.mark.asyncio
async def test_keyset_pagination_walks_the_whole_queue(db: Database,
                                                       make_submission: MakeSubmission) -> None:
    ids = []
    for n in range(7):
        ids.append((await make_submission(kind="new", proposed={"title": f"T{n}"})).id)
    # Same timestamp for several rows: the id breaks the tie.
    async with db.write() as session:
        await session.execute(update(Submission).values(created_at=dbnow()))
    async with db.write() as session:
        await session.execute(update(Submission).where(Submission.id == ids[3])
                              .values(state="needs_info"))
    seen: list[int] = []
    cursor = None
    async with db.read() as session:
        while True:
            page = await fetch_queue(session, QueueFilters(), cursor=cursor, limit=3)
            seen.extend(r.id for r in page.rows)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    assert seen == sorted(ids)


# --- an item and decisions -----------------------------------------------------------------------

@pytest.mark.asyncio
async def test_item_shows_diff_trust_and_claim(client: Client, anna: str, db: Database,
                                               settings: Settings,
                                               make_initiative: MakeInitiative,
                                               make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(kind="update", initiative=entry,
                                proposed={"status": "afsluttet", "end_date": "2024-06-30"},
                                token_matched=True, sender_email="kontakt1@example.dk",
                                auth_results="mx.example.org; spf=pass; dkim=pass; dmarc=fail",
                                problems=[{"field": "municipalities",
                                           "message": "Ukendt kommune: Aalbrg"}])
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    assert "Ingen arbejder på sagen" in html and "Du har sagen" not in html
    html = await take_item(client, sub.id)
    changes = html[html.index('id="changes-h"'):html.index("<details>")]
    assert "Afsluttet" in changes and "I drift" in changes and "2024-06-30" in changes
    assert "Telemedicinsk hjemmemonitorering" not in changes  # unchanged: collapsed
    assert "Svar på vores mail" in html and "Afsender er opslagets kontakt" in html
    assert "DMARC=fail" in html and "Ukendt kommune: Aalbrg" in html
    assert "Du har sagen" in html
    # Another moderator sees who is working on it.
    await add_user(db, "bo")
    app = create_app(settings, db, components=("moderation.web.routes",), start_workers=False)
    async with TestClient(TestServer(app)) as other:
        await login(other, "bo")
        html = await (await other.get(f"/moderation/item/{sub.id}")).text()
        assert "<strong>anna</strong> arbejder på denne sag" in html


@pytest.mark.asyncio
async def test_approve_and_already_decided(client: Client, anna: str, db: Database,
                                           make_initiative: MakeInitiative,
                                           make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(kind="update", initiative=entry, proposed={"status": "afsluttet"})
    url = f"/moderation/item/{sub.id}/approve"
    resp = await client.post(url, data={"csrf_token": anna}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/moderation?done=approved"
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.status == "afsluttet" and fresh.version == 2
    resp = await client.post(url, data={"csrf_token": anna})
    assert resp.status == 409
    assert "En anden har allerede afgjort sagen" in await resp.text()


@pytest.mark.asyncio
async def test_edit_then_approve_parses_each_field(client: Client, anna: str, db: Database,
                                                   make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed=sample_record(title="Nyt initiativ"))
    url = f"/moderation/item/{sub.id}/approve"
    form = {"csrf_token": anna, "edit": "1", "title": "Nyt initiativ (rettet)",
            "regions": "Region Nordjylland, Midtjylland", "start_date": "den 32. marts",
            "contact_email": "ikke en adresse"}
    resp = await client.post(url, data=form)
    assert resp.status == 400
    html = await resp.text()
    assert 'id="err-start_date"' in html and 'id="err-contact_email"' in html
    assert 'value="Nyt initiativ (rettet)"' in html  # what was typed is kept
    form.update(start_date="marts 2020", contact_email="ny@example.dk")
    resp = await client.post(url, data=form, allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        made = await session.scalar(select(Initiative).where(
            Initiative.title == "Nyt initiativ (rettet)"))
        assert made is not None
        assert made.regions == ["midtjylland", "nordjylland"] and made.start_date == "2020-03"
        assert made.contact is not None and made.contact.email == "ny@example.dk"
    # The audit log says it in words: what was edited (field labels) and the version.
    audit = await (await client.get("/moderation/audit?action=submission.approved")).text()
    row = audit[audit.index("<tbody>"):]
    assert "Rettet før godkendelse: " in row and "Titel" in row and "Startdato" in row
    assert "Version 1" in row and "Type: Nyt" in row
    assert "edited:" not in row and "forced:" not in row and "version:" not in row


@pytest.mark.asyncio
async def test_approving_with_edits_does_not_load_the_item_page(
        client: Client, anna: str, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission, monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval needs the current record only: not the page's version history,
    fresh duplicate scan or re-parse of the raw mail."""
    from moderation.web import routes

    async def page_loader(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("approve ran the item page's loader")

    monkeypatch.setattr(routes, "load_item", page_loader)
    entry = await make_initiative()
    sub = await make_submission(kind="update", initiative=entry,
                                proposed={"website": "https://ny.example.dk"})
    resp = await client.post(f"/moderation/item/{sub.id}/approve", allow_redirects=False,
                             data={"csrf_token": anna, "edit": "1", "status": "afsluttet"})
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.status == "afsluttet"
        assert fresh.website == "https://ny.example.dk"


@pytest.mark.asyncio
async def test_conflict_is_shown_and_force_approves(client: Client, anna: str, db: Database,
                                                    make_initiative: MakeInitiative,
                                                    make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(kind="update", initiative=entry,
                                proposed={"website": "https://ny.example.dk"})
    async with db.write() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None
        await apply_changes(session, fresh, {"status": "projekt"}, actor="bo", channel="web")
    url = f"/moderation/item/{sub.id}/approve"
    resp = await client.post(url, data={"csrf_token": anna})
    assert resp.status == 409
    html = await resp.text()
    assert "Opslaget er ændret i mellemtiden" in html and 'name="force" value="1"' in html
    assert "mod version 1; opslaget er nu i version 2" in html
    assert "Projekt" in html  # the current value is shown
    resp = await client.post(url, data={"csrf_token": anna, "force": "1"},
                             allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None
        assert fresh.status == "projekt" and fresh.website == "https://ny.example.dk"


@pytest.mark.asyncio
async def test_reject_mails_the_reason_in_the_senders_language(
        client: Client, anna: str, db: Database, make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed={"title": "Spam"}, language="en",
                                sender_email="someone@example.com")
    resp = await client.post(f"/moderation/item/{sub.id}/reject",
                             data={"csrf_token": anna, "preset": "not_danish",
                                   "reason": "Kontakt os gerne igen."},
                             allow_redirects=False)
    assert resp.status == 303
    mails = await _outbox(db, "rejection")
    assert len(mails) == 1 and mails[0].to_addr == "someone@example.com"
    body = _body(mails[0].raw)
    assert "does not take place in Denmark" in body and "Kontakt os gerne igen." in body
    resp = await client.post(f"/moderation/item/{sub.id}/reject",
                             data={"csrf_token": anna, "reason": "igen"})
    assert resp.status == 409


@pytest.mark.asyncio
async def test_reject_needs_a_reason(client: Client, anna: str,
                                     make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed={"title": "X"})
    resp = await client.post(f"/moderation/item/{sub.id}/reject", data={"csrf_token": anna})
    assert resp.status == 400


@pytest.mark.asyncio
async def test_ask_for_information(client: Client, anna: str, db: Database,
                                   make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed={"title": "Halvt forslag"})
    resp = await client.post(f"/moderation/item/{sub.id}/ask",
                             data={"csrf_token": anna, "message": "Hvilke kommuner deltager?"},
                             allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(Submission, sub.id)
        assert fresh is not None and fresh.state == "needs_info"
    assert len(await _outbox(db, "needs_info")) == 1


@pytest.mark.asyncio
async def test_duplicate_merges_chosen_fields(client: Client, anna: str, db: Database,
                                              make_initiative: MakeInitiative,
                                              make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(kind="new", proposed=sample_record(
        title="Hjemmemonitorering af KOL", website="https://ny.example.dk",
        status="afsluttet"), flags=["likely_duplicate"])
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    dup = html[html.index('id="dup-h"'):]
    assert f"Opslag {entry.id}: Telemedicinsk hjemmemonitorering af KOL" in dup
    resp = await client.post(f"/moderation/item/{sub.id}/duplicate",
                             data={"csrf_token": anna, "target": str(entry.id),
                                   "take": ["website"]}, allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None
        assert fresh.website == "https://ny.example.dk" and fresh.status == "i_drift"


@pytest.mark.asyncio
async def test_merge_two_entries(client: Client, anna: str, db: Database,
                                 make_initiative: MakeInitiative) -> None:
    keep = await make_initiative()
    away = await make_initiative(title="KOL hjemmemonitorering", website="https://b.example.dk")
    html = await (await client.get(f"/moderation/merge?source={away.id}&target={keep.id}")).text()
    assert 'name="take" value="website"' in html
    resp = await client.post("/moderation/merge", data={
        "csrf_token": anna, "source": str(away.id), "target": str(keep.id),
        "take": ["website"]}, allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        a = await session.get(Initiative, away.id)
        k = await session.get(Initiative, keep.id)
        assert a is not None and k is not None
        assert a.merged_into_id == keep.id and k.website == "https://b.example.dk"
    resp = await client.post("/moderation/merge", data={
        "csrf_token": anna, "source": str(away.id), "target": str(keep.id)})
    assert resp.status == 400


@pytest.mark.asyncio
async def test_bulk_approve_confirmations(client: Client, anna: str, db: Database,
                                          make_initiative: MakeInitiative,
                                          make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    other = await make_initiative(title="Anden")
    c1 = await make_submission(kind="confirmation", initiative=entry)
    c2 = await make_submission(kind="confirmation", initiative=other)
    upd = await make_submission(kind="update", initiative=entry, proposed={"status": "projekt"})
    html = await (await client.get("/moderation")).text()
    assert f'name="ids" value="{c1.id}"' in html and f'name="ids" value="{upd.id}"' not in html
    resp = await client.post("/moderation/bulk-approve", data={
        "csrf_token": anna, "ids": [str(c1.id), str(c2.id), str(upd.id)]})
    html = await resp.text()
    assert "2 godkendt" in html and f"item {upd.id} is not a confirmation" in html
    async with db.read() as session:
        states = dict((await session.execute(select(Submission.id, Submission.state))).all())
    assert states[c1.id] == states[c2.id] == "approved" and states[upd.id] == "pending"


# --- hostile input ----------------------------------------------------------------------

HOSTILE_HTML = b"""\
From: Eve <eve@example.com>
To: landkort@example.org
Subject: =?utf-8?q?Nyt_initiativ?=
Message-ID: <evil@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/html; charset=utf-8

<p onclick="alert(1)">Titel: <b>Evil</b><script>alert('x')</script></p>
<img src="https://tracker.example.com/pixel.gif"><a href="javascript:alert(2)">klik</a>
<a href="https://ok.example.dk/side">ok link</a><style>body{display:none}</style>
--b
Content-Type: application/pdf; name="plan.pdf"
Content-Disposition: attachment; filename="plan.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b--
"""


@pytest.mark.asyncio
async def test_hostile_text_and_html_are_neutralised(client: Client, anna: str, db: Database,
                                                     make_submission: MakeSubmission) -> None:
    async with db.write() as session:
        inbound = InboundMessage(source="cli", content_hash="h" * 64, raw=HOSTILE_HTML,
                                 size=len(HOSTILE_HTML), from_addr="eve@example.com",
                                 subject="Nyt initiativ", state="done")
        session.add(inbound)
        await session.flush()
        inbound_id = inbound.id
    sub = await make_submission(kind="new", proposed={"title": "<script>alert(1)</script>"},
                                note="<img src=x onerror=alert(1)>", inbound_message_id=inbound_id)
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    mail_html = html[html.index('class="mail-html"'):]
    mail_html = mail_html[:mail_html.index("</details>")]
    assert "<b>Evil</b>" in mail_html and "ok.example.dk" in mail_html
    for bad in ("<script", "onclick", "javascript:", "<img", "tracker.example.com", "<style"):
        assert bad not in mail_html
    assert "plan.pdf" in html and "JVBERi0" not in html
    html = await (await client.get("/moderation")).text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


# --- audit, contacts, quarantine, users ---------------------------------------------------

@pytest.mark.asyncio
async def test_audit_log_filters(client: Client, anna: str, db: Database,
                                 make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed={"title": "Godkendes"})
    await client.post(f"/moderation/item/{sub.id}/approve", data={"csrf_token": anna})
    async def rows(query: str) -> str:
        html = await (await client.get(f"/moderation/audit?{query}")).text()
        return html[html.index("<tbody>"):]

    # Events read as sentences ("anna godkendte sag S-1"), filtered by their codes.
    approved, created = f"anna godkendte sag S-{sub.id}", f"oprettede sag S-{sub.id}"
    html = await rows("actor=anna")
    assert approved in html and created not in html
    assert created in await rows("action=submission.created")
    # Days are Danish days, as the page shows times.
    today = datetime.now(ZoneInfo("Europe/Copenhagen")).strftime("%Y-%m-%d")
    assert approved in await rows(f"from={today}&to={today}")
    assert approved not in await rows("to=2000-01-01")
    # By entry: the entry's own events and those of the cases about it.
    async with db.read() as session:
        entry_id = (await session.get(Submission, sub.id)).result_initiative_id  # type: ignore[union-attr]
    assert entry_id is not None
    assert approved in await rows(f"entry={entry_id}")
    assert approved not in await rows(f"entry={entry_id + 1000}")
    en = await (await client.get("/moderation/audit?actor=anna&lang=en")).text()
    assert f"anna approved case S-{sub.id}" in en


@pytest.mark.asyncio
async def test_audit_log_as_csv(client: Client, anna: str, db: Database,
                                make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed={"title": "Til eksport"})
    await client.post(f"/moderation/item/{sub.id}/approve", data={"csrf_token": anna})
    resp = await client.get("/moderation/audit.csv?actor=anna")
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = (await resp.read()).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "Hvornår,Hvem,Handling,Sag,Opslag (nummer),Hændelse"
    assert len(lines) == 2  # anna's one event; the filter applies to the export too
    assert f"anna godkendte sag S-{sub.id}." in lines[1]
    assert "submission.approved" in lines[1]
    assert " CET," in lines[1] or " CEST," in lines[1]  # Danish time, the zone named


@pytest.mark.asyncio
async def test_contacts_page_and_new_contact(client: Client, anna: str, db: Database,
                                             make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    async with db.write() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.contact is not None
        fresh.needs_new_contact = True
        fresh.contact.email_status = "bouncing"
    html = await (await client.get("/moderation/contacts")).text()
    assert entry.title in html and "mette.jensen" not in html
    assert "kontakt1@example.dk" in html
    resp = await client.post("/moderation/contacts/set", data={
        "csrf_token": anna, "initiative_id": str(entry.id), "version": "1",
        "contact_name": "Ny Person", "contact_email": "Ny.Person@example.dk"},
        allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        assert fresh is not None and fresh.contact is not None
        assert fresh.contact.email == "ny.person@example.dk" and not fresh.needs_new_contact
        assert fresh.version == 2
        assert await session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "initiative.contact_changed")) is not None
    html = await (await client.get("/moderation/contacts?q=ny.person")).text()
    assert "Ny Person" in html


@pytest.mark.asyncio
async def test_quarantined_mail_is_listed_and_shown(client: Client, anna: str,
                                                    db: Database) -> None:
    raw = b"From: x@example.com\r\nSubject: <b>Broken</b>\r\n\r\nbody \xff\xfe text"
    async with db.write() as session:
        msg = InboundMessage(source="imap", content_hash="q" * 64, raw=raw, size=len(raw),
                             from_addr="x@example.com", subject="<b>Broken</b>",
                             state="quarantined", last_error="ValueError: bad mail")
        session.add(msg)
        await session.flush()
        mid = msg.id
    html = await (await client.get("/moderation/inbound")).text()
    assert "&lt;b&gt;Broken&lt;/b&gt;" in html and "ValueError: bad mail" in html
    html = await (await client.get(f"/moderation/inbound/{mid}")).text()
    assert "body" in html and "<b>Broken</b>" not in html
    resp = await client.post(f"/moderation/inbound/{mid}/replay", data={"csrf_token": anna},
                             allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        fresh = await session.get(InboundMessage, mid)
        assert fresh is not None and fresh.state == "stored"
        assert await session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "inbound.replayed")) is not None


@pytest.mark.asyncio
async def test_users_page_is_for_admins(client: Client, anna: str, db: Database,
                                        settings: Settings) -> None:
    assert (await client.get("/moderation/users")).status == 403
    await add_user(db, "root", role="admin")
    app = create_app(settings, db, components=("moderation.web.routes",), start_workers=False)
    async with TestClient(TestServer(app)) as admin:
        token = await login(admin, "root")
        resp = await admin.post("/moderation/users", data={
            "csrf_token": token, "action": "add", "username": "carl",
            "password": "a long password!", "role": "moderator"}, allow_redirects=False)
        assert resp.status == 303
        resp = await admin.post("/moderation/users", data={
            "csrf_token": token, "action": "disable", "username": "anna"},
            allow_redirects=False)
        assert resp.status == 303
    # anna's session ended with her account.
    resp = await client.get("/moderation", allow_redirects=False)
    assert resp.status == 303


def test_pages_have_no_inline_script() -> None:
    from pathlib import Path

    folder = Path(__file__).parent.parent / "templates" / "pages" / "moderation"
    paths = sorted(folder.glob("*.html"))
    assert {"queue.html", "item.html", "login.html"} <= {p.name for p in paths}, folder
    for path in paths:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name
        assert " on" + "click=" not in text, path.name


def _mail_with_files() -> bytes:
    """A reply with a PDF the sender attached and a logo shown inline in the signature."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Mette Jensen <mette.jensen@example.dk>"
    msg["To"] = "landkort@example.org"
    msg["Subject"] = "SV: Påmindelse"
    msg["Message-ID"] = "<files.1@example.dk>"
    msg.set_content("Evalueringen er vedhæftet.\n")
    msg.add_alternative('<p>Evalueringen er vedhæftet.</p><img src="cid:logo1">', subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\nlogo", maintype="image", subtype="png",
                          cid="<logo1>")
    msg.add_attachment(b"%PDF-1.4 <script>alert(1)</script>", maintype="application",
                       subtype="pdf", filename='evaluering "2025";.pdf')
    return msg.as_bytes()


@pytest.mark.asyncio
async def test_an_attachment_is_a_download_for_moderators_only(
        client: Client, db: Database, settings: Settings, make_submission: MakeSubmission
) -> None:
    from intake.inbox.store import store_message

    stored = await store_message(db, _mail_with_files(), source="cli")
    sub = await make_submission(kind="new", proposed={"title": "Med bilag"},
                                inbound_message_id=stored.id)
    url = f"/moderation/item/{sub.id}/attachment/0"
    resp = await client.get(url, allow_redirects=False)
    assert resp.status in (302, 303) and "/login" in resp.headers["Location"]
    await login(client, "anna")
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    assert f'href="{url}"' in html and "evaluering" in html
    assert "/attachment/1" not in html  # the inline logo is not a file the sender attached
    resp = await client.get(url)
    assert resp.status == 200
    assert await resp.read() == b"%PDF-1.4 <script>alert(1)</script>"
    assert resp.headers["Content-Type"] == "application/octet-stream"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="evaluering _2025__.pdf"')
    assert "filename*=UTF-8''evaluering%20%222025%22%3B.pdf" in disposition
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert (await client.get(f"/moderation/item/{sub.id}/attachment/1")).status == 404


@pytest.mark.asyncio
async def test_an_entrys_history_reads_as_sentences_with_old_and_new_values(
        client: Client, anna: str, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative(status="afsluttet", end_date="2025-06-30")
    change = await make_submission(initiative=entry, kind="update",
                                   sender_name="Maja Sørensen",
                                   proposed={"status": "i_drift", "end_date": None})
    resp = await client.post(f"/moderation/item/{change.id}/approve",
                             data={"csrf_token": anna}, allow_redirects=False)
    assert resp.status == 303
    later = await make_submission(initiative=entry, kind="confirmation", proposed={})
    html = await (await client.get(f"/moderation/item/{later.id}")).text()
    history = html[html.index('id="hist-h"'):]
    assert "Maja Sørensen foreslog ændringen (E-mail); godkendt af anna" in history
    assert "Status: Afsluttet → I drift" in history
    assert "Slutdato: " in history and "→ —" in history
    assert "test oprettede opslaget (Import)" in history
    # Newest first.
    assert history.index("Version 2") < history.index("Version 1")
    html = await (await client.get(f"/moderation/item/{later.id}?lang=en")).text()
    history = html[html.index('id="hist-h"'):]
    assert "Maja Sørensen proposed the change (E-mail); approved by anna" in history
    assert "Status: Ended → In operation" in history


@pytest.mark.asyncio
async def test_the_edit_form_posts_menus_and_check_boxes_through_the_field_parser(
        client: Client, anna: str, db: Database, make_submission: MakeSubmission) -> None:
    sub = await make_submission(kind="new", proposed=sample_record(
        title="Med valg", municipalities=["Aalborg"], participants=["kommune"]))
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    # Closed lists are menus and check boxes, the current values chosen.
    assert '<select id="e-status" name="status"' in html
    assert '<option value="i_drift" selected>I drift</option>' in html
    assert 'name="participants" value="kommune" checked' in html
    assert 'name="municipalities" value="Aalborg" checked' in html
    assert 'name="municipalities" value="Thisted">' in html
    url = f"/moderation/item/{sub.id}/approve"
    form = MultiDict([("csrf_token", anna), ("edit", "1"), ("status", "projekt"),
                      ("participants", ""), ("participants", "almen_praksis"),
                      ("participants", "sygehus"), ("regions", ""),
                      ("regions", "nordjylland"), ("municipalities", ""),
                      ("municipalities", "Thisted"), ("municipalities", "Morsø"),
                      ("technology", ""), ("technology", "App"), ("technology", "Tablet"),
                      ("technology_other", "video, hjemmerobot"),
                      ("start_date", "den 32. marts"), ("contact_email", "ikke en adresse")])
    resp = await client.post(url, data=form)
    assert resp.status == 400
    html = await resp.text()
    # Every error named once at the top, linked to its field; the first one focused.
    summary = html[html.index('class="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert '<a href="#e-start_date">Startdato:' in summary
    assert '<a href="#e-contact_email">' in summary
    assert re.search(r'id="e-start_date"[^>]*autofocus', html)
    assert len(re.findall(r"\bautofocus\b", html)) == 1
    # What was chosen stays chosen.
    assert 'name="municipalities" value="Thisted" checked' in html
    assert 'name="municipalities" value="Aalborg" checked' not in html
    assert 'name="participants" value="sygehus" checked' in html
    assert 'name="technology" value="App" checked' in html
    assert 'name="technology_other" value="video, hjemmerobot"' in html
    form["start_date"], form["contact_email"] = "marts 2020", "ny@example.dk"
    resp = await client.post(url, data=form, allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        made = await session.scalar(select(Initiative).where(Initiative.title == "Med valg"))
        assert made is not None
        assert made.status == "projekt"
        assert made.participants == ["almen_praksis", "sygehus"]
        assert made.regions == ["nordjylland"]
        assert made.municipalities == ["Morsø", "Thisted"]
        # Ticked terms, and typed words through the vocabulary: "video" is a term's word,
        # "hjemmerobot" waits as a new word.
        assert made.technology == ["App", "Tablet", "Videokonsultation", "hjemmerobot"]


def test_a_suggestion_is_offered_once() -> None:
    from bot.registry.fields import Problem
    from moderation.web.item_view import _problem_text

    assert _problem_text(Problem("municipalities", "Mente du Thisted?", "Tisted",
                                 "Thisted")) == "Mente du Thisted?"
    assert _problem_text(Problem("municipalities", "Ukendt kommune: Tisted.", "Tisted",
                                 "Thisted")) == "Ukendt kommune: Tisted. (Thisted?)"
