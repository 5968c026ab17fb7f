"""Outreach (#19): an administrator imports an address book of organisations (CSV, each
row it cannot read listed with what to fix), and an outreach campaign mails those whose
area has no or few initiatives of their own sector — inside the sending window, once per
step, with follow-ups, never to an address that opted out or bounces — with a personal
link that opens /indmeld prefilled; a verified case stops the follow-ups. The figures
come from the steps, the outbox and the contacts."""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.campaigns.outreach import Due, due_now, next_step, run_tick
from bot.core.db import Database, dbnow
from bot.mail.contacts import opt_out_contact
from bot.mail.models import OutboxMessage
from bot.registry.models import Contact
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.address_book import import_address_book, parse_address_book
from moderation.models import AuditEvent, OutreachRecipient, OutreachStep, Submission
from moderation.outreach import (
    OutreachError,
    coverage,
    covered,
    create_campaign,
    outreach_stats,
    start_campaign,
    stop_campaign,
    targets,
)
from tests.conftest import MakeInitiative
from tests.test_campaign_digest import plain_text
from tests.test_chat_web import verify_link
from tests.test_mail_attacks import dsn

BOOK = (
    "Organisation;Type;E-mail;Kommune;Region;Kontaktperson\r\n"
    "Odense Kommune, Sundhed;kommune;sundhed@odense.dk;Odense;;Ole Olsen\r\n"
    "Svendborg Kommune;Kommune;sundhed@svendborg.dk;479;Region Syddanmark;\r\n"
    "Praksis Syd;almen praksis;praksis@syd.dk;Svendborg;;\r\n"
    "Sjællands Universitetshospital;sygehus;suh@regionsjaelland.dk;;Region Sjælland;\r\n"
    "Ingen adresse;kommune;;Køge;;\r\n"
    "Forkert adresse;kommune;ikke en adresse;Køge;;\r\n"
    "Ukendt type;apotek;apotek@koege.dk;Køge;;\r\n"
    "Stavefejl;kommune;sundhed@naestved.dk;Næstvd;;\r\n"
    "Forkert region;kommune;sundhed@holbaek.dk;Holbæk;Region Syddanmark;\r\n"
    "Odense igen;kommune;SUNDHED@odense.dk;Odense;;\r\n"
    "Kommune uden kommune;kommune;k@example.dk;;Region Sjælland;\r\n"
).encode("cp1252")


def test_the_address_book_reads_what_it_can_and_names_each_bad_row() -> None:
    book = parse_address_book(BOOK, "da")
    assert [(r.name, r.kind, r.email, r.municipality, r.region) for r in book.rows] == [
        ("Odense Kommune, Sundhed", "kommune", "sundhed@odense.dk", "Odense", "syddanmark"),
        # the three-digit municipality code, and a region that agrees with it
        ("Svendborg Kommune", "kommune", "sundhed@svendborg.dk", "Svendborg", "syddanmark"),
        ("Praksis Syd", "almen_praksis", "praksis@syd.dk", "Svendborg", "syddanmark"),
        ("Sjællands Universitetshospital", "sygehus", "suh@regionsjaelland.dk", None,
         "sjaelland"),
    ]
    assert book.rows[0].contact_name == "Ole Olsen" and book.encoding == "windows-1252"
    by_line = {(e.line, e.field): e.message for e in book.errors}
    assert set(by_line) == {(6, "email"), (7, "email"), (8, "kind"), (9, "municipality"),
                            (10, "region"), (11, "email"), (12, "municipality")}
    assert "mangler" in by_line[(6, "email")]
    assert "Skriv én af: Almen praksis, Kommune, Sygehus" in by_line[(8, "kind")]
    assert "Mente du: Næstved" in by_line[(9, "municipality")] or \
        "Næstved" in by_line[(9, "municipality")]
    assert "Holbæk ligger ikke i" in by_line[(10, "region")]
    assert "linje 2" in by_line[(11, "email")]
    english = parse_address_book(BOOK, "en")
    assert any("is not an e-mail address" in e.message for e in english.errors)


def test_a_file_without_the_needed_columns_says_which() -> None:
    book = parse_address_book(b"Navn,Telefon\r\nOdense,1234\r\n", "en")
    assert not book.rows and len(book.errors) == 1
    assert "type, e-mail" in book.errors[0].message
    assert parse_address_book(b"", "da").errors[0].message == "Filen er tom."


def test_coverage_counts_the_organisations_own_sector_in_its_area() -> None:
    cov = coverage([
        (["kommune", "sygehus"], ["Odense"], ["syddanmark"]),
        (["sygehus"], ["Svendborg"], ["syddanmark"]),
        (["almen_praksis", "sygehus"], [], ["sjaelland"]),
    ])
    assert covered(cov, "kommune", "Odense", "syddanmark") == 1
    # hospital projects in Svendborg do not cover the municipality's own sector
    assert covered(cov, "kommune", "Svendborg", "syddanmark") == 0
    assert covered(cov, "sygehus", None, "syddanmark") == 2
    assert covered(cov, "almen_praksis", "Køge", "sjaelland") == 0
    assert covered(cov, "almen_praksis", None, "sjaelland") == 1


def test_steps_follow_the_reminders_gaps_and_stop_when_registered(settings: Any) -> None:
    start = datetime(2026, 12, 1, 9, 0)  # a Tuesday, 10:00 in Copenhagen
    fresh = Due(1, 1, start, "waiting", None, None)
    assert next_step(fresh, settings) == (1, start)
    after1 = Due(1, 1, start, "waiting", 1, start)
    assert next_step(after1, settings) == (2, start + timedelta(
        days=settings.reminder_step2_days))
    after3 = Due(1, 1, start, "waiting", 3, start)
    assert next_step(after3, settings) is None
    assert next_step(Due(1, 1, start, "registered", 1, start), settings) is None
    # Outside the sending window (Sunday) nothing is due.
    sunday = datetime(2026, 12, 6, 10, 0)
    assert due_now([fresh], sunday, settings) == []
    assert due_now([fresh], start, settings) == [(fresh, 1)]


async def _setup(db: Database, make_initiative: MakeInitiative) -> int:
    # Odense's municipality takes part in one initiative; Svendborg's takes part in none
    # (only its hospital does); no initiative with general practice anywhere.
    await make_initiative(title="Video i hjemmeplejen", participants=["kommune"],
                          municipalities=["Odense"], regions=["syddanmark"],
                          status="i_drift")
    await make_initiative(title="Sår i Svendborg", participants=["sygehus"],
                          municipalities=["Svendborg"], regions=["syddanmark"],
                          status="projekt")
    result = await import_address_book(db, parse_address_book(BOOK).rows, actor="admin")
    assert (result.added, result.updated, result.unchanged) == (4, 0, 0)
    again = await import_address_book(db, parse_address_book(BOOK).rows, actor="admin")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    campaign = await create_campaign(db, name="Efterår 2026", max_initiatives=0,
                                     kinds=[], note="Vi vil gerne høre fra jer.",
                                     actor="admin")
    return campaign.id


async def _steps(db: Database) -> list[tuple[str, int, str]]:
    async with db.read() as s:
        rows = (await s.execute(
            select(Contact.email, OutreachStep.step, OutreachStep.state)
            .join(OutreachRecipient, OutreachRecipient.id == OutreachStep.recipient_id)
            .join(Contact, Contact.id == OutreachRecipient.contact_id)
            .order_by(Contact.email, OutreachStep.step))).all()
    return [(e, n, st) for e, n, st in rows]


async def _mark_sent(db: Database) -> None:
    from sqlalchemy import update

    async with db.write() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.state == "pending")
                        .values(state="sent", sent_at=dbnow()))


@pytest.mark.asyncio
async def test_a_campaign_mails_the_uncovered_once_follows_up_and_counts(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    campaign_id = await _setup(db, make_initiative)
    # The draft shows whom it would mail: everyone but Odense's municipality.
    preview = await targets(db, campaign_id)
    assert sorted(t.email for t in preview) == [
        "praksis@syd.dk", "suh@regionsjaelland.dk", "sundhed@svendborg.dk"]
    # The hospital's address opted out of everything before: it is listed and skipped.
    async with db.write() as s:
        suh = await s.scalar(select(Contact).where(Contact.email == "suh@regionsjaelland.dk"))
        assert suh is not None
        await opt_out_contact(s, suh.id)
    assert await run_tick(db, settings, dbnow(), ignore_window=True) is not None
    assert await _steps(db) == []  # a draft sends nothing
    assert await start_campaign(db, campaign_id, actor="admin") == 3
    with pytest.raises(OutreachError):
        await start_campaign(db, campaign_id, actor="admin")

    now = dbnow()
    # Two instances tick at once: each step is written once.
    first, second = await asyncio.gather(
        run_tick(db, settings, now, ignore_window=True),
        run_tick(db, settings, now, ignore_window=True))
    assert first.sent + second.sent == 2 and first.skipped + second.skipped == 1
    assert await _steps(db) == [("praksis@syd.dk", 1, "planned"),
                                ("suh@regionsjaelland.dk", 1, "skipped"),
                                ("sundhed@svendborg.dk", 1, "planned")]
    async with db.read() as s:
        mails = list(await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "outreach").order_by(OutboxMessage.to_addr)))
    assert [m.to_addr for m in mails] == ["praksis@syd.dk", "sundhed@svendborg.dk"]
    gp = plain_text(mails[0].raw)
    assert "ingen igangværende telemedicinske initiativer med almen praksis i " \
           "Svendborg Kommune" in gp
    assert "Har Praksis Syd telemedicinske initiativer" in gp
    assert "Vi vil gerne høre fra jer." in gp
    assert re.search(r"/indmeld\?invitation=[A-Za-z0-9_-]{30,}", gp)
    assert b"List-Unsubscribe:" in mails[0].raw and b"Auto-Submitted:" in mails[0].raw
    municipality = plain_text(mails[1].raw)
    assert "som Svendborg Kommune deltager i" in municipality
    assert "Hej" in municipality
    await _mark_sent(db)

    # The municipality's address bounces (a DSN citing our mail).
    await store_message(db, dsn("sundhed@svendborg.dk", cites=mails[1].message_id),
                        source="cli")
    await process_pending(db, settings)

    # A follow-up after reminder_step2_days: only the practice gets one; the bouncing
    # and the opted-out addresses get a skipped step each, with the reason.
    later = now + timedelta(days=settings.reminder_step2_days, minutes=1)
    result = await run_tick(db, settings, later, ignore_window=True)
    assert (result.sent, result.skipped) == (1, 2)
    async with db.read() as s:
        notes = set(await s.scalars(select(OutreachStep.note).where(
            OutreachStep.state == "skipped")))
    assert notes == {"contact opted out", "contact address bounces"}
    assert ("praksis@syd.dk", 2, "planned") in await _steps(db)
    assert ("sundhed@svendborg.dk", 2, "skipped") in await _steps(db)
    follow_up = await _latest_mail(db, "praksis@syd.dk")
    assert "skriver igen" in plain_text(follow_up.raw)
    await _mark_sent(db)

    total, by_kind, by_region = await outreach_stats(db, campaign_id)
    assert (total.recipients, total.invited, total.followed_up, total.skipped,
            total.bounced, total.registered, total.no_answer) == (3, 2, 1, 1, 1, 0, 1)
    assert by_kind["almen_praksis"].followed_up == 1 and by_region["sjaelland"].skipped == 1

    # Stopped: no third step.
    await stop_campaign(db, campaign_id, actor="admin")
    end = later + timedelta(days=settings.reminder_last_step_days, minutes=1)
    assert (await run_tick(db, settings, end, ignore_window=True)).sent == 0
    async with db.read() as s:
        actions = list(await s.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("outreach.%")).order_by(AuditEvent.id)))
    assert actions == ["outreach.address_book", "outreach.address_book",
                       "outreach.created", "outreach.started", "outreach.stopped"]


async def _latest_mail(db: Database, to: str) -> OutboxMessage:
    async with db.read() as s:
        mail = await s.scalar(select(OutboxMessage).where(OutboxMessage.to_addr == to)
                              .order_by(OutboxMessage.id.desc()).limit(1))
    assert mail is not None
    return mail


@pytest.mark.asyncio
async def test_the_personal_link_registers_and_stops_the_follow_ups(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.app import create_app

    campaign_id = await _setup(db, make_initiative)
    await start_campaign(db, campaign_id, actor="admin")
    now = dbnow()
    await run_tick(db, settings, now, ignore_window=True)
    mail = await _latest_mail(db, "praksis@syd.dk")
    token = re.search(r"/indmeld\?invitation=([A-Za-z0-9_-]+)", plain_text(mail.raw))
    assert token is not None
    app = create_app(settings, db, components=("bot.public.web", "intake.chat.web"),
                     start_workers=False)
    async with TestClient(TestServer(app)) as c:
        page = await c.get("/indmeld", params={"invitation": token.group(1)})
        html = await page.text()
        assert "Du er inviteret" in html and 'value="Praksis Syd"' in html
        assert 'value="praksis@syd.dk"' in html
        assert re.search(r'value="almen_praksis"[^>]*checked', html)
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        resp = await c.post("/indmeld", data={
            "csrf": csrf.group(1), "lead": token.group(1),
            "title": "Hjemmemonitorering af KOL fra praksis",
            "description": "Patienter måler selv; lægen ser målingerne.",
            "status": "projekt", "participants": ["almen_praksis"],
            "regions": ["syddanmark"], "organisation": "Praksis Syd",
            "contact_name": "Pia Praktiserende", "contact_email": "praksis@syd.dk",
            "not_duplicate": "1"}, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        async with db.read() as s:
            verification = await s.scalar(select(OutboxMessage).where(
                OutboxMessage.kind == "verification"))
            assert verification is not None
        assert (await c.post(verify_link(verification))).status == 200
    async with db.read() as s:
        rec = await s.scalar(select(OutreachRecipient).where(
            OutreachRecipient.state == "registered"))
        assert rec is not None
        sub = await s.get(Submission, rec.submission_id)
        assert sub is not None and sub.state == "pending"
    later = now + timedelta(days=settings.reminder_step2_days, minutes=1)
    await run_tick(db, settings, later, ignore_window=True)
    steps = await _steps(db)
    assert ("praksis@syd.dk", 2, "planned") not in steps
    assert ("sundhed@svendborg.dk", 2, "planned") in steps
    total, _, _ = await outreach_stats(db, campaign_id)
    assert total.registered == 1
    # An unknown link opens the plain form.
    async with TestClient(TestServer(app)) as c:
        plain = await (await c.get("/indmeld", params={"invitation": "x" * 43})).text()
        assert "Du er inviteret" not in plain


@pytest.mark.asyncio
async def test_the_admin_pages(db: Database, settings: Any, make_initiative: MakeInitiative,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.moderation_support import login, moderation_client, use_fast_hashes

    use_fast_hashes(monkeypatch)
    async with moderation_client(db, settings, ("mona", "moderator")) as c:
        await login(c, "mona")
        assert (await c.get("/moderation/outreach")).status == 403
    async with moderation_client(db, settings, ("ada", "admin")) as c:
        csrf = await login(c, "ada")
        page = await (await c.get("/moderation/outreach")).text()
        assert "Adressebogen har 0 organisationer." in page
        from aiohttp import FormData

        form = FormData()
        form.add_field("csrf_token", csrf)
        form.add_field("file", BOOK, filename="adresser.csv", content_type="text/csv")
        resp = await c.post("/moderation/outreach/import", data=form)
        html = await resp.text()
        assert resp.status == 422
        assert "Importeret: 4 nye, 0 opdateret, 0 uændret." in html
        assert "7 problemer i filen" in html and "Mente du" in html
        assert "<th scope=\"row\">8</th>" in html
        no_file = await c.post("/moderation/outreach/import", data={"csrf_token": csrf})
        assert no_file.status == 400
        bad = await c.post("/moderation/outreach/new", data={
            "csrf_token": csrf, "name": "", "max_initiatives": "0"})
        assert bad.status == 400 and "Giv kampagnen et navn." in await bad.text()
        made = await c.post("/moderation/outreach/new", data={
            "csrf_token": csrf, "name": "<b>Efterår</b>", "max_initiatives": "0",
            "kind": ["almen_praksis"]}, allow_redirects=False)
        assert made.status == 303
        where = made.headers["Location"].split("?")[0]
        draft = await (await c.get(where)).text()
        assert "&lt;b&gt;Efterår&lt;/b&gt;" in draft and "<b>Efterår" not in draft
        assert "Praksis Syd" in draft and "Odense Kommune, Sundhed" not in draft
        assert "Start og skriv til 1 organisation" in draft
        started = await c.post(where + "/start", data={"csrf_token": csrf},
                               allow_redirects=False)
        assert started.status == 303
        again = await c.post(where + "/start", data={"csrf_token": csrf})
        assert again.status == 409
        running = await (await c.get(where)).text()
        assert "Sådan gik det" in running and "I gang" in running
        no_csrf = await c.post(where + "/stop", data={})
        assert no_csrf.status == 403
        assert (await c.get("/moderation/outreach/999")).status == 404
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(OutreachRecipient)) == 1


def test_line_numbers_are_the_editor_s_lines_and_excel_s_sep_line_is_read() -> None:
    data = ('sep=;\r\nOrganisation;Type;E-mail;Kommune\r\n'
            '"Sundhed,\r\nÆldre og Omsorg";kommune;sundhed@vejle.dk;Vejle\r\n'
            '\r\n'
            'Forkert;kommune;forkert;Vejle\r\n').encode()
    book = parse_address_book(data, "da")
    assert [r.name for r in book.rows] == ["Sundhed, Ældre og Omsorg"]
    # The bad row is on line 6 of the file: sep line, header, a two-line row, a blank.
    assert [(e.line, e.field) for e in book.errors] == [(6, "email")]
    # "Adresse" is a postal address in Danish, not the e-mail column.
    postal = parse_address_book(b"Organisation;Type;Adresse;E-mail;Kommune\r\n"
                                b"Vejle;kommune;Vestergade 1;s@vejle.dk;Vejle\r\n")
    assert [r.email for r in postal.rows] == ["s@vejle.dk"] and not postal.errors


@pytest.mark.asyncio
async def test_no_queued_mail_goes_after_an_opt_out_a_stop_or_a_registration(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from sqlalchemy import update

    from moderation.outreach import claim_for_registration, registration_verified

    campaign_id = await _setup(db, make_initiative)
    # English for the practice: its link keeps the token and the language.
    async with db.write() as s:
        await s.execute(update(Contact).where(Contact.email == "praksis@syd.dk")
                        .values(language="en"))
    await start_campaign(db, campaign_id, actor="admin")
    await run_tick(db, settings, dbnow(), ignore_window=True)
    english = await _latest_mail(db, "praksis@syd.dk")
    body = plain_text(english.raw)
    assert "Today the map shows no ongoing telemedicine initiatives with general " \
           "practice in Svendborg Kommune" in body
    link = re.search(r"/indmeld\?invitation=([A-Za-z0-9_-]+)&lang=en", body)
    assert link is not None, body

    # Registered through the link: its queued mail is cancelled; a second case through
    # the same link does not replace the one that registered it.
    from moderation.submissions import create_submission

    async with db.write() as s:

        case = await create_submission(s, kind="new", channel="web",
                                       proposed={"title": "KOL fra praksis"},
                                       sender_email="praksis@syd.dk", language="en",
                                       state="unverified", idempotency_key="t-reg-1",
                                       actor="web:praksis@syd.dk")
        assert case is not None
        assert await claim_for_registration(s, link.group(1), case.id)
        await registration_verified(s, case.id)
        later = await create_submission(s, kind="new", channel="web",
                                        proposed={"title": "Endnu et"},
                                        sender_email="praksis@syd.dk", language="en",
                                        state="unverified", idempotency_key="t-reg-2",
                                        actor="web:praksis@syd.dk")
        assert later is not None
        await claim_for_registration(s, link.group(1), later.id)
    async with db.read() as s:
        rec = await s.scalar(select(OutreachRecipient).where(
            OutreachRecipient.state == "registered"))
        assert rec is not None and rec.submission_id == case.id
        assert (await s.get(OutboxMessage, english.id)).state == "cancelled"  # type: ignore[union-attr]

    # An opt-out cancels the municipality's queued mail.
    municipality = await _latest_mail(db, "sundhed@svendborg.dk")
    async with db.write() as s:
        assert municipality.contact_id is not None
        await opt_out_contact(s, municipality.contact_id)
    async with db.read() as s:
        assert (await s.get(OutboxMessage, municipality.id)).state == "cancelled"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_stop_cancels_queued_mail_and_two_campaigns_do_not_overlap(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    first = await _setup(db, make_initiative)
    second = (await create_campaign(db, name="Også", max_initiatives=0, kinds=[],
                                    note="", actor="admin")).id
    assert await start_campaign(db, first, actor="admin") == 3
    # Everyone is still waiting in the first campaign: the second one writes to nobody.
    assert await start_campaign(db, second, actor="admin") == 0
    await run_tick(db, settings, dbnow(), ignore_window=True)
    await stop_campaign(db, first, actor="admin")
    async with db.read() as s:
        states = set(await s.scalars(select(OutboxMessage.state).where(
            OutboxMessage.kind == "outreach")))
    assert states == {"cancelled"}
    # The empty campaign is finished by the next tick.
    await run_tick(db, settings, dbnow(), ignore_window=True)
    from moderation.outreach import get_campaign

    assert (await get_campaign(db, second)).state == "finished"  # type: ignore[union-attr]


def test_the_mail_names_the_area_as_it_names_itself_and_counts_a_few(settings: Any) -> None:
    from bot.campaigns.outreach import render_outreach
    from moderation.models import Organisation, OutreachCampaign

    campaign = OutreachCampaign(name="x", max_initiatives=3, kinds=[], note=None)
    kbh = Organisation(name="Københavns Kommune, Sundhed", kind="kommune",
                       municipality="København", region="hovedstaden")
    for lang, words in (("da", "som Københavns Kommune deltager i, er i dag kun 2 på kortet"),
                        ("en", "that Københavns Kommune takes part in is only 2 on the map")):
        mail = render_outreach(settings, campaign, kbh, Contact(email="s@kk.dk",
                                                                language=lang),
                               step=1, covered=2, link_token="t" * 32,
                               unsubscribe_token="u" * 32)
        assert words in mail.text, mail.text
    hospital = Organisation(name="Rigshospitalet", kind="sygehus", municipality=None,
                            region="hovedstaden")
    mail = render_outreach(settings, campaign, hospital, Contact(email="r@rh.dk"), step=2,
                           covered=0, link_token="t" * 32, unsubscribe_token="u" * 32)
    assert "med sygehuse i Region Hovedstaden" in mail.text
    assert mail.subject.startswith("Påmindelse")


@pytest.mark.asyncio
async def test_the_scheduler_worker_queues_and_wakes_the_sender(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.campaigns.outreach import OutreachScheduler

    campaign_id = await _setup(db, make_initiative)
    await start_campaign(db, campaign_id, actor="admin")
    woken: list[bool] = []
    always = settings.replace(sending_days="mon,tue,wed,thu,fri,sat,sun",
                              sending_window="00:00-23:59")
    worker = OutreachScheduler(always, db, on_queued=lambda: woken.append(True))
    assert await worker.run_once() == 3 and woken == [True]
    assert await worker.run_once() == 0 and woken == [True]


@pytest.mark.asyncio
async def test_a_later_import_does_not_move_a_campaign_s_figures(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    campaign_id = await _setup(db, make_initiative)
    await start_campaign(db, campaign_id, actor="admin")
    moved = BOOK.replace(b"Praksis Syd;almen praksis;praksis@syd.dk;Svendborg",
                         b"Praksis Syd;kommune;praksis@syd.dk;K\xf8ge")
    result = await import_address_book(db, parse_address_book(moved).rows, actor="admin")
    assert result.updated == 1
    _, by_kind, by_region = await outreach_stats(db, campaign_id)
    assert by_kind["almen_praksis"].recipients == 1 and "sjaelland" in by_region
    assert by_region["syddanmark"].recipients == 2
