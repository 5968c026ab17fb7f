"""PRO and evaluation status (#19): two fields of a fixed vocabulary, read by the one
field parser from mail, the form and the chat, and filterable in the catalogue."""
from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.core.db import Database
from bot.registry.fields import form_lines, format_value, is_clearing, normalise
from bot.registry.vocabulary import CHOICES
from intake.parse.reply_form import read_form
from tests.conftest import MakeInitiative


@pytest.mark.parametrize(("key", "raw", "value"), [
    ("pro", "Spørgeskemaer og hjemmemålinger", ["hjemmemaaling", "spoergeskema"]),
    ("pro", "PRO-spørgeskemaer", ["spoergeskema"]),
    ("pro", "home measurements", ["hjemmemaaling"]),
    ("pro", "Nej", ["ingen"]),
    ("pro", "Ingen", ["ingen"]),           # "none" is a value here, not "remove it"
    ("pro", "ingen, spørgeskema", ["spoergeskema"]),  # "none" stands alone
    ("evaluation_status", "Under evaluering", "under_evaluering"),
    ("evaluation_status", "evaluated", "evalueret"),
    ("evaluation_status", "Ja.", "evalueret"),
    ("evaluation_status", "ikke evalueret", "ikke_evalueret"),
    ("evaluation_status", "in progress", "under_evaluering"),
])
def test_words_people_write_become_keys(key: str, raw: str, value: Any) -> None:
    assert normalise(key, raw).value == value


@pytest.mark.parametrize("lang", ["da", "en"])
def test_an_unknown_word_gets_the_choices_in_the_senders_language(lang: str) -> None:
    got = normalise("evaluation_status", "måske til sommer", lang)
    assert got.value is None and got.problem is not None
    options = ", ".join(t.label(lang) for t in CHOICES["evaluation_status"])
    assert options in got.problem.message
    assert "måske til sommer" in got.problem.message  # a short value is named back
    long = normalise("pro", "vi bruger noget vi selv har lavet til borgerne her.", lang)
    assert long.problem is not None and "selv har lavet" not in long.problem.message


def test_clearing_words_still_clear_other_fields() -> None:
    assert is_clearing("ingen", "website") and is_clearing("slet", "pro")
    assert not is_clearing("ingen", "pro") and not is_clearing("Ingen", "evaluation_status")


@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_reminder_form_round_trips(lang: str) -> None:
    record = {"pro": ["hjemmemaaling", "spoergeskema"], "evaluation_status": "under_evaluering"}
    text = "\n".join(form_lines(record, lang, keys=("pro", "evaluation_status")))
    assert format_value("pro", record["pro"], lang) in text
    assert read_form(text, lang).fields == record
    assert read_form("PRO: Nej\nEvalueringsstatus: Ja\n").fields == {
        "pro": ["ingen"], "evaluation_status": "evalueret"}


@pytest.mark.asyncio
async def test_the_catalogue_filters_by_evaluation_and_pro(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.app import create_app

    await make_initiative(title="Evalueret hjertesvigt", evaluation_status="evalueret",
                          pro=["hjemmemaaling"])
    await make_initiative(title="Ny videoløsning", evaluation_status="under_evaluering")
    await make_initiative(title="Uden oplysning")
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        html = await (await c.get("/", params={"evaluation": "evalueret"})).text()
        assert "Evalueret hjertesvigt" in html and "Ny videoløsning" not in html
        assert 'id="f-evaluation"' in html and "Under evaluering (1)" in html
        html = await (await c.get("/", params={"pro": "hjemmemaaling", "lang": "en"})).text()
        assert "Evalueret hjertesvigt" in html and "Uden oplysning" not in html
        assert "PRO home measurements (1)" in html
        page = await (await c.get("/initiativ/evalueret-hjertesvigt",
                                  params={"lang": "da"})).text()
        assert "PRO-hjemmemålinger" in page and ">Evalueret</a>" in page
        api = await (await c.get("/api/initiatives", params={"evaluation": "evalueret"})
                     ).json()
        titles = [i["title"] for i in api.get("items", api.get("initiatives", []))]
        assert titles == ["Evalueret hjertesvigt"], api
