"""The chat's web edge over a real app and database (SQLite and PostgreSQL): WebSocket
(resume, limits, Origin), the form fallback (no JavaScript, CSRF), personal links from
reminders, and e-mail verification of chat submissions."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.app import create_app
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage, ReplyToken
from bot.mail.tokens import hash_token, issue_token
from bot.registry.models import Initiative
from intake.chat.models import ChatConversation
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.decisions import approve
from moderation.models import Lead, Submission
from tests.conftest import MakeInitiative
from tests.test_bad_input import good_mail

pytestmark = pytest.mark.asyncio

ANSWERS = ["Video til KOL-patienter", "Aalborg Kommune",
           "Sygeplejersker ser borgerne over video.", "I drift", "Kommune, Sygehus",
           "Region Nordjylland", "Mette Jensen", "mette.jensen@aalborg.dk"]


def make_app(settings: Settings, db: Database) -> TestClient:
    app = create_app(settings, db, components=("intake.chat.web",), start_workers=False)
    return TestClient(TestServer(app))


@pytest_asyncio.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[TestClient]:
    async with make_app(settings, db) as c:
        yield c


def origin(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


async def open_chat(client: TestClient, path: str = "/chat") -> Any:
    """Load the chat page (which sets the conversation cookie) and open the WebSocket;
    returns (ws, the history message)."""
    resp = await client.get(path)
    assert resp.status == 200
    ws = await client.ws_connect("/chat/ws", headers={"Origin": origin(client)})
    history = await ws.receive_json()
    assert history["type"] == "history"
    return ws, history


async def say(ws: Any, text: str) -> dict[str, Any]:
    await ws.send_json({"type": "say", "text": text})
    return await ws.receive_json()


def last_reply(message: dict[str, Any]) -> dict[str, Any]:
    return message["replies"][-1]


def mail_of(row: OutboxMessage) -> EmailMessage:
    msg = message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def verify_link(row: OutboxMessage) -> str:
    body = mail_of(row).get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"http://127\.0\.0\.1:8080(/chat/verify/[A-Za-z0-9_-]+)",
                      body.get_content())
    assert match, "the verification mail carries the link"
    return match[1]


async def submissions(db: Database) -> list[Submission]:
    async with db.read() as s:
        return list(await s.scalars(select(Submission).order_by(Submission.id)))


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ---------------------------------------------------------------------------------------

async def test_registration_over_websocket_resumes_and_is_verified_by_post(
        client: TestClient, db: Database) -> None:
    ws, history = await open_chat(client)
    assert history["lang"] == "da"
    assert history["messages"][-1]["reply"]["field"] == "title"
    for answer in ANSWERS[:3]:
        got = await say(ws, answer)
        assert got["type"] == "bot"
    await ws.close()

    # A reload/reconnect resumes: the transcript and the open question come back.
    ws, history = await open_chat(client)
    texts = [m.get("text") for m in history["messages"] if m["from"] == "user"]
    assert texts == ANSWERS[:3]
    current = history["messages"][-1]["reply"]
    assert current["field"] == "status"
    assert [b["label"] for b in current["buttons"] if b["kind"] == "option"] == [
        "Projekt", "Under udbredelse", "I drift", "Afsluttet"]
    for answer in ANSWERS[3:]:
        await say(ws, answer)
    got = await say(ws, "Spring resten over")
    assert last_reply(got)["tone"] == "summary"
    got = await say(ws, "Send indmelding")
    assert "mette.jensen@aalborg.dk" in got["replies"][0]["text"]
    # The last, optional question: initiatives not on the map become leads.
    assert last_reply(got)["text"].startswith("En sidste ting")
    got = await say(ws, "Sårapp i Vejle Kommune")
    assert "1 tip" in got["replies"][0]["text"]
    await ws.close()
    async with db.read() as session:
        (lead,) = list(await session.scalars(select(Lead)))
    assert (lead.channel, lead.text, lead.mentioned_by) == (
        "chat", "Sårapp i Vejle Kommune", "mette.jensen@aalborg.dk")
    assert lead.municipality == "Vejle"

    [sub] = await submissions(db)
    assert (sub.kind, sub.channel, sub.state) == ("new", "chat", "unverified")
    assert sub.token_matched is False
    assert sub.proposed["status"] == "i_drift"
    assert sub.sender_email == "mette.jensen@aalborg.dk"
    [mail] = await outbox(db)
    assert mail.kind == "verification" and mail.to_addr == "mette.jensen@aalborg.dk"
    assert mail.submission_id == sub.id
    assert "Bekræft din indmelding" in mail.subject
    link = verify_link(mail)

    # GET shows a button and changes nothing (link scanners follow GETs).
    resp = await client.get(link)
    page = await resp.text()
    assert resp.status == 200 and 'method="post"' in page and "Video til KOL-patienter" in page
    assert (await submissions(db))[0].state == "unverified"
    resp = await client.post(link)
    assert resp.status == 200 and "bekræftet" in await resp.text()
    [sub] = await submissions(db)
    assert sub.state == "pending" and sub.channel == "chat"
    # Twice is harmless.
    resp = await client.post(link)
    assert resp.status == 200 and "Allerede bekræftet" in await resp.text()


async def test_expired_verification_link_is_refused(client: TestClient, db: Database) -> None:
    ws, _ = await open_chat(client)
    for answer in ANSWERS:
        await say(ws, answer)
    await say(ws, "spring resten over")
    await say(ws, "send")
    await ws.close()
    [mail] = await outbox(db)
    link = verify_link(mail)
    async with db.write() as s:
        await s.execute(update(ReplyToken).where(ReplyToken.purpose == "chat_verify")
                        .values(expires_at=dbnow() - timedelta(minutes=1)))
    resp = await client.get(link)
    assert resp.status == 410 and "udløbet" in await resp.text()
    resp = await client.post(link)
    assert resp.status == 410
    assert (await submissions(db))[0].state == "unverified"
    resp = await client.post("/chat/verify/" + "x" * 32)
    assert resp.status == 404


async def test_websocket_refuses_other_origins(client: TestClient) -> None:
    await client.get("/chat")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {}):
        with pytest.raises(WSServerHandshakeError) as caught:
            await client.ws_connect("/chat/ws", headers=headers)
        assert caught.value.status == 403


async def test_message_too_long_and_rate_limit(settings: Settings, db: Database) -> None:
    settings = settings.replace(chat_max_message_chars=60, chat_messages_per_minute=4)
    async with make_app(settings, db) as client:
        ws, _ = await open_chat(client)
        got = await say(ws, "x" * 61)
        assert got == {"type": "error", "code": "too_long", "lang": "da"}
        got = await say(ws, "   ")
        assert got["code"] == "empty"
        got = await say(ws, "x" * 60)
        assert got["type"] == "bot" and last_reply(got)["field"] == "organisation"
        for _ in range(3):
            assert (await say(ws, "tilbage"))["type"] == "bot"
        got = await say(ws, "Aalborg")
        assert got["type"] == "error" and got["code"] == "rate_limited"
        await ws.close()
        async with db.read() as s:
            [conv] = list(await s.scalars(select(ChatConversation)))
        assert conv.messages == 4
        await ws.close()


async def test_new_conversations_per_ip_are_limited(
        settings: Settings, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    settings = settings.replace(chat_sessions_per_ip_per_hour=2)
    async with make_app(settings, db) as client:
        for n in range(3):
            client.session.cookie_jar.clear()
            ws, _ = await open_chat(client)
            got = await say(ws, "Et initiativ")
            if n < 2:
                assert got["type"] == "bot"
            else:
                assert got == {"type": "error", "code": "session_limit", "lang": "da"}
            await ws.close()
        # Opening a personal link starts a conversation too, so it counts as well.
        client.session.cookie_jar.clear()
        resp = await client.get(f"/chat/u/{token}")
        assert resp.status == 429 and "For mange samtaler" in await resp.text()


async def test_our_errors_are_reported_and_the_socket_survives(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake.chat.store import ChatStore

    ws, _ = await open_chat(client)
    original = ChatStore._say

    async def broken(self: ChatStore, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(ChatStore, "_say", broken)
    assert await say(ws, "KOL") == {"type": "error", "code": "server"}
    csrf = csrf_of(await (await client.get("/chat/form")).text())
    page = await form_say(client, csrf, text="KOL")
    assert "Noget gik galt hos os" in page
    monkeypatch.setattr(ChatStore, "_say", original)
    got = await say(ws, "KOL")
    assert got["type"] == "bot" and last_reply(got)["field"] == "organisation"
    await ws.close()


async def test_websocket_without_cookie_is_told_to_reload(client: TestClient) -> None:
    ws = await client.ws_connect("/chat/ws", headers={"Origin": origin(client)})
    assert await ws.receive_json() == {"type": "error", "code": "no_session"}
    await ws.close()


# ---------------------------------------------------------------------------------------
# The form fallback

def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match
    return match[1]


async def form_say(client: TestClient, csrf: str, **fields: Any) -> str:
    data: list[tuple[str, str]] = [("csrf", csrf)]
    for name, value in fields.items():
        for v in (value if isinstance(value, list) else [value]):
            data.append((name, v))
    resp = await client.post("/chat/form", data=data)
    assert resp.status == 200, await resp.text()
    assert str(resp.url).endswith("/chat/form") or "/chat/form?" in str(resp.url)
    return await resp.text()


async def test_form_fallback_without_javascript(client: TestClient, db: Database) -> None:
    resp = await client.get("/chat")
    assert "<noscript>" in await resp.text() and 'href="/chat/form"' in await resp.text()
    resp = await client.get("/chat/form")
    page = await resp.text()
    assert "Hvad hedder initiativet?" in page and "<script" not in page.split("<footer")[0]
    csrf = csrf_of(page)
    page = await form_say(client, csrf, text="<script>alert(1)</script> KOL")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; KOL" in page
    assert "<script>alert(1)" not in page
    for answer in ANSWERS[1:3]:
        page = await form_say(client, csrf, text=answer)
    assert 'value="I drift"' in page  # status choices are submit buttons
    page = await form_say(client, csrf, text="I drift")
    assert 'type="checkbox" name="choice" value="Kommune"' in page
    page = await form_say(client, csrf, choice=["Kommune", "Almen praksis"])
    page = await form_say(client, csrf, choice=["Region Sjælland"])
    page = await form_say(client, csrf, text="Mette Jensen")
    page = await form_say(client, csrf, text="mette@example.dk")
    page = await form_say(client, csrf, text="Nordby")
    assert "Mente du Nordfyns?" in page and 'value="Nordfyns"' in page
    page = await form_say(client, csrf, text="Nordfyns")
    page = await form_say(client, csrf, text="Spring resten over")
    assert "Send indmelding" in page and 'value="ret status"' in page
    page = await form_say(client, csrf, text="Send indmelding")
    [sub] = await submissions(db)
    assert sub.state == "unverified" and sub.channel == "chat"
    assert sub.proposed["participants"] == ["almen_praksis", "kommune"]
    assert sub.proposed["regions"] == ["sjaelland"]
    assert sub.proposed["municipalities"] == ["Nordfyns"]
    assert "mette@example.dk" in page


async def test_form_posts_need_the_conversation_csrf_token(
        client: TestClient, db: Database, settings: Settings) -> None:
    page = await (await client.get("/chat/form")).text()
    csrf = csrf_of(page)
    for data in ({"text": "KOL"}, {"text": "KOL", "csrf": "0" * 40},
                 {"text": "KOL", "csrf": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}):
        resp = await client.post("/chat/form", data=data)
        assert resp.status == 403
        assert "forældet" in await resp.text()
    async with db.read() as s:
        assert list(await s.scalars(select(ChatConversation))) == []
    # Another browser's token does not fit this conversation.
    async with make_app(settings, db) as other:
        other_csrf = csrf_of(await (await other.get("/chat/form")).text())
    resp = await client.post("/chat/form", data={"text": "KOL", "csrf": other_csrf})
    assert resp.status == 403
    await form_say(client, csrf, text="KOL")


async def test_form_too_long_shows_an_error(settings: Settings, db: Database) -> None:
    async with make_app(settings.replace(chat_max_message_chars=20), db) as client:
        csrf = csrf_of(await (await client.get("/chat/form")).text())
        page = await form_say(client, csrf, text="x" * 21)
        assert "for lang" in page and "Hvad hedder initiativet?" in page


async def test_language_link_switches_a_running_conversation(client: TestClient) -> None:
    csrf = csrf_of(await (await client.get("/chat/form")).text())
    await form_say(client, csrf, text="KOL")
    page = await (await client.get("/chat/form?lang=en")).text()
    assert "Which organisation is responsible" in page
    page = await form_say(client, csrf, text="English please")
    assert "Which organisation" in page


# ---------------------------------------------------------------------------------------
# Personal links from reminders

async def reminder_token(db: Database, entry: Initiative, *, purpose: str = "reminder",
                         ttl: timedelta | None = None) -> str:
    async with db.write() as s:
        return await issue_token(s, purpose=purpose, initiative_id=entry.id,
                                 contact_id=entry.contact_id, ttl=ttl)


async def test_personal_link_update_goes_straight_to_the_queue(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(title="Hjemmemonitorering af KOL")
    token = await reminder_token(db, entry)
    ws, history = await open_chat(client, f"/chat/u/{token}")
    menu = history["messages"][-1]["reply"]
    assert menu["tone"] == "summary"
    shown = {r["key"]: r["value"] for r in menu["rows"]}
    assert shown["title"] == "Hjemmemonitorering af KOL" and shown["status"] == "I drift"
    got = await say(ws, "ret status")
    assert "Nu: I drift" in last_reply(got)["text"]
    got = await say(ws, "Afsluttet")
    rows = last_reply(got)["rows"]
    assert [r["key"] for r in rows if r["changed"]] == ["status"]
    got = await say(ws, "Send ændringer")
    assert "sendt til redaktionen" in got["replies"][0]["text"]
    await ws.close()
    [sub] = await submissions(db)
    assert (sub.kind, sub.channel, sub.state, sub.token_matched) == (
        "update", "chat", "pending", True)
    assert sub.proposed == {"status": "afsluttet"}
    assert sub.initiative_id == entry.id and sub.base_version == entry.version
    assert sub.sender_email == entry.contact.email if entry.contact else False
    assert await outbox(db) == [], "the token is the credential: no verification mail"


async def test_personal_link_confirmation_and_resume(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry, purpose="receipt")
    ws, _ = await open_chat(client, f"/chat/u/{token}")
    await say(ws, "ret telefon")
    await ws.close()
    # Following the same link again resumes the same conversation.
    ws, history = await open_chat(client, f"/chat/u/{token}")
    assert history["messages"][-1]["reply"]["field"] == "contact_phone"
    await say(ws, "behold")
    got = await say(ws, "Alt er korrekt")
    assert "stadig er korrekte" in got["replies"][0]["text"]
    await ws.close()
    [sub] = await submissions(db)
    assert (sub.kind, sub.state, sub.proposed, sub.token_matched) == (
        "confirmation", "pending", {}, True)
    async with db.read() as s:
        assert await s.scalar(select(ChatConversation.initiative_id)) == entry.id


async def test_personal_link_without_javascript(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    page = await (await client.get(f"/chat/u/{token}?form=1")).text()
    assert 'value="ret status"' in page and "Alt er korrekt" in page
    csrf = csrf_of(page)
    page = await form_say(client, csrf, text="Status: Projekt")
    page = await form_say(client, csrf, text="Send ændringer")
    [sub] = await submissions(db)
    assert sub.kind == "update" and sub.proposed == {"status": "projekt"}


async def test_bad_personal_links_get_a_friendly_page(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    expired = await reminder_token(db, entry, ttl=timedelta(seconds=-1))
    wrong_kind = await reminder_token(db, entry, purpose="chat_verify")
    for token in ("not-a-token", "z" * 32, expired, wrong_kind):
        resp = await client.get(f"/chat/u/{token}")
        assert resp.status == 404
        page = await resp.text()
        assert "Linket virker ikke længere" in page and 'href="/chat"' in page


async def test_duplicate_in_chat_becomes_a_verified_update(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(title="Telemedicinsk hjemmemonitorering af KOL",
                                  organisation="Region Nordjylland")
    ws, _ = await open_chat(client)
    await say(ws, "Telemedicinsk hjemmemonitorering af KOL")
    got = await say(ws, "Region Nordjylland")
    question = last_reply(got)
    assert "Er det dette initiativ?" in question["text"], question
    got = await say(ws, "Ja, det er det")
    assert any(r["rows"] for r in got["replies"])
    await say(ws, "Kommuner: Aalborg, Hjørring, Brønderslev")
    got = await say(ws, "Send ændringer")
    assert last_reply(got)["input"] == "email"
    got = await say(ws, "kollega@example.dk")
    await ws.close()
    [sub] = await submissions(db)
    assert (sub.kind, sub.state, sub.initiative_id) == ("update", "unverified", entry.id)
    assert sub.proposed == {"municipalities": ["Aalborg", "Brønderslev", "Hjørring"]}
    [mail] = await outbox(db)
    assert mail.to_addr == "kollega@example.dk" and "ændringer" in mail.subject
    resp = await client.post(verify_link(mail))
    assert resp.status == 200
    assert (await submissions(db))[0].state == "pending"


async def test_conversation_id_is_a_hash_of_the_cookie(client: TestClient, db: Database) -> None:
    ws, _ = await open_chat(client)
    await say(ws, "KOL")
    await ws.close()
    key = client.session.cookie_jar.filter_cookies(
        client.make_url("/chat"))["landkort_chat"].value
    async with db.read() as s:
        [conv] = list(await s.scalars(select(ChatConversation)))
    assert conv.id == hash_token(key) and key not in conv.id
    assert len(key) >= 32 and conv.ip_hash and "127.0.0.1" not in conv.ip_hash


async def test_chat_page_has_no_inline_script_and_is_not_cached(client: TestClient) -> None:
    resp = await client.get("/chat")
    page = await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all('src="/static/chat.js"' in s or 'type="application/json"' in s
                           for s in scripts)
    cookie = resp.cookies["landkort_chat"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/chat"
    assert (await client.get("/static/chat.js")).status == 200


async def test_english_registration_gets_english_mail_and_pages(
        client: TestClient, db: Database) -> None:
    await client.get("/chat?lang=en")
    ws = await client.ws_connect("/chat/ws?lang=en", headers={"Origin": origin(client)})
    history = await ws.receive_json()
    assert history["lang"] == "en"
    assert history["messages"][-1]["reply"]["text"] == "What is the initiative called?"
    for answer in ["Remote rehab", "Aarhus Kommune", "Training at home by video.",
                   "In operation", "Municipality", "Central Denmark Region", "Jane Doe",
                   "jane@example.org", "Skip the rest", "Send registration"]:
        got = await say(ws, answer)
    assert "jane@example.org" in got["replies"][0]["text"]
    await ws.close()
    [sub] = await submissions(db)
    assert sub.language == "en" and sub.proposed["regions"] == ["midtjylland"]
    [mail] = await outbox(db)
    assert mail.subject.startswith("Confirm your registration")
    link = verify_link(mail)
    page = await (await client.get(link, headers={"Accept-Language": "da"})).text()
    assert "Confirm your e-mail address" in page and "Remote rehab" in page
    page = await (await client.get(link + "?lang=da")).text()
    assert "Bekræft din e-mailadresse" in page, "the site's language link is honoured"
    page = await (await client.post(link)).text()
    assert "Thank you – it is confirmed" in page


async def test_personal_link_for_an_entry_without_contact(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email=None, contact_name=None, contact_phone=None)
    async with db.write() as s:
        token = await issue_token(s, purpose="reminder", initiative_id=entry.id)
    ws, history = await open_chat(client, f"/chat/u/{token}")
    assert history["messages"][-1]["reply"]["text"].startswith("Her er oplysningerne")
    got = await say(ws, "Alt er korrekt")
    assert got["type"] == "bot"
    await ws.close()
    [sub] = await submissions(db)
    assert (sub.kind, sub.state, sub.sender_email) == ("confirmation", "pending", None)


async def test_correct_link_on_public_page_needs_email_verification(
        client: TestClient, db: Database, make_initiative: MakeInitiative) -> None:
    """'/chat?initiative=<slug>' (the public page's "correct this entry") opens the entry
    prefilled; without a personal token the proposal waits for e-mail verification."""
    entry = await make_initiative(title="Hjemmemonitorering af KOL")
    ws, history = await open_chat(client, f"/chat?initiative={entry.slug}")
    menu = history["messages"][-1]["reply"]
    assert menu["tone"] == "summary"
    assert {r["key"]: r["value"] for r in menu["rows"]}["status"] == "I drift"
    await say(ws, "ret status")
    await say(ws, "Afsluttet")
    got = await say(ws, "Send ændringer")
    assert last_reply(got)["field"] == "contact_email"  # who is asking?
    await say(ws, "kollega@example.dk")
    await ws.close()
    [sub] = await submissions(db)
    assert (sub.kind, sub.state, sub.token_matched, sub.proposed) == (
        "update", "unverified", False, {"status": "afsluttet"})
    assert sub.initiative_id == entry.id and sub.sender_email == "kollega@example.dk"
    [mail] = await outbox(db)
    assert mail.kind == "verification" and mail.to_addr == "kollega@example.dk"
    resp = await client.get("/chat?initiative=no-such-entry")
    assert resp.status == 404


async def test_the_answer_to_a_new_initiative_opens_it_once_approved(
        client: TestClient, db: Database, settings: Settings) -> None:
    """The receipt of a new initiative carries a personal link: before a moderator has
    approved it the link says the proposal is waiting (not "invalid"); afterwards it
    opens the new entry; a rejected proposal's link is invalid."""
    await store_message(db, good_mail(), source="lmtp")
    await process_pending(db, settings)
    async with db.read() as s:
        sub = await s.scalar(select(Submission))
        out = await s.scalar(select(OutboxMessage))
    assert sub is not None and out is not None and out.kind == "receipt"
    link = re.search(rb"/chat/u/[A-Za-z0-9_-]{32}", out.raw.replace(b"=\r\n", b""))
    assert link is not None
    waiting = await client.get(link.group(0).decode())
    assert waiting.status == 200 and "venter på redaktionen" in await waiting.text()
    await approve(db, sub.id, actor="anna")
    ws, history = await open_chat(client, link.group(0).decode())
    assert "Her er oplysningerne om «Videokonsultationer" in \
        history["messages"][-1]["reply"]["text"]
    await ws.close()
