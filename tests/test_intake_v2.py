"""Parse contract v2 through the service: a reply that clears a value and says in a
sentence that the initiative ended becomes a queue item whose diff says "remove the
value" and shows the sentence as a suggestion; approving clears the value in a new
version. A reply that gave nothing readable goes to the moderators without a mail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from moderation import decisions
from moderation.models import Submission
from moderation.web.item_view import load_item
from tests.conftest import MakeInitiative
from tests.test_intake_processor import eml, receive, submissions, token_for


@pytest.mark.asyncio
async def test_clearing_and_a_sentence_reach_the_queue_and_the_registry(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk", status="i_drift",
                                website="https://tele.example.dk", end_date="2026-12-31")
    token = await token_for(db, ini)
    await receive(db, settings, eml("clear_and_sentence_da.eml", token=token))
    [sub] = await submissions(db)
    # "Hjemmeside: slet" clears; "Slutdato:" emptied means not given, and the sentence
    # after it is not its value; the sentence says the initiative ended, and when.
    assert sub.proposed == {"website": None, "status": "afsluttet", "end_date": "2025-11"}
    assert set(sub.field_sources) == {"status", "end_date"}
    assert sub.field_sources["status"]["via"] == "sentence"
    assert "lukkede tilbuddet i november 2025" in sub.field_sources["status"]["text"]
    assert sub.problems == []

    view = await load_item(db, sub.id, lang="da")
    assert view is not None
    rows = {r.key: r for r in view.rows}
    assert rows["website"].clears and rows["website"].source == "label"
    assert rows["status"].source == "sentence" and not rows["status"].clears

    await decisions.approve(db, sub.id, actor="anna")
    async with db.read() as s:
        from bot.registry.models import Initiative
        fresh = await s.get(Initiative, ini.id)
        assert fresh is not None
        assert fresh.website is None and fresh.status == "afsluttet"
        assert fresh.end_date == "2025-11" and fresh.version == ini.version + 1


@pytest.mark.asyncio
async def test_nothing_readable_goes_to_moderators_without_a_mail(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    ini = await make_initiative(contact_email="mette.jensen@example.dk")
    token = await token_for(db, ini)
    await receive(db, settings, eml("nothing_read_da.eml", token=token))
    [sub] = await submissions(db)
    assert "nothing_read" in sub.flags and sub.kind != "confirmation"
    async with db.read() as s:
        assert (await s.scalars(select(OutboxMessage))).all() == []
        assert (await s.get(Submission, sub.id)) is not None
