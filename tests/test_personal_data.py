"""Contacts' personal data: published only with consent (never when opted out or
bouncing), consent given by the contact's own button or recorded by a moderator, said
plainly in the reminder and the chat, and old unverified chat data deleted."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from bot.app import create_app
from bot.campaigns.reminders import render_reminder
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage, ReplyToken
from bot.mail.tokens import issue_token
from bot.registry.models import Contact, Initiative
from intake.chat.models import ChatConversation
from intake.retention import PRUNED_DETAIL, prune
from moderation.audit import record_event
from moderation.models import AuditEvent, Submission
from tests.conftest import MakeInitiative, MakeSubmission
from tests.moderation_support import add_user, csrf_of, login, use_fast_hashes

Client = TestClient[Any, Any]
EMAIL = "hanne.krogh@odense.dk"


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def site(db: Database, settings: Settings) -> AsyncIterator[Client]:
    await add_user(db, "anna")
    app = create_app(settings, db, start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def published_contact(client: Client, slug: str) -> dict[str, bool]:
    """Where the contact's e-mail shows: the page, the API, the CSV."""
    page = await (await client.get(f"/initiativ/{slug}")).text()
    api = await (await client.get("/api/initiatives")).json()
    body = (await (await client.get("/export.csv")).read()).decode("utf-8-sig")
    items = api["items"] if isinstance(api, dict) else api
    return {"page": EMAIL in page,
            "api": any(i.get("contact_email") == EMAIL for i in items),
            "csv": EMAIL in body}


async def set_contact(db: Database, ini: Initiative, **values: Any) -> None:
    async with db.write() as s:
        await s.execute(update(Contact).where(Contact.id == ini.contact_id).values(**values))


@pytest.mark.asyncio
async def test_contact_details_are_published_only_with_consent(
        site: Client, db: Database, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email=EMAIL, contact_name="Hanne Krogh")
    nowhere = {"page": False, "api": False, "csv": False}
    everywhere = {"page": True, "api": True, "csv": True}
    assert await published_contact(site, ini.slug) == nowhere  # never asked
    page = await (await site.get(f"/initiativ/{ini.slug}")).text()
    assert "Hanne Krogh" not in page and "ikke har givet lov til at blive vist" in page
    await set_contact(db, ini, publish_consent=True)
    assert await published_contact(site, ini.slug) == everywhere
    await set_contact(db, ini, email_status="bouncing")
    assert await published_contact(site, ini.slug) == nowhere
    await set_contact(db, ini, email_status="opted_out")
    assert await published_contact(site, ini.slug) == nowhere
    await set_contact(db, ini, email_status="ok", publish_consent=False)
    assert await published_contact(site, ini.slug) == nowhere


async def personal_token(db: Database, ini: Initiative, purpose: str = "reminder") -> str:
    async with db.write() as s:
        return await issue_token(s, purpose=purpose, initiative_id=ini.id,
                                 contact_id=ini.contact_id)


@pytest.mark.asyncio
async def test_the_contact_answers_with_two_taps_and_only_the_post_counts(
        site: Client, db: Database, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email=EMAIL)
    token = await personal_token(db, ini)
    page = await site.get(f"/samtykke/{token}")  # what a link scanner does
    assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert EMAIL in html and "API" in html and "CSV" in html  # says what is published
    assert ini.title in html  # and for which entries
    async with db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.publish_consent is None
    mac = re.search(r'name="mac" value="([0-9a-f]+)"', html)
    assert mac is not None
    forged = await site.post(f"/samtykke/{token}", data={"answer": "yes"})
    assert forged.status == 403
    done = await site.post(f"/samtykke/{token}", data={"answer": "yes", "mac": mac[1]},
                           allow_redirects=False)
    assert done.status == 303  # a reload of the answer does not post again
    thanks = await site.get(done.headers["Location"])
    assert "Tak for dit svar" in await thanks.text() and "vises nu" in await thanks.text()
    assert (await published_contact(site, ini.slug))["page"]
    # In English, the answer page stays English.
    again = await site.post(f"/samtykke/{token}?lang=en", data={"answer": "no", "mac": mac[1]})
    assert again.status == 200 and "are not shown on the map" in await again.text()
    async with db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.publish_consent is False
        assert c.publish_consent_source == "link" and c.publish_consent_at is not None
    assert not (await published_contact(site, ini.slug))["page"]
    for bad in ("x" * 32, await personal_token(db, ini, purpose="unsubscribe")):
        assert (await site.get(f"/samtykke/{bad}")).status == 404


@pytest.mark.asyncio
async def test_a_moderator_records_consent_given_another_way(
        site: Client, db: Database, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email=EMAIL)
    await login(site, "anna")
    html = await (await site.get(f"/moderation/contacts?q={EMAIL}")).text()
    assert "ikke spurgt" in html
    resp = await site.post("/moderation/contacts/consent",
                           data={"csrf_token": csrf_of(html), "contact_id": ini.contact_id,
                                 "given": "yes", "q": EMAIL})
    page = await resp.text()
    assert resp.status == 200 and "registreret" in page
    assert resp.url.query.get("q") == EMAIL  # back to the same search
    assert "samtykke givet" in page and "Registrér samtykke: " + EMAIL not in page
    async with db.read() as s:
        c = await s.get(Contact, ini.contact_id)
        assert c is not None and c.publish_consent is True
        assert c.publish_consent_source == "moderator"
        actions = (await s.scalars(select(AuditEvent.action))).all()
    assert "contact.consent" in actions
    assert (await published_contact(site, ini.slug))["page"]


@pytest.mark.parametrize("lang,words", [("da", "vises kun på det offentlige landkort"),
                                        ("en", "shown on the public map only if")])
def test_the_reminder_says_it_plainly(settings: Settings, lang: str, words: str) -> None:
    mail = render_reminder(settings, {"title": "KOL"}, step=1, lang=lang,
                           reply_token="T" * 32, unsubscribe_token="U" * 32)
    for part in (mail.text, mail.html or ""):
        assert words in " ".join(part.split())
        assert f"{settings.base_url}/samtykke/{'T' * 32}" in part


@pytest.mark.asyncio
async def test_old_unverified_chat_data_is_deleted_with_its_personal_data(
        db: Database, settings: Settings, make_submission: MakeSubmission) -> None:
    old = dbnow() - timedelta(days=settings.retention_days + 1)
    stale = await make_submission(kind="new", channel="chat", state="unverified",
                                  proposed={"title": "Gammel"}, sender_email=EMAIL)
    fresh = await make_submission(kind="new", channel="chat", state="unverified",
                                  proposed={"title": "Ny"}, sender_email="ny@example.dk")
    mailed = await make_submission(kind="new", channel="email", state="pending",
                                   proposed={"title": "Fra mail"}, sender_email=EMAIL)
    async with db.write() as s:
        for sub in (stale, mailed):
            await s.execute(update(Submission).where(Submission.id == sub.id)
                            .values(created_at=old))
        await record_event(s, actor="chat", action="submission.created",
                           submission_id=stale.id, detail={"sender_email": EMAIL})
        await issue_token(s, purpose="chat_verify", submission_id=stale.id)
        s.add(OutboxMessage(message_id="<landkort.x@example.org>", kind="chat_verify",
                            to_addr=EMAIL, from_addr="landkort@example.org", subject="s",
                            raw=b"x", state="sent", attempts=1, submission_id=stale.id))
        s.add(ChatConversation(id="old-conversation", state={}, transcript=[EMAIL],
                               language="da", ip_hash="h", updated_at=old, created_at=old))
        s.add(ChatConversation(id="new-conversation", state={}, transcript=[],
                               language="da", ip_hash="h"))
    done = await prune(db, settings)
    assert (done.submissions, done.conversations) == (1, 1)
    async with db.read() as s:
        left = {x.id for x in (await s.scalars(select(Submission))).all()}
        assert left == {fresh.id, mailed.id}  # a mail submission is not the chat's to drop
        events = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "submission.created", AuditEvent.actor == "chat"))).all()
        pruned = [e for e in events if e.detail == PRUNED_DETAIL]
        assert len(pruned) == 1 and pruned[0].submission_id is None
        assert await s.scalar(select(func.count()).select_from(ReplyToken).where(
            ReplyToken.purpose == "chat_verify")) == 0
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert [c.id for c in (await s.scalars(select(ChatConversation))).all()] == [
            "new-conversation"]
    # Nothing more to do the second time; 0 keeps everything.
    assert (await prune(db, settings)).submissions == 0
    assert (await prune(db, settings.replace(retention_days=0))).conversations == 0



@pytest.mark.asyncio
async def test_the_chat_shows_contact_details_only_to_the_contact(
        site: Client, db: Database, make_initiative: MakeInitiative) -> None:
    from tests.test_chat_web import open_chat

    ini = await make_initiative(contact_email=EMAIL, contact_phone="+4512345678")
    # Anyone's "correct this entry" from the public page: the public view only.
    ws, history = await open_chat(site, f"/chat?initiative={ini.slug}")
    await ws.close()
    assert EMAIL not in str(history) and "12345678" not in str(history)
    # The contact's own reminder link: their details, to check and correct.
    ws, history = await open_chat(site, f"/chat/u/{await personal_token(db, ini)}")
    await ws.close()
    assert EMAIL in str(history)
    # A receipt that went to someone else (no contact on its token): the public view.
    async with db.write() as s:
        other = await issue_token(s, purpose="receipt", initiative_id=ini.id)
    ws, history = await open_chat(site, f"/chat/u/{other}")
    await ws.close()
    assert EMAIL not in str(history)


@pytest.mark.asyncio
async def test_the_export_command_publishes_only_what_the_pages_show(
        db: Database, make_initiative: MakeInitiative) -> None:
    from bot.registry.export import published_records

    await make_initiative(contact_email=EMAIL)
    (public,) = await published_records(db)
    assert public["contact_email"] is None
    (backup,) = await published_records(db, with_contacts=True)  # --with-contacts
    assert backup["contact_email"] == EMAIL
