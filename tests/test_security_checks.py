"""Security checks across the whole app: CSRF on every unsafe route, reply tokens,
session rotation and logout, login throttling, one-click unsubscribe.

What already exists and is not repeated here:
tests/test_routes_security.py (every guarded route needs a login and a CSRF token),
tests/test_moderation_web.py (an attacker-chosen cookie is not adopted at login, login
CSRF, throttling with the right password, same text for unknown user and wrong
password), tests/test_outbox_unsubscribe.py (wrong-purpose tokens, GET shows a button),
tests/test_intake_processor.py (a reply from another address is flagged). Secrets in
logs: tests/test_secrets_in_logs.py; XSS in the browser: tests/browser/test_xss_browser.py.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import inspect, select, text, update

from bot.app import create_app
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.demo.models import SandboxMail
from bot.mail.models import ReplyToken
from bot.mail.tokens import TOKEN_BYTES, hash_token, issue_token, lookup_token, new_token
from bot.registry.models import Contact, Initiative
from intake.inbox.models import InboundMessage
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.decisions import approve
from moderation.models import LoginFailure, Submission, WebSession
from moderation.web.security import ACCOUNT_FACTOR, SESSION_COOKIE, is_protected
from tests.conftest import MakeInitiative, MakeSubmission
from tests.moderation_support import PASSWORD, add_user, csrf_of, login, use_fast_hashes
from tests.test_routes_security import UNSAFE, app_routes, concrete

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def full(sqlite_db: Database, settings: Settings) -> AsyncIterator[Client]:
    """The full app (every component, the sandbox's routes too), workers not started.
    (SQLite only: tests/test_routes_security.py runs the guard on both engines.)"""
    await add_user(sqlite_db, "anna")
    app = create_app(settings.replace(sandbox_enabled=True), sqlite_db, start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


# --- CSRF on every unsafe route ------------------------------------------------------------

# Unsafe routes outside the moderation guard that check a CSRF token of their own.
OWN_CSRF = {
    ("POST", "/login"): "HMAC of the pre-login cookie (moderation/web/security.py)",
    ("POST", "/chat/form"): "the chat's per-conversation token (intake/chat/web.py)",
    ("POST", "/sandbox/{id}/reply"): "double-submit cookie (bot/demo/sandbox.py)",
    ("POST", "/samtykke/{token}"): "HMAC of the token from the page's form (bot/public/consent.py)",
    ("POST", "/bekraeft/{token}"): "HMAC of the token from the page's form (bot/public/answer.py)",
    ("POST", "/ret/{token}"): "HMAC of the token from the page's form (bot/public/answer.py)",
    ("POST", "/indmeld"): "double-submit cookie and its HMAC (bot/public/new_entry.py)",
}
# Public by design: the capability in the URL is the credential, and a forged cross-site
# request can do no more than the token's owner asked for.
EXEMPT = {
    ("POST", "/unsubscribe/{token}"): "RFC 8058 one-click: mail clients POST without any "
    "page or cookie; the 192-bit token opts out only its own contact",
    ("POST", "/chat/verify/{token}"): "the 192-bit token mailed to the submitter confirms "
    "that submitter's own chat entry; nothing else can be named",
}
# (The chat WebSocket is a GET upgrade; intake/chat/web.py refuses foreign Origins.)


@pytest.mark.asyncio
async def test_every_unsafe_route_is_guarded_checks_csrf_or_is_exempt(
        full: Client, sqlite_db: Database) -> None:
    db = sqlite_db
    unsafe = [(m, p) for m, p in app_routes(full.app) if m in UNSAFE]
    unknown = [r for r in unsafe
               if not is_protected(r[1]) and r not in OWN_CSRF and r not in EXEMPT]
    assert unknown == [], (
        "a new unsafe route outside /moderation: guard it, give it a CSRF check (add it to "
        "OWN_CSRF) or document why it is public (EXEMPT)")
    assert set(OWN_CSRF) | set(EXEMPT) <= set(unsafe), "stale entries in the lists above"
    # Guarded routes: tests/test_routes_security.py proves 401 anonymous, 403 without the
    # token. The routes with their own check refuse a logged-in moderator without one.
    await login(full, "anna")
    async with db.write() as s:
        mail = SandboxMail(mail_from="landkort@example.org", rcpt_to="a@example.dk",
                           subject="s", kind="receipt",
                           raw=b"From: landkort@example.org\r\nTo: a@example.dk\r\n"
                               b"Subject: s\r\n\r\nx\r\n")
        s.add(mail)
        await s.flush()
        mail_id = mail.id
    await full.get(f"/sandbox/{mail_id}")  # sets the sandbox's CSRF cookie
    await full.get("/chat/form")
    for method, path in OWN_CSRF:
        url = path.replace("{id}", str(mail_id)).replace("{token}", "x" * 32)
        for data in ({"body": "hej", "text": "hej", "username": "anna",
                      "password": PASSWORD},
                     {"body": "hej", "text": "hej", "csrf": "forged", "csrf_token": "forged",
                      "username": "anna", "password": PASSWORD}):
            resp = await full.request(method, url, data=data, allow_redirects=False)
            assert resp.status == 403, (method, path, data, resp.status)
    # the guarded ones, once more with this app: a logged-in POST without a token
    for method, path in unsafe:
        if is_protected(path):
            resp = await full.request(method, concrete(path), data={},
                                      allow_redirects=False)
            assert resp.status == 403, (method, path, resp.status)


# --- reply tokens ----------------------------------------------------------------------------


def test_tokens_are_192_bit_url_safe_and_unique() -> None:
    tokens = [new_token() for _ in range(10_000)]
    assert len(set(tokens)) == len(tokens)
    assert TOKEN_BYTES * 8 == 192
    for t in tokens[:2000]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", t), t  # 32 chars × 6 bits
    import base64

    assert all(len(base64.urlsafe_b64decode(t)) == 24 for t in tokens[:100])


@pytest.mark.asyncio
async def test_tokens_are_stored_only_as_hashes(db: Database,
                                                make_initiative: MakeInitiative) -> None:
    ini = await make_initiative()
    async with db.write() as s:
        issued = [await issue_token(s, purpose="reminder", initiative_id=ini.id,
                                    contact_id=ini.contact_id) for _ in range(300)]
    assert len(set(issued)) == 300
    async with db.read() as s:
        rows = list((await s.scalars(select(ReplyToken))).all())
    assert {r.token_hash for r in rows} == {hashlib.sha256(t.encode()).hexdigest()
                                            for t in issued}
    stored = " ".join(repr(r.__dict__) for r in rows)
    assert not any(t in stored for t in issued)
    # No row of any table holds one (both engines).
    dump = await every_row_as_text(db)
    assert [t for t in issued if t in dump] == []
    if db.url.startswith("sqlite"):
        # Nor any file of the database, read while it is open: in WAL mode recent writes
        # are in the -wal file, not the main one (and deleted rows linger in pages).
        data = b"".join(p.read_bytes() for p in sqlite_files(db))
        assert [t for t in issued if t.encode() in data] == []


def sqlite_files(db: Database) -> list[Path]:
    """Every file of an open SQLite database: main, -wal, -shm and -journal if present."""
    main = Path(db.url.split("///", 1)[1])
    files = [Path(f"{main}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    present = [f for f in files if f.exists()]
    # The database runs in WAL mode: the main file and its log are both there.
    assert files[0] in present and files[1] in present, present
    return present


async def every_row_as_text(db: Database) -> str:
    """Every value of every row of every table in the database (its schema on PostgreSQL),
    as text; bytes are decoded as Latin-1 so that no byte sequence is lost."""
    def value(v: object) -> str:
        return v.decode("latin-1") if isinstance(v, bytes) else str(v)

    out: list[str] = []
    async with db.read() as s:
        conn = await s.connection()
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "reply_tokens" in names, names
        for name in names:
            rows = await conn.execute(text(f'SELECT * FROM "{name}"'))
            out.extend(" ".join(value(v) for v in r) for r in rows)
    return "\n".join(out)


def reply(token: str, sender: str, body: str, *, n: int = 1,
          in_reply_to: str | None = None) -> bytes:
    irt = f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else ""
    return (f"From: Svar <{sender}>\r\nTo: landkort+{token}@example.org\r\n"
            f"Subject: SV: Påmindelse [ref:{token}]\r\nMessage-ID: <r{n}@example.dk>\r\n{irt}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


async def receive(db: Database, settings: Settings, raw: bytes) -> InboundMessage:
    res = await store_message(db, raw, source="cli")
    await process_pending(db, settings)
    async with db.read() as s:
        row = await s.get(InboundMessage, res.id)
        assert row is not None
        return row


async def submission_of(db: Database, inbound_id: int) -> Submission | None:
    async with db.read() as s:
        return await s.scalar(select(Submission).where(
            Submission.inbound_message_id == inbound_id))


@pytest.mark.asyncio
async def test_a_token_for_entry_a_changes_only_a(db: Database, settings: Settings,
                                                  make_initiative: MakeInitiative) -> None:
    a = await make_initiative(title="Hjemmemonitorering A", contact_email="a@example.dk")
    b = await make_initiative(title="Videokonsultation B", contact_email="b@example.dk",
                              municipalities=["Odense"], regions=["syddanmark"])
    async with db.write() as s:
        token = await issue_token(s, purpose="reminder", initiative_id=a.id,
                                  contact_id=a.contact_id)
    body = (f"Det gælder ikke A men vores andet initiativ, /initiativ/{b.slug} (#{b.id}):\r\n"
            f"\r\nTitel: {b.title}\r\nStatus: Afsluttet\r\nKommuner: Odense\r\n")
    row = await receive(db, settings, reply(token, "a@example.dk", body))
    sub = await submission_of(db, row.id)
    assert sub is not None and sub.initiative_id == a.id and sub.token_matched
    outcome = await approve(db, sub.id, actor="anna")
    assert outcome is not None
    async with db.read() as s:
        got_a = await s.get(Initiative, a.id)
        got_b = await s.get(Initiative, b.id)
        assert got_a is not None and got_b is not None
        assert got_a.status == "afsluttet" and got_a.version == a.version + 1
        assert (got_b.version, got_b.title, got_b.status) == (b.version, b.title, b.status)


@pytest.mark.asyncio
async def test_expired_token_is_not_honoured_even_through_the_thread(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    a = await make_initiative(contact_email="a@example.dk")
    ours = "<landkort.expired1@example.org>"
    async with db.write() as s:
        token = await issue_token(s, purpose="reminder", initiative_id=a.id,
                                  contact_id=a.contact_id, outbox_message_id=ours,
                                  ttl=timedelta(days=-1))
    async with db.read() as s:
        assert await lookup_token(s, token) is None
    row = await receive(db, settings, reply(token, "a@example.dk", "Status: Afsluttet",
                                            in_reply_to=ours))
    sub = await submission_of(db, row.id)
    # Not an update of A: left for moderators as a new item or unknown, never tied to A.
    assert sub is None or (sub.initiative_id is None and not sub.token_matched)


@pytest.mark.asyncio
async def test_needs_info_token_updates_only_its_own_submission(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    ini = await make_initiative(contact_email="a@example.dk")
    mine = await make_submission(initiative=ini, kind="update", proposed={"status": "afsluttet"},
                                 state="needs_info", sender_email="a@example.dk")
    other = await make_submission(initiative=ini, kind="update",
                                  proposed={"status": "projekt"}, state="needs_info",
                                  sender_email="a@example.dk")
    async with db.write() as s:
        token = await issue_token(s, purpose="needs_info", submission_id=mine.id,
                                  initiative_id=ini.id, contact_id=ini.contact_id)
    body = f"Svar på sag #{other.id} (submission {other.id}):\r\n\r\nSlutdato: 2025-12-31"
    row = await receive(db, settings, reply(token, "a@example.dk", body))
    assert row.outcome == "needs_info_answer"
    async with db.read() as s:
        got_mine = await s.get(Submission, mine.id)
        got_other = await s.get(Submission, other.id)
        assert got_mine is not None and got_other is not None
        assert got_mine.state == "pending" and got_mine.proposed["end_date"] == "2025-12-31"
        assert got_other.state == "needs_info" and got_other.proposed == {"status": "projekt"}
    # the same token from another address still lands on its own item, flagged
    row = await receive(db, settings, reply(token, "intruder@example.net",
                                            "Slutdato: 2026-01-31", n=2))
    async with db.read() as s:
        got_mine = await s.get(Submission, mine.id)
        got_other = await s.get(Submission, other.id)
        assert got_mine is not None and got_other is not None
        assert "sender_differs" in (got_mine.flags or [])
        assert got_other.proposed == {"status": "projekt"}


# --- sessions ----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def web(sqlite_db: Database, settings: Settings) -> AsyncIterator[Client]:
    """The moderation UI (SQLite only: tests/test_moderation_web.py covers both engines)."""
    await add_user(sqlite_db, "anna")
    app = create_app(settings, sqlite_db, components=("moderation.web.routes",),
                     start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def cookie_of(client: Client) -> str:
    for c in client.session.cookie_jar:
        if c.key == SESSION_COOKIE:
            return c.value
    raise AssertionError("no session cookie")


async def replay(client: Client, cookie: str, method: str = "GET",
                 path: str = "/moderation", **kw: Any) -> int:
    """A request from another browser that holds a copy of ``cookie``."""
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as other:
        other.cookie_jar.update_cookies({SESSION_COOKIE: cookie}, client.make_url("/"))
        async with other.request(method, client.make_url(path), allow_redirects=False,
                                 **kw) as resp:
            return resp.status


@pytest.mark.asyncio
async def test_session_ids_rotate_and_logout_kills_the_server_side_session(
        web: Client, sqlite_db: Database) -> None:
    db = sqlite_db
    await login(web, "anna")
    first = cookie_of(web)
    assert await replay(web, first) == 200
    await login(web, "anna")  # logging in again (e.g. over a planted cookie)
    second = cookie_of(web)
    assert first != second
    assert await replay(web, first) == 303  # the old id is dead on the server
    assert await replay(web, second) == 200
    csrf = csrf_of(await (await web.get("/moderation")).text())
    resp = await web.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    async with db.read() as s:
        assert list((await s.scalars(select(WebSession))).all()) == []
    # a copy of the cookie (kept by an attacker, or a second tab) no longer works
    assert await replay(web, second) == 303
    assert await replay(web, second, "POST", "/moderation/bulk-approve",
                        data={"csrf_token": csrf}) == 401


# --- login throttling ----------------------------------------------------------------------------


async def attempt(client: Client, username: str, password: str) -> tuple[int, str]:
    resp = await client.get("/login")
    token = csrf_of(await resp.text())
    resp = await client.post("/login", data={"csrf_token": token, "username": username,
                                             "password": password}, allow_redirects=False)
    return resp.status, (await resp.text()).replace(username, "NAME")


@pytest.mark.asyncio
async def test_throttled_login_reveals_nothing_and_ends_after_the_lockout(
        web: Client, sqlite_db: Database, settings: Settings) -> None:
    db = sqlite_db
    texts = {}
    for name in ("anna", "nobody"):
        for _ in range(settings.login_max_failures):
            assert (await attempt(web, name, "wrong"))[0] == 401
        status, text = await attempt(web, name, PASSWORD)
        assert status == 429
        texts[name] = text
        async with db.write() as s:  # forget the address key: the account key alone
            await s.execute(update(LoginFailure).where(LoginFailure.key.like("addr:%"))
                            .values(at=dbnow() - timedelta(days=1)))
    assert texts["anna"] == texts["nobody"]  # locked out looks the same for everyone
    # Five failures no longer lock the account itself (anyone could lock anyone out):
    # the account key allows ACCOUNT_FACTOR times as many before it throttles.
    async with db.write() as s:
        s.add_all([LoginFailure(key="user:anna", at=dbnow())
                   for _ in range(settings.login_max_failures * (ACCOUNT_FACTOR - 1))])
    assert (await attempt(web, "anna", PASSWORD))[0] == 429  # the account is now locked
    async with db.write() as s:  # the lockout passes
        await s.execute(update(LoginFailure).values(
            at=dbnow() - timedelta(minutes=settings.login_lockout_minutes + 1)))
    assert (await attempt(web, "anna", PASSWORD))[0] == 303


# --- one-click unsubscribe ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unsubscribe_token_opts_out_only_its_own_contact(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    a = await make_initiative(contact_email="a@example.dk")
    b = await make_initiative(contact_email="b@example.dk")
    async with db.write() as s:
        tok_a = await issue_token(s, purpose="unsubscribe", contact_id=a.contact_id)
        tok_b = await issue_token(s, purpose="unsubscribe", contact_id=b.contact_id)
        reminder_b = await issue_token(s, purpose="reminder", contact_id=b.contact_id,
                                       initiative_id=b.id)
        receipt_b = await issue_token(s, purpose="receipt", contact_id=b.contact_id)
    app = create_app(settings, db, components=("bot.mail_service",), start_workers=False)

    async def status_of(contact_id: int | None) -> str:
        async with db.read() as s:
            c = await s.get(Contact, contact_id)
            assert c is not None
            return c.email_status

    async with TestClient(TestServer(app)) as client:
        # GET and HEAD never unsubscribe (link scanners)
        for _ in range(2):
            assert (await client.get(f"/unsubscribe/{tok_b}")).status == 200
            assert (await client.head(f"/unsubscribe/{tok_b}")).status in (200, 405)
        # another purpose's token, a made-up one and a hash of a real one are refused
        made_up = new_token()
        for bad in (reminder_b, receipt_b, made_up, hash_token(tok_b)[:43]):
            resp = await client.post(f"/unsubscribe/{bad}",
                                     data={"List-Unsubscribe": "One-Click"})
            assert resp.status == 404, bad
        assert await status_of(b.contact_id) == "ok"
        # A's token, even with B named in the body, opts out A only
        resp = await client.post(f"/unsubscribe/{tok_a}", data={
            "List-Unsubscribe": "One-Click", "email": "b@example.dk",
            "contact_id": str(b.contact_id), "token": tok_b})
        assert resp.status == 200
    assert await status_of(a.contact_id) == "opted_out"
    assert await status_of(b.contact_id) == "ok"
    async with db.read() as s:
        assert await s.scalar(select(Initiative.needs_new_contact).where(
            Initiative.id == b.id)) is False
