"""Two-tap confirm and the one-page form (``/bekraeft/{token}``, ``/ret/{token}``):
a GET never confirms (link scanners fetch every URL in a mail), a POST needs our own
page's HMAC, reused / expired / foreign / tampered links get a page that says what to do,
presses are rate-limited, and what is sent goes to the queue like a mail reply."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.app import create_app
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import ReplyToken
from bot.mail.tokens import hash_token, issue_token
from bot.registry.models import Initiative
from moderation.models import Submission
from tests.conftest import MakeInitiative

Client = TestClient[Any, Any]


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    app = create_app(settings.replace(answer_posts_per_token=3), db,
                     components=("bot.mail_service",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def reminder_token(db: Database, entry: Initiative, purpose: str = "reminder") -> str:
    async with db.write() as s:
        return await issue_token(s, purpose=purpose, initiative_id=entry.id,
                                 contact_id=entry.contact_id)


def mac_of(html: str) -> str:
    m = re.search(r'name="mac" value="([0-9a-f]{64})"', html)
    assert m is not None, html
    return m.group(1)


async def submissions(db: Database) -> list[Submission]:
    async with db.read() as s:
        return list((await s.scalars(select(Submission).order_by(Submission.id))).all())


# --- confirm -------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_a_get_never_confirms(client: Client, db: Database,
                                    make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(title="Hjertetelemedicin")
    token = await reminder_token(db, entry)
    for _ in range(3):  # Safe Links, Defender and the person themself
        resp = await client.get(f"/bekraeft/{token}")
        assert resp.status == 200
    html = await resp.text()
    assert "Hjertetelemedicin" in html and "Ja, alt er korrekt" in html
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_two_taps_confirm_once(client: Client, db: Database,
                                     make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    mac = mac_of(await (await client.get(f"/bekraeft/{token}")).text())
    resp = await client.post(f"/bekraeft/{token}", data={"mac": mac}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/bekraeft/{token}?done=1"
    thanks = await (await client.get(resp.headers["Location"])).text()
    assert "Tak for bekræftelsen" in thanks
    (sub,) = await submissions(db)
    assert (sub.kind, sub.channel, sub.state, sub.proposed) == (
        "confirmation", "web", "pending", {})
    assert sub.token_matched and sub.initiative_id == entry.id
    assert sub.sender_email == entry.contact.email if entry.contact else True
    # Used again: still one confirmation, and the page says when it was given.
    resp = await client.post(f"/bekraeft/{token}", data={"mac": mac}, allow_redirects=False)
    assert resp.status == 303
    assert len(await submissions(db)) == 1
    again = await (await client.get(f"/bekraeft/{token}")).text()
    assert "Du bekræftede allerede oplysningerne den" in again
    assert 'name="mac"' not in again


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["unknown", "expired", "foreign"])
async def test_a_link_that_does_not_work_says_what_to_do(
        client: Client, db: Database, make_initiative: MakeInitiative, how: str) -> None:
    entry = await make_initiative()
    token = "A" * 32
    if how != "unknown":
        token = await reminder_token(db, entry,
                                     purpose="unsubscribe" if how == "foreign" else "reminder")
    if how == "expired":
        async with db.write() as s:
            await s.execute(update(ReplyToken).where(ReplyToken.token_hash == hash_token(token))
                            .values(expires_at=dbnow() - timedelta(days=1)))
    for path in (f"/bekraeft/{token}", f"/ret/{token}"):
        resp = await client.get(path)
        assert resp.status == 404
        html = await resp.text()
        assert "Linket virker ikke længere" in html and "svare direkte på" in html
        assert "Traceback" not in html


@pytest.mark.asyncio
async def test_a_post_without_our_page_is_refused(client: Client, db: Database,
                                                  make_initiative: MakeInitiative) -> None:
    entry, other = await make_initiative(), await make_initiative()
    token, token2 = await reminder_token(db, entry), await reminder_token(db, other)
    other_mac = mac_of(await (await client.get(f"/bekraeft/{token2}")).text())
    for data in ({}, {"mac": "0" * 64}, {"mac": other_mac}):  # none, forged, another's
        resp = await client.post(f"/bekraeft/{token}", data=data, allow_redirects=False)
        assert resp.status == 403
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_presses_are_rate_limited_per_token(client: Client, db: Database,
                                                  make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    mac = mac_of(await (await client.get(f"/bekraeft/{token}")).text())
    codes = [(await client.post(f"/bekraeft/{token}", data={"mac": mac},
                                allow_redirects=False)).status for _ in range(5)]
    assert codes == [303, 303, 303, 429, 429]  # answer_posts_per_token = 3 here
    assert len(await submissions(db)) == 1


# --- the form ------------------------------------------------------------------------------

async def form_of(client: Client, token: str) -> tuple[str, str]:
    html = await (await client.get(f"/ret/{token}")).text()
    return html, mac_of(html)


def current_form(entry: Initiative) -> dict[str, Any]:
    from bot.registry.fields import format_value

    record = entry.record()
    data: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("participants", "regions"):
            data[key] = list(value or [])  # checkboxes post vocabulary keys
        elif key == "status":
            data[key] = value or ""  # radio buttons too
        else:
            data[key] = format_value(key, value, "da")
    return data


def post_data(values: dict[str, Any], mac: str) -> list[tuple[str, str]]:
    out = [("mac", mac)] if mac else []
    for key, value in values.items():
        if isinstance(value, list):
            out += [(key, v) for v in value]
        else:
            out.append((key, value or ""))
    return out


@pytest.mark.asyncio
async def test_the_form_is_prefilled(client: Client, db: Database,
                                     make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(status="i_drift", regions=["midtjylland"])
    token = await reminder_token(db, entry)
    html, _ = await form_of(client, token)
    assert re.search(r'name="status" value="i_drift" checked', html)
    assert re.search(r'name="regions" value="midtjylland" checked', html)
    assert 'list="dl-municipalities"' in html and '<option value="Aarhus">' in html
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_change_status_and_clear_the_end_date(client: Client, db: Database,
                                                   make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(status="i_drift", end_date="2026-12-31")
    token = await reminder_token(db, entry)
    _, mac = await form_of(client, token)
    values = current_form(entry)
    values.update(status="afsluttet", end_date="")
    resp = await client.post(f"/ret/{token}", data=post_data(values, mac),
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/ret/{token}?done=sent"
    (sub,) = await submissions(db)
    assert (sub.kind, sub.channel, sub.token_matched) == ("update", "web", True)
    assert sub.proposed == {"status": "afsluttet", "end_date": None}
    assert "Tak — ændringerne er sendt" in await (await client.get(resp.headers["Location"])
                                                   ).text()


@pytest.mark.asyncio
async def test_a_wrong_municipality_is_shown_beside_its_field(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    _, mac = await form_of(client, token)
    values = current_form(entry)
    values.update(municipalities="Aarhus, Nordby", title="Nyt navn på projektet")
    resp = await client.post(f"/ret/{token}", data=post_data(values, mac))
    assert resp.status == 400
    html = await resp.text()
    field = html[html.index('id="f-municipalities"'):]
    field = field[:field.index("</div>")]
    assert "Mente du Nordfyns?" in field and 'aria-invalid="true"' in field
    assert 'value="Aarhus, Nordby"' in field  # what was typed is kept
    assert 'value="Nyt navn på projektet"' in html  # and the rest too
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_a_mandatory_field_cannot_be_emptied(client: Client, db: Database,
                                                  make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    _, mac = await form_of(client, token)
    values = current_form(entry)
    values.update(title="", participants=[])
    resp = await client.post(f"/ret/{token}", data=post_data(values, mac))
    assert resp.status == 400
    html = await resp.text()
    assert html.count("Skal udfyldes.") == 2
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_sending_the_form_unchanged_is_a_confirmation(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    token = await reminder_token(db, entry)
    _, mac = await form_of(client, token)
    resp = await client.post(f"/ret/{token}", data=post_data(current_form(entry), mac),
                             allow_redirects=False)
    assert resp.headers["Location"] == f"/ret/{token}?done=unchanged"
    (sub,) = await submissions(db)
    assert sub.kind == "confirmation" and sub.proposed == {}


@pytest.mark.asyncio
async def test_english_contact_gets_english_pages(client: Client, db: Database,
                                                  make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    async with db.write() as s:
        fresh = await s.get(Initiative, entry.id)
        assert fresh is not None and fresh.contact is not None
        fresh.contact.language = "en"
    token = await reminder_token(db, entry)
    assert "Yes, everything is correct" in await (await client.get(f"/bekraeft/{token}")).text()
    assert "Update the details" in await (await client.get(f"/ret/{token}")).text()
    assert "Ja, alt er korrekt" in await (await client.get(f"/bekraeft/{token}?lang=da")).text()


# --- a new initiative on one page ----------------------------------------------------------

@pytest_asyncio.fixture
async def site(db: Database, settings: Settings) -> AsyncIterator[Client]:
    app = create_app(settings, db, components=("bot.public.web", "intake.chat.web",
                                                "bot.mail_service"), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


def csrf_of_form(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert m is not None
    return m.group(1)


NEW = {"title": "Videosamtaler med pårørende på Bornholm", "description": "Pårørende deltager "
       "på video i samtaler med personalet.", "status": "projekt",
       "participants": ["sygehus"], "regions": ["hovedstaden"], "municipalities": "Bornholm",
       "organisation": "Bornholms Hospital", "contact_name": "Sara Holm",
       "contact_email": "sara.holm@example.dk"}


@pytest.mark.asyncio
async def test_register_a_new_initiative_on_one_page(site: Client, db: Database) -> None:
    html = await (await site.get("/indmeld")).text()
    assert 'href="/chat"' in html and 'name="status"' in html
    data = post_data(NEW, "") + [("csrf", csrf_of_form(html))]
    resp = await site.post("/indmeld", data=data, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/indmeld?sent=1"
    assert "sara.holm" not in resp.headers["Location"]  # no address in the URL
    (sub,) = await submissions(db)
    assert (sub.kind, sub.channel, sub.state) == ("new", "web", "unverified")
    assert sub.proposed["municipalities"] == ["Bornholm"]
    async with db.read() as s:
        from bot.mail.models import OutboxMessage
        (mail,) = (await s.scalars(select(OutboxMessage))).all()
    assert mail.kind == "verification" and mail.to_addr == "sara.holm@example.dk"
    link = re.search(rb"/chat/verify/([A-Za-z0-9_-]+)", mail.raw)
    assert link is not None
    token = link.group(1).decode()
    assert (await site.get(f"/chat/verify/{token}")).status == 200
    assert (await submissions(db))[0].state == "unverified"  # a GET verifies nothing
    await site.post(f"/chat/verify/{token}", data={}, allow_redirects=False)
    (sub,) = await submissions(db)
    assert sub.state == "pending"  # verified: in the queue now


@pytest.mark.asyncio
async def test_a_new_registration_without_our_cookie_is_refused(site: Client,
                                                                db: Database) -> None:
    html = await (await site.get("/indmeld")).text()
    site.session.cookie_jar.clear()
    resp = await site.post("/indmeld", data=post_data(NEW, "") + [
        ("csrf", csrf_of_form(html))])
    assert resp.status == 403 and "Send formularen igen" in await resp.text()
    assert await submissions(db) == []


@pytest.mark.asyncio
async def test_a_likely_duplicate_is_shown_before_sending(
        site: Client, db: Database, make_initiative: MakeInitiative) -> None:
    await make_initiative(title="Videosamtaler med pårørende på Bornholm",
                          organisation="Bornholms Hospital", regions=["hovedstaden"])
    html = await (await site.get("/indmeld")).text()
    csrf = csrf_of_form(html)
    resp = await site.post("/indmeld", data=post_data(NEW, "") + [("csrf", csrf)])
    page = await resp.text()
    assert resp.status == 200 and "Er det dette initiativ?" in page
    assert 'value="Bornholms Hospital"' in page  # nothing typed is lost
    assert await submissions(db) == []
    resp = await site.post("/indmeld", data=post_data(NEW, "") + [
        ("csrf", csrf), ("not_duplicate", "1")], allow_redirects=False)
    assert resp.status == 303
    (sub,) = await submissions(db)
    assert "likely_duplicate" in sub.flags


@pytest.mark.asyncio
async def test_new_registration_errors_beside_their_fields(site: Client,
                                                           db: Database) -> None:
    html = await (await site.get("/indmeld")).text()
    bad = {**NEW, "municipalities": "Nordby", "contact_email": "ikke en adresse"}
    resp = await site.post("/indmeld", data=post_data(bad, "") + [
        ("csrf", csrf_of_form(html))])
    assert resp.status == 400
    page = await resp.text()
    assert "Mente du Nordfyns?" in page and 'value="Nordby"' in page
    assert await submissions(db) == []
