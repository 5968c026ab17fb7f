"""Leads (#19): initiatives someone mentions that may not be on the map — read from a
reply's own words and from the one-page form, invited by a moderator with a personal link
that opens /indmeld prefilled, and registered as a new case; or dismissed."""
from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.core.db import Database
from bot.mail.models import OutboxMessage
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from intake.parse.leads import find_leads, listed_leads
from moderation.leads import LeadError, dismiss_lead, invite_lead
from moderation.models import AuditEvent, Lead, Submission
from tests.conftest import MakeInitiative
from tests.test_campaign_digest import plain_text
from tests.test_chat_web import verify_link


@pytest.mark.parametrize(("text", "expected"), [
    ("Hej\n\nVi kender også til et projekt med video i Holbæk Kommune, kontakt "
     "anne@holbaek.dk.\n\nMvh Anne",
     [("Holbæk", "Holbæk Kommune", "anne@holbaek.dk")]),
    ("Region Sjælland har også et initiativ med hjemmemonitorering, som ikke er på "
     "landkortet.", [(None, "Region Sjælland", None)]),
    ("We also know of a tele-rehabilitation pilot in Odense.", [("Odense", None, None)]),
    ("Status: I drift\nAndre initiativer: Videotolkning i Aarhus; telepsykiatri i Region "
     "Nordjylland", [("Aarhus", None, None), (None, "Region Nordjylland", None)]),
    ("Other initiatives:\n- Wound app in Vejle Kommune\n- KOL kuffert på Bornholm",
     [("Vejle", "Vejle Kommune", None), ("Bornholm", None, None)]),
    ("Vi kender ikke til andre initiativer.", []),
    ("Andre initiativer: Nej", []),
    ("Alt er korrekt. Tak for påmindelsen.", []),
    # Everyday sentences with "also" and "not on the map" are not leads on their own.
    ("Vi har også en ny kontaktperson. There is also a new phone number.", []),
    ("We also run the service in Aarhus. Vores hjemmeside er ikke på kortet.", []),
    ("I know of none. Jeg ved ikke om I kender til et projekt i Aarhus.", []),
    ("Andre initiativer: nej tak", []),
    # A field's own line is never a lead, whatever it says.
    ("Beskrivelse: Et projekt, der ikke er på landkortet endnu, men snart.", []),
    ("Andre initiativer:\n- Status: I drift", []),
    # Our own question, when a reply keeps it unquoted, is not an answer to it.
    ("Kender du telemedicinske initiativer, der ikke er på landkortet? Skriv dem gerne "
     "i dit svar under \"Andre initiativer:\".", []),
    ("Do you know of telemedicine initiatives that are not on the map? Write them in your "
     "reply under \"Other initiatives:\".", []),
])
def test_mentions_in_a_reply(text: str, expected: list[tuple[Any, Any, Any]]) -> None:
    got = find_leads(text)
    assert [(m.municipality, m.organisation, m.contact_email) for m in got] == expected


def test_the_leads_line_ends_the_field_above_it() -> None:
    # Written straight under a form line, the answer is not read as more of its value.
    from intake.parse.reply_form import read_form

    form = read_form("Titel: Video til KOL\nAndre initiativer: Sårapp i Vejle Kommune\n")
    assert form.fields == {"title": "Video til KOL"}
    assert [m.text for m in find_leads("Titel: Video til KOL\nAndre initiativer: "
                                       "Sårapp i Vejle Kommune")] == ["Sårapp i Vejle Kommune"]


def test_a_box_that_asks_only_for_leads_takes_one_per_line() -> None:
    got = listed_leads("Sårapp i Vejle\nTelepsykiatri, Region Midtjylland\n\nnej")
    assert [m.text for m in got] == ["Sårapp i Vejle", "Telepsykiatri, Region Midtjylland"]
    assert got[1].organisation == "Region Midtjylland"
    assert listed_leads("Nej.") == listed_leads("Ved ikke") == listed_leads("") == []


async def _leads(db: Database) -> list[Lead]:
    async with db.read() as s:
        return list(await s.scalars(select(Lead).order_by(Lead.id)))


@pytest.mark.asyncio
async def test_a_reply_sentence_becomes_a_lead_once(db: Database, settings: Any) -> None:
    raw = ("From: Anne Holm <anne@odense.dk>\r\nTo: landkort@example.org\r\n"
           "Subject: Nyt initiativ\r\nMessage-ID: <lead1@odense.dk>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Hej\r\n\r\nTitel: Video i hjemmeplejen\r\nKommuner: Odense\r\n\r\n"
           "Vi kender også til et projekt med sårvurdering i Svendborg Kommune, som ikke er "
           "på landkortet.\r\n\r\nVenlig hilsen\r\nAnne\r\n").encode()
    stored = await store_message(db, raw, source="cli")
    await process_pending(db, settings)
    await process_pending(db, settings)  # nothing is processed twice
    (lead,) = await _leads(db)
    assert (lead.channel, lead.state, lead.municipality) == ("email", "open", "Svendborg")
    assert lead.organisation == "Svendborg Kommune"
    assert (lead.mentioned_by, lead.mentioned_by_name) == ("anne@odense.dk", "Anne Holm")
    assert lead.inbound_message_id == stored.id and lead.submission_id is not None
    assert "sårvurdering" in lead.text


@pytest.mark.asyncio
async def test_invited_through_the_personal_link_to_a_new_case(
        db: Database, settings: Any, make_initiative: MakeInitiative,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import create_app
    from moderation.leads import record_leads
    from tests.moderation_support import login, moderation_client, use_fast_hashes

    use_fast_hashes(monkeypatch)
    async with db.write() as s:
        await record_leads(s, find_leads("Vi kender også til et KOL-projekt i Holbæk "
                                         "Kommune."), channel="email", key="t:1",
                           mentioned_by="mette@example.dk")
    (lead,) = await _leads(db)
    async with moderation_client(db, settings, ("anna", "moderator")) as c:
        csrf = await login(c)
        page = await (await c.get("/moderation/leads")).text()
        assert "KOL-projekt i Holbæk Kommune" in page and "Send invitation" in page
        bad = await c.post("/moderation/leads/invite", data={
            "csrf_token": csrf, "lead_id": str(lead.id), "to": "ikke en adresse"})
        assert bad.status == 400 and "gyldig e-mailadresse" in await bad.text()
        ok = await c.post("/moderation/leads/invite", data={
            "csrf_token": csrf, "lead_id": str(lead.id), "to": "Leder@Holbaek.dk",
            "lang": "da", "note": "Vi har hørt om jeres KOL-kuffert."},
            allow_redirects=False)
        assert ok.status == 303
        again = await c.post("/moderation/leads/invite", data={
            "csrf_token": csrf, "lead_id": str(lead.id), "to": "leder@holbaek.dk"})
        assert again.status == 400 and "allerede behandlet" in await again.text()
    async with db.read() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "lead_invite"))
        assert row is not None and row.to_addr == "leder@holbaek.dk"
        raw = row.raw
    body = plain_text(raw)
    # The moderator's words and what the lead tells, never the mentioner's own words.
    assert "Det drejer sig om: Holbæk Kommune, Holbæk." in body
    assert "Vi har hørt om jeres KOL-kuffert." in body and "KOL-projekt" not in body
    token = re.search(r"/indmeld\?lead=([A-Za-z0-9_-]+)", body)
    assert token is not None
    (lead,) = await _leads(db)
    assert lead.state == "invited" and lead.invite_token_hash != token.group(1)

    app = create_app(settings, db, components=("bot.public.web", "intake.chat.web"),
                     start_workers=False)
    async with TestClient(TestServer(app)) as c:
        page = await c.get("/indmeld", params={"lead": token.group(1)})
        html = await page.text()
        assert "Du er inviteret" in html and 'value="Holbæk Kommune"' in html
        assert 'value="leder@holbaek.dk"' in html
        assert page.headers["Cache-Control"] == "no-store"
        csrf_value = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf_value is not None
        resp = await c.post("/indmeld", data={
            "csrf": csrf_value.group(1), "lead": token.group(1),
            "title": "KOL-kuffert i Holbæk", "description": "Borgere med KOL får en kuffert.",
            "status": "projekt", "participants": ["kommune"], "regions": ["sjaelland"],
            "organisation": "Holbæk Kommune", "contact_name": "Lene Leder",
            "contact_email": "leder@holbaek.dk", "not_duplicate": "1"},
            allow_redirects=False)
        assert resp.status == 303, await resp.text()
        unknown = await (await c.get("/indmeld", params={"lead": "x" * 43})).text()
        assert "Du er inviteret" not in unknown
        # Sent, not yet verified: the lead points at the case and stays invited.
        (lead,) = await _leads(db)
        assert lead.state == "invited" and lead.registered_submission_id is not None
        async with db.read() as s:
            sub = await s.get(Submission, lead.registered_submission_id)
            assert sub is not None and sub.kind == "new" and sub.state == "unverified"
            mail = await s.scalar(select(OutboxMessage).where(
                OutboxMessage.kind == "verification"))
            assert mail is not None
        # The address is verified: the case enters the queue and the lead is registered.
        resp = await c.post(verify_link(mail))
        assert resp.status == 200
    (lead,) = await _leads(db)
    assert lead.state == "registered"
    async with db.read() as s:
        sub = await s.get(Submission, lead.registered_submission_id)
        assert sub is not None and sub.state == "pending"
        actions = list(await s.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("lead.%")).order_by(AuditEvent.id)))
    assert actions == ["lead.added", "lead.invited", "lead.registered"]


@pytest.mark.asyncio
async def test_dismissed_once_and_the_form_asks_too(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.app import create_app
    from moderation.leads import record_leads
    from tests.test_answer_pages import current_form, form_of, post_data, reminder_token

    entry = await make_initiative()
    token = await reminder_token(db, entry)
    app = create_app(settings, db, components=("bot.mail_service",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        html, mac = await form_of(c, token)
        assert "Kender du telemedicinske initiativer" in html
        data = post_data(current_form(entry), mac) + [
            ("leads", "Sårapp i Vejle Kommune\nVideotolkning, Region Midtjylland")]
        resp = await c.post(f"/ret/{token}", data=data, allow_redirects=False)
        assert resp.status == 303
        await c.post(f"/ret/{token}", data=data, allow_redirects=False)  # sent twice
    got = await _leads(db)
    assert [(lead.channel, lead.text) for lead in got] == [
        ("web", "Sårapp i Vejle Kommune"), ("web", "Videotolkning, Region Midtjylland")]
    assert got[0].initiative_id == entry.id and got[0].mentioned_by == "kontakt1@example.dk"
    await dismiss_lead(db, got[0].id, actor="anna", reason="findes allerede")
    with pytest.raises(LeadError):
        await dismiss_lead(db, got[0].id, actor="bo")
    with pytest.raises(LeadError):
        await invite_lead(db, settings, got[0].id, to_addr="a@b.dk", actor="bo", lang="da")
    async with db.write() as s:
        assert await record_leads(s, [], channel="web", key="x") == 0


@pytest.mark.asyncio
async def test_an_invitation_sent_again_gets_a_new_link_and_the_old_one_stops(
        db: Database, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moderation.leads import lead_for_token, record_leads, reinvite_lead
    from tests.moderation_support import login, moderation_client, use_fast_hashes

    use_fast_hashes(monkeypatch)
    async with db.write() as s:
        await record_leads(s, find_leads("Vi kender også til et projekt i Lejre Kommune."),
                           channel="email", key="t:re", mentioned_by="a@example.dk")
    (lead,) = await _leads(db)
    with pytest.raises(LeadError):  # not invited yet
        await reinvite_lead(db, settings, lead.id, actor="anna", lang="da")
    await invite_lead(db, settings, lead.id, to_addr="sundhed@lejre.dk", actor="anna",
                      lang="da")
    async with moderation_client(db, settings, ("anna", "moderator")) as c:
        csrf = await login(c)
        page = await (await c.get("/moderation/leads?state=invited")).text()
        assert "Send invitationen igen" in page and "Linket virker til" in page
        resp = await c.post("/moderation/leads/reinvite", data={
            "csrf_token": csrf, "lead_id": str(lead.id), "lang": "en"},
            allow_redirects=False)
        assert resp.status == 303
        await reinvite_lead(db, settings, lead.id, actor="anna", lang="da")
    async with db.read() as s:
        mails = list(await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "lead_invite").order_by(OutboxMessage.id)))
        assert [m.idempotency_key for m in mails] == [
            f"lead-invite:{lead.id}", f"lead-invite:{lead.id}:2", f"lead-invite:{lead.id}:3"]
        assert {m.to_addr for m in mails} == {"sundhed@lejre.dk"}
        tokens = [re.search(r"/indmeld\?lead=([A-Za-z0-9_-]+)", plain_text(m.raw))
                  for m in mails]
        assert all(tokens)
        # Only the newest link works.
        assert await lead_for_token(s, tokens[0].group(1)) is None  # type: ignore[union-attr]
        assert await lead_for_token(s, tokens[1].group(1)) is None  # type: ignore[union-attr]
        assert await lead_for_token(s, tokens[2].group(1)) is not None  # type: ignore[union-attr]
        assert "You are invited" in plain_text(mails[1].raw) or \
            "register" in plain_text(mails[1].raw)
        actions = list(await s.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("lead.%")).order_by(AuditEvent.id)))
    assert actions == ["lead.added", "lead.invited", "lead.reinvited", "lead.reinvited"]
