"""``Label: value`` reading (intake.parse.reply_form) and the reminder-form round trip."""
from __future__ import annotations

from typing import Any

import pytest

from bot.registry.fields import FIELD_KEYS, form_label, format_value
from intake.parse.message import parse_message
from intake.parse.reply_form import confirms_unchanged, read_form, split_label

RECORD: dict[str, Any] = {
    "title": "Telemedicinsk hjemmemonitorering af KOL",
    "description": "Patienter måler iltmætning hjemme.\n\nSygeplejersker følger op.",
    "status": "under_udbredelse",
    "participants": ["kommune", "sygehus"],
    "regions": ["midtjylland", "nordjylland"],
    "municipalities": ["Aarhus", "Høje-Taastrup", "København"],
    "organisation": "Aarhus Universitetshospital",
    "patient_groups": ["Hjertesvigt", "KOL"],
    "technology": ["Pulsoximeter", "Tablet"],
    "start_date": "2023-01-15",
    "end_date": "2026-12",
    "contact_name": "Jens Hansen",
    "contact_email": "jens.hansen@auh.example.dk",
    "contact_phone": "+4587654321",
    "evaluation_url": "https://www.auh.example.dk/evaluering.pdf",
    "website": "https://www.auh.example.dk/kol",
}


def form_text(record: dict[str, Any], lang: str) -> str:
    """The reminder form as the outbox renders it: one ``Label: value`` line per key."""
    return "\n".join(f"{form_label(k, lang)}: {format_value(k, record.get(k), lang)}".rstrip()
                     for k in FIELD_KEYS)


def mail(body: str) -> bytes:
    return ("From: a@example.dk\nTo: landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org\n"
            "Subject: Re: Påmindelse\nContent-Type: text/plain; charset=utf-8\n\n"
            + body).encode("utf-8")


@pytest.mark.parametrize("lang", ["da", "en"])
def test_filled_in_form_round_trips(lang: str) -> None:
    r = parse_message(mail(form_text(RECORD, lang)))
    assert r.problems == []
    assert r.fields == RECORD
    assert r.kind == "reply"


def test_form_with_empty_values_gives_only_the_filled_ones() -> None:
    partial = {"title": "Kun titel", "status": "i_drift"}
    r = parse_message(mail(form_text(partial, "da")))
    assert r.fields == partial


def test_quoted_form_under_ingen_aendringer_gives_no_fields() -> None:
    quoted = "\n".join("> " + line for line in form_text(RECORD, "da").splitlines())
    body = ("Ingen ændringer\n\nDen 4. mar. 2025 kl. 10.02 skrev Det telemedicinske "
            f"landkort <landkort@example.org>:\n\n{quoted}\n")
    r = parse_message(mail(body))
    assert r.fields == {} and r.problems == []
    assert r.confirmed_unchanged is True


def test_unquoted_form_under_outlook_header_gives_no_fields() -> None:
    body = ("Alt er korrekt.\n\nFra: Det telemedicinske landkort <landkort@example.org>\n"
            "Sendt: 4. marts 2025 10:02\nTil: Jens Hansen\nEmne: Påmindelse\n\n"
            + form_text(RECORD, "da") + "\n")
    r = parse_message(mail(body))
    assert r.fields == {} and r.confirmed_unchanged is True


@pytest.mark.parametrize("line,expected", [
    ("Status: I drift", ("status", "I drift")),
    ("status:i drift", ("status", "i drift")),
    ("- Kommune: Aarhus", ("municipalities", "Aarhus")),
    ("* Tlf.: 12345678", ("contact_phone", "12345678")),
    ("• Målgruppe: KOL", ("patient_groups", "KOL")),
    ("STATUS\tI drift", ("status", "I drift")),
    ("Status   I drift", ("status", "I drift")),
    ("Beskrivelse", ("description", "")),
    ("Navn på initiativ: X", ("title", "X")),
    ("Start date: 2024-01-01", ("start_date", "2024-01-01")),
])
def test_label_lines(line: str, expected: tuple[str, str]) -> None:
    assert split_label(line) == expected


@pytest.mark.parametrize("line", ["Status er at vi er i drift", "Hej Jens:", "Ukendt: x", ""])
def test_not_label_lines(line: str) -> None:
    assert split_label(line) is None


def test_value_continues_until_empty_line_or_next_label() -> None:
    text = ("Titel: Et langt navn\nder fortsætter\nStatus: Projekt\n"
            "Organisation: Region\nMidtjylland\n\nDette er bare tekst.")
    r = read_form(text)
    assert r.fields["title"] == "Et langt navn der fortsætter"
    assert r.fields["organisation"] == "Region Midtjylland"
    assert r.fields["status"] == "projekt"


def test_description_keeps_paragraphs_until_next_label() -> None:
    text = "Beskrivelse:\nFørste afsnit\nfortsat.\n\nAndet afsnit.\nStatus: I drift"
    r = read_form(text)
    assert r.fields["description"] == "Første afsnit fortsat.\n\nAndet afsnit."
    assert r.fields["status"] == "i_drift"


def test_list_value_as_bullet_lines() -> None:
    r = read_form("Kommuner:\n- Aarhus\n- Odder\n- Kbh.\n")
    assert r.fields["municipalities"] == ["Aarhus", "København", "Odder"]


@pytest.mark.parametrize("value", ["uændret", "Unchanged", "", "  "])
def test_unchanged_values_are_left_out(value: str) -> None:
    r = read_form(f"Status: {value}\nTitel: Ny")
    assert r.fields == {"title": "Ny"}


@pytest.mark.parametrize("text", ["Ingen ændringer", "Ingen rettelser.", "Bekræftet",
                                  "Alt er korrekt", "Oplysningerne er stadig korrekte",
                                  "No changes", "Confirmed", "All correct"])
def test_confirmations(text: str) -> None:
    assert confirms_unchanged(text)
    assert read_form(text).confirmed_unchanged


@pytest.mark.parametrize("text", ["Oplysningerne er ikke korrekte længere", "Hej",
                                  "Kan I bekræfte at I har fået min mail?"])
def test_not_confirmations(text: str) -> None:
    assert not confirms_unchanged(text)


def test_confirmation_with_a_field_is_not_unchanged() -> None:
    r = read_form("Ingen ændringer, bortset fra:\nStatus: Afsluttet")
    assert r.fields == {"status": "afsluttet"}
    assert r.confirmed_unchanged is False


def test_confirmation_with_an_unreadable_value_is_not_unchanged() -> None:
    r = read_form("Ingen ændringer\nStartdato: engang i foråret")
    assert r.fields == {} and [p.field for p in r.problems] == ["start_date"]
    assert r.confirmed_unchanged is False


def test_pasted_status_help_list_is_not_read() -> None:
    text = ("Status: I drift\n\nStatusværdierne betyder:\n- Projekt: Afprøves.\n"
            "- Under udbredelse: Der er truffet beslutning.\n- I drift: Udbredt.\n"
            "- Afsluttet: Initiativet er afsluttet.\n")
    r = read_form(text)
    assert r.fields == {"status": "i_drift"} and r.problems == []
    assert read_form("- Afsluttet: 30.06.2024").fields == {"end_date": "2024-06-30"}
