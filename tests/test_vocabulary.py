"""The controlled vocabularies every channel shares."""
from __future__ import annotations

import pytest

from bot.registry.fields import match_municipality, normalise
from bot.registry.vocabulary import (
    MUNICIPALITIES,
    MUNICIPALITIES_BY_REGION,
    MUNICIPALITY_REGION,
    REGION_KEYS,
    STATUS_KEYS,
    fold_name,
    sector_of,
)


def test_98_municipalities_in_5_regions() -> None:
    assert len(MUNICIPALITIES) == 98
    assert len(set(MUNICIPALITIES)) == 98
    assert set(MUNICIPALITIES_BY_REGION) == set(REGION_KEYS) and len(REGION_KEYS) == 5
    assert {r: len(n) for r, n in MUNICIPALITIES_BY_REGION.items()} == {
        "hovedstaden": 29, "sjaelland": 17, "syddanmark": 22, "midtjylland": 19,
        "nordjylland": 11}
    assert MUNICIPALITY_REGION["København"] == "hovedstaden"
    assert MUNICIPALITY_REGION["Aalborg"] == "nordjylland"


def test_folded_names_are_unique_and_match_themselves() -> None:
    assert len({fold_name(m) for m in MUNICIPALITIES}) == 98
    for name in MUNICIPALITIES:
        assert match_municipality(name) == name
        assert match_municipality(name.upper()) == name


def test_statuses() -> None:
    assert STATUS_KEYS == ("projekt", "under_udbredelse", "i_drift", "afsluttet")


@pytest.mark.parametrize("participants,sector", [
    ([], None),
    (["kommune"], "monosektoriel"),
    (["sygehus", "kommune"], "sygehus_kommune"),
    (["sygehus", "almen_praksis"], "sygehus_almen_praksis"),
    (["almen_praksis", "kommune"], "kommune_almen_praksis"),
    (["almen_praksis", "kommune", "sygehus"], "alle_tre"),
])
def test_sector(participants: list[str], sector: str | None) -> None:
    assert sector_of(participants) == sector


@pytest.mark.parametrize("key,raw,value", [
    ("status", "Pilotprojekt", "projekt"),
    ("status", "Under udbredelse", "under_udbredelse"),
    ("status", "Operational", "i_drift"),
    ("status", "Ophørt", "afsluttet"),
    ("participants", "Sygehus og almen praksis", ["almen_praksis", "sygehus"]),
    ("participants", "Kommuner, Region", ["kommune", "sygehus"]),
    ("participants", "GPs and hospitals", ["almen_praksis", "sygehus"]),
    ("regions", "Region Nordjylland / Capital Region", ["hovedstaden", "nordjylland"]),
    ("regions", "Region Zealand", ["sjaelland"]),
    ("municipalities", "Kbh., Århus og Åbenrå", ["Aabenraa", "Aarhus", "København"]),
    ("municipalities", "Høje Taastrup Kommune", ["Høje-Taastrup"]),
    ("municipalities", "Copenhagen", ["København"]),
    ("start_date", "2024-03-01", "2024-03-01"),
    ("start_date", "01-03-2024", "2024-03-01"),
    ("start_date", "1/3/2024", "2024-03-01"),
    ("start_date", "1.3.2024", "2024-03-01"),
    ("start_date", "1. marts 2024", "2024-03-01"),
    ("start_date", "1 March 2024", "2024-03-01"),
    ("start_date", "marts 2024", "2024-03"),
    ("end_date", "March 2024", "2024-03"),
    ("end_date", "03/2024", "2024-03"),
    ("contact_email", "Mette <Mette.Jensen@Example.DK>", "mette.jensen@example.dk"),
    ("contact_phone", "12 34 56 78", "+4512345678"),
    ("contact_phone", "+45 12-34-56-78", "+4512345678"),
    ("contact_phone", "0046 70 123 45 67", "+46701234567"),
    ("website", "www.example.dk/kol", "https://www.example.dk/kol"),
    ("technology", "Video; tablet og app", ["Video", "app", "tablet"]),
])
def test_normalise(key: str, raw: str, value: object) -> None:
    result = normalise(key, raw)
    assert result.problem is None, result.problem
    assert result.value == value


@pytest.mark.parametrize("key,raw,fragment", [
    ("status", "Måske", "Ukendt status"),
    ("municipalities", "Aalborgg", "Mente du Aalborg?"),
    ("start_date", "32-13-2024", "kan ikke læses"),
    ("contact_email", "mette@", "ikke en gyldig"),
    ("regions", "Region Sydjylland", "Ukendt region"),
])
def test_problems_explain_what_to_fix(key: str, raw: str, fragment: str) -> None:
    result = normalise(key, raw)
    assert result.value is None and result.problem is not None
    assert fragment in result.problem.message
    assert result.problem.field == key or key.endswith("date")


def test_english_problem_messages() -> None:
    problem = normalise("municipalities", "Odensee", "en").problem
    assert problem is not None and problem.message.startswith("Unknown municipality")
    assert "Did you mean Odense?" in problem.message


@pytest.mark.parametrize("raw", ["uændret", "Unchanged", "", "  "])
def test_unchanged_values_are_left_out(raw: str) -> None:
    result = normalise("status", raw)
    assert result.value is None and result.problem is None


def test_bullet_lines_are_whole_items() -> None:
    raw = "- Video og lyd\n- Tablet/app\n- KOL, astma"
    assert normalise("technology", raw).value == ["KOL, astma", "Tablet/app", "Video og lyd"]


def test_list_items_with_separators_round_trip_through_the_form() -> None:
    from bot.registry.fields import form_lines
    from intake.parse.reply_form import read_form

    record = {"technology": ["Video og lyd", "Tablet"], "patient_groups": ["KOL"],
              "municipalities": ["Lyngby-Taarbæk", "Aalborg"]}
    text = "\n".join(form_lines(record, "da", keys=("technology", "patient_groups",
                                                     "municipalities")))
    assert text.startswith("Teknologi:\n- Video og lyd\n- Tablet\nPatientgrupper: KOL")
    assert read_form(text).fields == {"technology": ["Tablet", "Video og lyd"],
                                      "patient_groups": ["KOL"],
                                      "municipalities": ["Aalborg", "Lyngby-Taarbæk"]}
