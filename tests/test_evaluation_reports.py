"""An entry's evaluation report as an attached PDF (#19): a contact replies with the
report attached; a moderator attaches it to the entry from the case (only a real PDF);
the entry page links it and serves it as a download the browser never runs; removing it
is one button. Both are audited; the reminder asks for the report."""
from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.core.db import Database
from bot.registry.evaluation_reports import NotAReport, check_report, report_filename
from intake.inbox.models import InboundMessage
from moderation.models import AuditEvent
from tests.conftest import MakeInitiative, MakeSubmission
from tests.moderation_support import add_user, login, use_fast_hashes

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _reply(files: list[tuple[str, str, bytes]]) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: {ctype}; name=\"{name}\"\r\n"
        f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(data).decode()}\r\n"
        for name, ctype, data in files)
    return ("From: Kim Kontakt <kontakt1@example.dk>\r\nTo: landkort@example.org\r\n"
            "Subject: SV: Påmindelse\r\nMessage-ID: <report@example.dk>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Evalueringsstatus: evalueret. Rapporten er vedhæftet.\r\n"
            f"{parts}--b--\r\n").encode()


def test_only_a_pdf_of_a_publishable_size_is_a_report() -> None:
    check_report(PDF)
    for bad, key in ((b"", "err.report_empty"), (b"<html>%PDF-", "err.report_not_pdf"),
                     (b"MZ\x90\x00", "err.report_not_pdf")):
        with pytest.raises(NotAReport) as caught:
            check_report(bad)
        assert caught.value.key == key
    assert report_filename("C:\\Users\\kim\\Rapport 2025.PDF") == "Rapport 2025.PDF"
    assert report_filename("../../etc/passwd") == "passwd.pdf"
    assert report_filename("evil\r\nname\x00.pdf") == "evilname.pdf"
    assert report_filename("") == "evalueringsrapport.pdf"


@pytest.mark.asyncio
async def test_a_moderator_attaches_the_reply_s_pdf_and_the_entry_publishes_it(
        db: Database, settings: Any, make_initiative: MakeInitiative,
        make_submission: MakeSubmission, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)
    entry = await make_initiative(title="KOL-kuffert")
    raw = _reply([("Evaluering KOL-kuffert.pdf", "application/pdf", PDF),
                  ("falsk.pdf", "application/pdf", b"<script>alert(1)</script>")])
    async with db.write() as session:
        inbound = InboundMessage(source="cli", content_hash="r" * 64, raw=raw, size=len(raw),
                                 from_addr="kontakt1@example.dk", subject="SV: Påmindelse",
                                 state="done")
        session.add(inbound)
        await session.flush()
        inbound_id = inbound.id
    sub = await make_submission(initiative=entry, kind="update",
                                proposed={"evaluation_status": "evalueret"},
                                inbound_message_id=inbound_id)
    new_case = await make_submission(kind="new", proposed={"title": "Nyt"},
                                     inbound_message_id=inbound_id)
    await add_user(db, "anna")
    app = create_app(settings, db, components=("moderation.web.routes", "bot.public.web"),
                     start_workers=False)
    async with TestClient(TestServer(app)) as c:
        csrf = await login(c, "anna")
        page = await (await c.get(f"/moderation/item/{sub.id}")).text()
        assert page.count("Læg på opslaget som evalueringsrapport") == 2
        # Not a PDF, whatever its name and type say.
        fake = await c.post(f"/moderation/item/{sub.id}/attachment/1/evaluation-report",
                            data={"csrf_token": csrf})
        assert fake.status == 400 and "ikke en PDF" in await fake.text()
        # A new entry's case has no entry to attach to yet.
        early = await c.post(f"/moderation/item/{new_case.id}/attachment/0/"
                             "evaluation-report", data={"csrf_token": csrf})
        assert early.status == 400 and "godkend det nye opslag først" in await early.text()
        no_csrf = await c.post(f"/moderation/item/{sub.id}/attachment/0/evaluation-report")
        assert no_csrf.status == 403
        ok = await c.post(f"/moderation/item/{sub.id}/attachment/0/evaluation-report",
                          data={"csrf_token": csrf}, allow_redirects=False)
        assert ok.status == 303
        page = await (await c.get(ok.headers["Location"])).text()
        assert "Evalueringsrapporten er lagt på opslaget." in page
        assert "Opslagets evalueringsrapport: Evaluering KOL-kuffert.pdf" in page

        public = await (await c.get(f"/initiativ/{entry.slug}")).text()
        assert "Evaluering KOL-kuffert.pdf (PDF, 1 kB)" in public
        assert f'href="/initiativ/{entry.slug}/evalueringsrapport.pdf"' in public
        pdf = await c.get(f"/initiativ/{entry.slug}/evalueringsrapport.pdf")
        assert pdf.status == 200 and await pdf.read() == PDF
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.headers["Content-Disposition"].startswith("attachment;")
        assert pdf.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in pdf.headers["Content-Security-Policy"]

        gone = await c.post(f"/moderation/item/{sub.id}/evaluation-report/remove",
                            data={"csrf_token": csrf}, allow_redirects=False)
        assert gone.status == 303
        assert (await c.get(f"/initiativ/{entry.slug}/evalueringsrapport.pdf")).status == 404
        again = await c.post(f"/moderation/item/{sub.id}/evaluation-report/remove",
                             data={"csrf_token": csrf})
        assert again.status == 400
    async with db.read() as s:
        actions = list(await s.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("evaluation_report.%")).order_by(AuditEvent.id)))
    assert actions == ["evaluation_report.attached", "evaluation_report.removed"]


def test_the_reminder_asks_for_the_report(settings: Any) -> None:
    from bot.campaigns.reminders import render_reminder
    from tests.conftest import sample_record

    for lang, words in (("da", "Vedhæft gerne evalueringsrapporten som PDF"),
                        ("en", "Attach the evaluation report as a PDF")):
        mail = render_reminder(settings, sample_record(), step=1, lang=lang,
                               reply_token="r" * 43, unsubscribe_token="u" * 43)
        assert words in mail.text and mail.html is not None and words in mail.html


@pytest.mark.asyncio
async def test_a_cache_revalidates_and_a_merge_takes_the_report_along(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.registry.evaluation_reports import attach_report
    from moderation.decisions import merge_initiatives

    source = await make_initiative(title="Gammelt opslag")
    target = await make_initiative(title="Det rigtige opslag")
    async with db.write() as session:
        await attach_report(session, source.id, filename="r.pdf", data=PDF,
                            source="case:1", actor="anna")
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        first = await c.get(f"/initiativ/{source.slug}/evalueringsrapport.pdf")
        etag = first.headers["ETag"]
        assert first.status == 200 and first.headers["Cache-Control"] == "no-cache"
        again = await c.get(f"/initiativ/{source.slug}/evalueringsrapport.pdf",
                            headers={"If-None-Match": etag})
        assert again.status == 304 and not await again.read()
        await merge_initiatives(db, source.id, target.id, actor="anna")
        moved = await c.get(f"/initiativ/{source.slug}/evalueringsrapport.pdf")
        assert moved.status == 200 and await moved.read() == PDF
        assert str(moved.url).endswith(f"/initiativ/{target.slug}/evalueringsrapport.pdf")
