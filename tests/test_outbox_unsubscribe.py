"""One-click unsubscribe (RFC 8058): POST without a login opts the token's contact out;
GET never does."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.campaigns.reminders import run_tick
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail import outbox
from bot.mail.models import OutboxMessage
from bot.mail.tokens import issue_token
from bot.registry.models import Contact, Initiative
from tests.conftest import MakeInitiative


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[TestClient]:
    app = create_app(settings, db, components=("bot.mail_service",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def token_for(db: Database, contact_id: int | None, purpose: str = "unsubscribe") -> str:
    async with db.write() as session:
        return await issue_token(session, purpose=purpose, contact_id=contact_id)


async def contact(db: Database, contact_id: int | None) -> Contact:
    async with db.read() as session:
        c = await session.get(Contact, contact_id)
        assert c is not None
        return c


ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.mark.asyncio
async def test_one_click_post_opts_out_without_login(db: Database, client: TestClient,
                                                     make_initiative: MakeInitiative) -> None:
    a = await make_initiative()
    b = await make_initiative(contact_email=a.contact.email if a.contact else None,
                              title="Andet initiativ")
    other = await make_initiative()
    token = await token_for(db, a.contact_id)
    resp = await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
    assert resp.status == 200
    assert "no-store" in resp.headers["Cache-Control"]
    c = await contact(db, a.contact_id)
    assert c.email_status == "opted_out" and c.opted_out_at is not None
    async with db.read() as session:
        flags = dict((await session.execute(
            select(Initiative.id, Initiative.needs_new_contact))).all())
    assert flags == {a.id: True, b.id: True, other.id: False}
    assert (await contact(db, other.contact_id)).email_status == "ok"
    again = await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)  # idempotent
    assert again.status == 200


@pytest.mark.asyncio
async def test_get_shows_a_button_and_changes_nothing(db: Database, client: TestClient,
                                                      make_initiative: MakeInitiative) -> None:
    a = await make_initiative()
    token = await token_for(db, a.contact_id)
    resp = await client.get(f"/unsubscribe/{token}")
    assert resp.status == 200
    page = await resp.text()
    assert f'action="/unsubscribe/{token}"' in page
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    assert (await contact(db, a.contact_id)).email_status == "ok"


@pytest.mark.asyncio
async def test_unknown_or_wrong_purpose_tokens_do_nothing(
        db: Database, client: TestClient, make_initiative: MakeInitiative) -> None:
    a = await make_initiative()
    reply_token = await token_for(db, a.contact_id, purpose="reminder")
    for token in (reply_token, "x" * 32, "short"):
        resp = await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
        assert resp.status == 404
        assert (await client.get(f"/unsubscribe/{token}")).status == 404
    assert (await contact(db, a.contact_id)).email_status == "ok"


@pytest.mark.asyncio
async def test_post_without_the_one_click_body_is_refused(
        db: Database, client: TestClient, make_initiative: MakeInitiative) -> None:
    a = await make_initiative()
    token = await token_for(db, a.contact_id)
    resp = await client.post(f"/unsubscribe/{token}", data={"foo": "bar"})
    assert resp.status == 400
    assert (await contact(db, a.contact_id)).email_status == "ok"


@pytest.mark.asyncio
async def test_the_link_in_a_reminder_works_and_cancels_pending_reminders(
        db: Database, client: TestClient, settings: Settings,
        make_initiative: MakeInitiative) -> None:
    from email import message_from_bytes

    s = settings.replace(sending_days="mon,tue,wed,thu,fri,sat,sun",
                         sending_window="00:00-23:59")
    a = await make_initiative()
    await run_tick(db, s, dbnow() + timedelta(minutes=1))
    async with db.read() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None
    header = message_from_bytes(row.raw)["List-Unsubscribe"]
    url = header.split("<http://127.0.0.1:8080", 1)[1].rstrip(">")
    resp = await client.post(url, data=ONE_CLICK)
    assert resp.status == 200
    assert (await contact(db, a.contact_id)).email_status == "opted_out"
    async with db.read() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.state == "cancelled"
    # The next campaign step is skipped, not sent.
    result = await run_tick(db, s, dbnow() + timedelta(days=15))
    assert (result.sent, result.skipped) == (0, 1)


@pytest.mark.asyncio
async def test_unsubscribe_token_in_compose_headers(settings: Settings) -> None:
    from bot.mail.templates import RenderedMail

    msg = outbox.compose(settings, to_addr="a@example.dk",
                         mail=RenderedMail("Emne", "Tekst\n", None), kind="receipt",
                         unsubscribe_token="T" * 32)
    raw = outbox.message_bytes(msg)
    assert b"=?utf-8?" not in raw.split(b"\n\n", 1)[0]  # no encoded-word URLs
    assert (b"List-Unsubscribe: <mailto:landkort@example.org?subject=afmeld%20" + b"T" * 32
            + b">, <http://127.0.0.1:8080/unsubscribe/" + b"T" * 32 + b">") in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert msg["Precedence"] is None  # receipts are not bulk mail
