"""The administrators' mail pages over HTTP: outgoing mail with retry and discard, the
test mail through a real SMTP server, received mail with how it was read, blocked
addresses with an audited reset, and the campaign dashboard."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail import outbox
from bot.mail.models import CampaignStep, OutboxMessage
from bot.mail.sender import OutboxSender
from bot.mail.templates import RenderedMail
from bot.registry.models import Contact, Initiative
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation.models import AuditEvent
from tests.conftest import MakeInitiative, MakeSubmission
from tests.moderation_support import csrf_of, login, moderation_client, use_fast_hashes
from tests.smtp_sink import SmtpSink

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    async with moderation_client(db, settings, ("ada", "admin"), ("anna", "moderator")) as c:
        yield c


async def queued(db: Database, settings: Settings, to: str = "modtager@example.dk", *,
                 state: str = "pending", contact_id: int | None = None,
                 kind: str = "reminder") -> int:
    """An outbox row in ``state`` (as the sender would have left it)."""
    mail = RenderedMail(subject="Påmindelse om jeres opslag", text="Hej\n", html=None)
    async with db.write() as session:
        row = await outbox.enqueue(
            session, outbox.compose(settings, to_addr=to, mail=mail, kind=kind), kind=kind,
            contact_id=contact_id)
        assert row is not None
        row.state = state
        if state == "failed":
            row.attempts, row.smtp_code, row.last_error = 8, 451, "451 4.3.0 try later"
        return row.id


async def audit_actions(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    async with db.read() as session:
        return [(e.actor, e.action, dict(e.detail or {})) for e in await session.scalars(
            select(AuditEvent).order_by(AuditEvent.id))]


async def state_of(db: Database, outbox_id: int) -> OutboxMessage:
    async with db.read() as session:
        row = await session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


@pytest.mark.asyncio
async def test_the_mail_pages_are_for_administrators_only(client: Client) -> None:
    await login(client, "anna")
    html = await (await client.get("/moderation")).text()
    assert 'href="/moderation/mail"' not in html  # no link a moderator cannot follow
    for path in ("/moderation/mail", "/moderation/mail/received",
                 "/moderation/mail/addresses", "/moderation/mail/campaigns"):
        assert (await client.get(path)).status == 403, path
    client.session.cookie_jar.clear()
    await login(client, "ada")
    html = await (await client.get("/moderation")).text()
    assert 'href="/moderation/mail"' in html


@pytest.mark.asyncio
async def test_outgoing_mail_by_state_and_a_failed_mail_sent_again(
        client: Client, db: Database, settings: Settings) -> None:
    sent = await queued(db, settings, "sendt@example.dk", state="sent")
    failed = await queued(db, settings, "fejl@example.dk", state="failed")
    await login(client, "ada")
    html = await (await client.get("/moderation/mail")).text()
    assert "sendt@example.dk" in html and "fejl@example.dk" in html
    html = await (await client.get("/moderation/mail?state=failed")).text()
    assert "fejl@example.dk" in html and "sendt@example.dk" not in html
    assert "451 4.3.0 try later" in html

    page = await client.get(f"/moderation/mail/{failed}")
    html = await page.text()
    assert "Send igen" in html and "Kassér" in html
    resp = await client.post(f"/moderation/mail/{failed}/retry",
                             data={"csrf_token": csrf_of(html)})
    assert resp.status == 200 and "Mailen sendes igen." in await resp.text()
    row = await state_of(db, failed)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, None)
    assert ("ada", "mail.retried", {"outbox_id": failed, "to": "fejl@example.dk"}) in \
        await audit_actions(db)

    # A sent mail has neither button, and a forged retry is refused with words.
    html = await (await client.get(f"/moderation/mail/{sent}")).text()
    assert "Send igen" not in html
    resp = await client.post(f"/moderation/mail/{sent}/retry",
                             data={"csrf_token": csrf_of(html)})
    assert resp.status == 400 and "Kun en fejlet mail kan sendes igen." in await resp.text()
    assert (await state_of(db, sent)).state == "sent"


@pytest.mark.asyncio
async def test_a_mail_to_a_blocked_or_redacted_address_is_not_sent_again(
        client: Client, db: Database, settings: Settings,
        make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email="afviser@example.dk")
    async with db.write() as session:
        await session.execute(update(Contact).where(Contact.id == entry.contact_id)
                              .values(email_status="bouncing"))
    redacted = await queued(db, settings, "gammel@example.dk", state="failed")
    # A failed mail keeps its tokens for a week, so it can be sent again meanwhile ...
    assert await outbox.redact_finished(db) == 0
    # ... and loses them after that.
    assert await outbox.redact_finished(db, now=dbnow() + outbox.FAILED_KEPT
                                        + timedelta(minutes=1)) == 1
    blocked = await queued(db, settings, "afviser@example.dk", state="failed",
                           contact_id=entry.contact_id)
    csrf = await login(client, "ada")
    resp = await client.post(f"/moderation/mail/{blocked}/retry", data={"csrf_token": csrf})
    assert resp.status == 400 and "Nulstil adressen" in await resp.text()
    resp = await client.post(f"/moderation/mail/{redacted}/retry", data={"csrf_token": csrf})
    assert resp.status == 400 and "personlige links er fjernet" in await resp.text()
    assert (await state_of(db, blocked)).state == "failed"
    assert (await state_of(db, redacted)).state == "failed"


@pytest.mark.asyncio
async def test_discarding_a_waiting_reminder_skips_its_campaign_step(
        client: Client, db: Database, settings: Settings,
        make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    waiting = await queued(db, settings, "venter@example.dk")
    async with db.write() as session:
        session.add(CampaignStep(initiative_id=entry.id, cycle=2026, step=1,
                                 contact_id=entry.contact_id, state="planned",
                                 outbox_id=waiting))
    csrf = await login(client, "ada")
    resp = await client.post(f"/moderation/mail/{waiting}/discard", data={"csrf_token": csrf})
    assert resp.status == 200 and "Mailen er kasseret" in await resp.text()
    assert (await state_of(db, waiting)).state == "cancelled"
    async with db.read() as session:
        step = await session.scalar(select(CampaignStep))
        assert step is not None and (step.state, step.note) == ("skipped", "discarded")
    assert ("ada", "mail.discarded", {"outbox_id": waiting, "to": "venter@example.dk"}) in \
        await audit_actions(db)
    # Once discarded, it stays discarded: a second discard is refused.
    resp = await client.post(f"/moderation/mail/{waiting}/discard", data={"csrf_token": csrf})
    assert resp.status == 400


@pytest.mark.asyncio
async def test_a_test_mail_reaches_a_real_smtp_server(
        client: Client, db: Database, settings: Settings) -> None:
    csrf = await login(client, "ada")
    resp = await client.post("/moderation/mail/test", data={"csrf_token": csrf,
                                                            "to": "ikke en adresse"})
    assert resp.status == 400 and "Skriv en gyldig e-mailadresse" in await resp.text()
    resp = await client.post("/moderation/mail/test",
                             data={"csrf_token": csrf, "to": "drift@example.dk"})
    assert resp.status == 200 and "Testmailen ligger i udbakken" in await resp.text()
    async with SmtpSink() as sink:
        sender = OutboxSender(settings.replace(
            smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=sink.port,
            smtp_security="plain"), db, idle_seconds=0.05)
        await sender.start()
        try:
            for _ in range(200):
                if sink.messages:
                    break
                await asyncio.sleep(0.02)
        finally:
            await sender.stop()
        assert [m.rcpt_tos for m in sink.messages] == [["drift@example.dk"]]
        body = sink.messages[0].data.decode()
        assert "Testmail fra Det telemedicinske landkort" in body
        assert "Auto-Submitted: auto-generated" in body
    actions = await audit_actions(db)
    assert actions[-1][:2] == ("ada", "mail.test_queued")


@pytest.mark.asyncio
async def test_received_mail_lists_every_mail_and_explains_how_it_was_read(
        client: Client, db: Database, settings: Settings) -> None:
    new = (b"From: Hanne Krogh <hanne@odense.dk>\r\nTo: landkort@example.org\r\n"
           b"Subject: Nyt initiativ\r\nMessage-ID: <n1@odense.dk>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Titel: Video i hjemmeplejen\r\nStatus: Projekt\r\nStartdato: i morgen tidlig\r\n")
    auto = (b"From: ferie@region.dk\r\nTo: landkort@example.org\r\nSubject: Fravaer\r\n"
            b"Auto-Submitted: auto-replied\r\nMessage-ID: <a1@region.dk>\r\n\r\n"
            b"Jeg er paa ferie.\r\n")
    first = await store_message(db, new, source="cli")
    await store_message(db, auto, source="cli")
    await process_pending(db, settings)
    await login(client, "ada")
    html = await (await client.get("/moderation/mail/received")).text()
    assert "hanne@odense.dk" in html and "ferie@region.dk" in html
    assert "Nyt initiativ" in html and "Autosvar" in html
    html = await (await client.get("/moderation/mail/received?kind=auto_reply")).text()
    assert "ferie@region.dk" in html and "hanne@odense.dk" not in html

    html = await (await client.get(f"/moderation/inbound/{first.id}")).text()
    assert "Sådan blev mailen læst" in html
    assert "ingen svarkode" in html
    assert "Sag i køen" in html and "svar om fejl sendt" in html
    assert "Titel" in html and "Video i hjemmeplejen" in html and "linje med feltnavn" in html
    assert "Det blev afsenderen bedt om at rette" in html  # the date it could not read
    html = await (await client.get(f"/moderation/inbound/{first.id}?lang=en")).text()
    assert "How the mail was read" in html and "a line with the field name" in html


@pytest.mark.asyncio
async def test_resetting_a_bouncing_address_needs_a_reason_and_is_audited(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(contact_email="fuld@example.dk")
    async with db.write() as session:
        await session.execute(update(Contact).where(Contact.id == entry.contact_id)
                              .values(email_status="bouncing", soft_bounces=3,
                                      last_bounce_at=dbnow()))
        await session.execute(update(Initiative).where(Initiative.id == entry.id)
                              .values(needs_new_contact=True))
    await login(client, "ada")
    html = await (await client.get("/moderation/mail/addresses")).text()
    assert "fuld@example.dk" in html and "Afviser post" in html
    data = {"csrf_token": csrf_of(html), "contact_id": str(entry.contact_id)}
    resp = await client.post("/moderation/mail/addresses/reset", data={**data, "reason": " "})
    assert resp.status == 400 and "Skriv hvorfor" in await resp.text()
    resp = await client.post("/moderation/mail/addresses/reset",
                             data={**data, "reason": "Postkassen er tømt, ringede i dag"})
    assert resp.status == 200
    html = await resp.text()
    assert "Adressen er nulstillet" in html and "fuld@example.dk" not in html
    async with db.read() as session:
        contact = await session.get(Contact, entry.contact_id)
        again = await session.get(Initiative, entry.id)
        assert contact is not None and again is not None
        assert (contact.email_status, contact.soft_bounces) == ("ok", 0)
        assert again.needs_new_contact is False
    assert ("ada", "contact.mail_reset", {
        "contact_id": entry.contact_id, "to": "fuld@example.dk", "status_before": "bouncing",
        "reason": "Postkassen er tømt, ringede i dag"}) in await audit_actions(db)
    # The audit log says it in words.
    html = await (await client.get("/moderation/audit")).text()
    assert "Adresse nulstillet" in html and "før: Afviser post" in html


@pytest.mark.asyncio
async def test_the_campaign_dashboard_counts_each_cycle_and_region(
        client: Client, db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    answered = await make_initiative(regions=["syddanmark"])
    silent = await make_initiative(regions=["nordjylland"])
    start = dbnow() - timedelta(days=20)
    async with db.write() as session:
        for entry in (answered, silent):
            session.add(CampaignStep(initiative_id=entry.id, cycle=2026, step=1,
                                     contact_id=entry.contact_id, state="sent",
                                     created_at=start))
    await make_submission(initiative=answered, kind="confirmation", channel="email")
    await queued(db, settings, "naeste@example.dk")  # a reminder still in the outbox
    await login(client, "ada")
    html = await (await client.get("/moderation/mail/campaigns")).text()
    assert "Pr. cyklus" in html and "Cyklus 2026 pr. region" in html
    assert "Påmindelser, der venter i udbakken: 1" in html
    by_cycle = html.split("<caption>Pr. cyklus</caption>", 1)[1].split("</table>", 1)[0]
    assert '<th scope="col">2026</th>' in by_cycle

    def figure(table: str, label: str) -> str:
        cell = table.split(f'<th scope="row">{label}</th>', 1)[1].split("<td>", 1)[1]
        return cell.split("</td>", 1)[0].replace('<span class="muted">', "") \
            .replace("</span>", "").replace("\xa0", " ").strip()
    assert [figure(by_cycle, label) for label in (
        "Forfaldne", "Mails sendt", "Svaret", "Via bekræft-link", "Via mail", "Intet svar",
        "Afvist", "Frameldt")] == ["2", "2", "1 (50 %)", "0", "1", "1 (50 %)", "0 (0 %)", "0"]
    by_region = html.split("<caption>Cyklus 2026 pr. region</caption>", 1)[1]
    # Regions by their names, in the vocabulary's order.
    assert by_region.index("Region Nordjylland") < by_region.index("Region Syddanmark")


@pytest.mark.asyncio
async def test_the_mail_pages_never_show_a_live_reply_token(
        client: Client, db: Database, settings: Settings) -> None:
    token = "T" * 32
    mail = RenderedMail(subject="Er jeres opslag stadig rigtigt?", text="Hej\n", html=None)
    async with db.write() as session:
        row = await outbox.enqueue(session, outbox.compose(
            settings, to_addr="kontakt@example.dk", mail=mail, kind="reminder",
            reply_token=token), kind="reminder")
        assert row is not None
    assert row.subject == "Er jeres opslag stadig rigtigt?"  # stored without the tag
    await login(client, "ada")
    listing = await (await client.get("/moderation/mail")).text()
    one = await (await client.get(f"/moderation/mail/{row.id}")).text()
    assert "Er jeres opslag stadig rigtigt?" in listing
    assert token not in listing and token not in one
