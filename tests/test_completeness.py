"""Completeness (#19): the one rule for what an entry lacks, shown to moderators per
entry and for the registry, and asked for first in the yearly reminder."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from bot.campaigns.reminders import render_reminder
from bot.core.db import Database
from bot.core.settings import Settings
from bot.registry.record import MANDATORY_FIELDS, missing_mandatory
from tests.conftest import MakeInitiative, MakeSubmission, sample_record
from tests.moderation_support import login, moderation_client, use_fast_hashes

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    async with moderation_client(db, settings, ("anna", "moderator")) as c:
        yield c


def test_the_one_rule_for_what_an_entry_lacks() -> None:
    assert missing_mandatory(sample_record()) == []
    lacking = missing_mandatory(sample_record(description="", participants=[],
                                              organisation=None))
    assert lacking == ["description", "participants", "organisation"]
    assert missing_mandatory({}) == list(MANDATORY_FIELDS)


def test_the_reminder_asks_first_for_what_is_missing(settings: Settings) -> None:
    record = sample_record(description=None, organisation=None)
    mail = render_reminder(settings, record, step=1, lang="da", reply_token="A" * 32,
                           unsubscribe_token="B" * 32)
    text = mail.text
    assert "Opslaget mangler: Beskrivelse, Organisation." in text
    assert text.index("Opslaget mangler") < text.index("Bekræft med ét tryk")
    assert mail.html is not None and "Opslaget mangler: Beskrivelse, Organisation." in mail.html
    english = render_reminder(settings, record, step=2, lang="en", reply_token="A" * 32,
                              unsubscribe_token="B" * 32)
    assert "The entry lacks: Description, Organisation." in english.text
    whole = render_reminder(settings, sample_record(), step=1, lang="da",
                            reply_token="A" * 32, unsubscribe_token="B" * 32)
    assert "mangler" not in whole.text


@pytest.mark.asyncio
async def test_moderators_see_what_entries_lack(
        client: Client, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    await make_initiative(title="Hel")
    thin = await make_initiative(title="Tynd", description=None, organisation=None)
    await make_initiative(title="Lidt tynd", organisation=None)
    await login(client, "anna")
    html = await (await client.get("/moderation/completeness")).text()
    assert "1 af 3 offentlige opslag har alle obligatoriske felter (33" in html
    assert f"Opslag {thin.id}: Tynd" in html
    assert html.index("Tynd</a>") < html.index("Lidt tynd</a>")  # lacking most first
    assert "Mangler: Beskrivelse, Organisation" in html
    case = await make_submission(initiative=thin, kind="confirmation", proposed={})
    item = await (await client.get(f"/moderation/item/{case.id}")).text()
    assert "Mangler: Beskrivelse, Organisation" in item
