"""``landkort parse --sent``: edits typed into the quoted reminder, read by comparing it
with the mail we sent (parse contract v2). The fixtures in tests/fixtures/mail/sent are
written for landkort: a reminder as the outbox renders it, and answers to it in
Outlook's unquoted style and with ">" quotes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.parse.message import parse_message
from intake.parse.sent_form import form_values, inline_edits, quoted_part
from tests.clihelp import run_cli

SENT = Path(__file__).parent / "fixtures" / "mail" / "sent"
REMINDER = (SENT / "reminder_sent_da.eml").read_bytes()


def test_outlook_inline_edits_and_an_emptied_line() -> None:
    r = parse_message((SENT / "reply_inline_outlook_da.eml").read_bytes(), sent=REMINDER)
    assert r.kind == "reply"
    # the own text above the quote gives the website: it wins over the quoted line
    assert r.fields == {"website": "https://nyt.kol.example.dk", "status": "under_udbredelse",
                        "municipalities": ["Aalborg", "Frederikshavn", "Hjørring"],
                        "end_date": None}
    assert r.inline == ["end_date", "municipalities", "status"]
    assert r.inline_from["status"] == "Under udbredelse" and r.inline_from["end_date"] == ""


def test_gt_quoted_inline_edits() -> None:
    r = parse_message((SENT / "reply_inline_gmail_quoted_da.eml").read_bytes(),
                      sent=REMINDER)
    assert r.fields["status"] == "under_udbredelse" and r.fields["end_date"] is None
    assert r.fields["website"] == "https://gammel.example.dk"
    assert "website" in r.inline


def test_without_sent_quoted_text_is_never_read() -> None:
    r = parse_message((SENT / "reply_inline_outlook_da.eml").read_bytes())
    assert r.fields == {"website": "https://nyt.kol.example.dk"} and r.inline == []


def test_lines_as_sent_give_nothing() -> None:
    text = REMINDER.decode()
    body = text.split("\n\n", 1)[1]
    edits = inline_edits("Ingen ændringer\n\n" + "\n".join("> " + ln for ln in
                                                          body.splitlines()),
                         "Ingen ændringer", body)
    assert edits.fields == {} and edits.problems == []


def test_a_label_we_did_not_send_is_read_like_own_text() -> None:
    sent = "Titel: KOL\nStatus: I drift\n"
    whole = "Se nedenfor\n\n> Titel: KOL\n> Status: I drift\n> Telefon: 22 33 44 55\n"
    edits = inline_edits(whole, "Se nedenfor", sent)
    assert edits.fields == {"contact_phone": "+4522334455"}


def test_an_unreadable_inline_value_is_a_problem() -> None:
    edits = inline_edits("Hej\n> Startdato: engang i foråret\n", "Hej", "Startdato: 2016-09\n")
    assert [p.field for p in edits.problems] == ["start_date"] and edits.fields == {}


def test_quoted_part_is_what_follows_the_own_text() -> None:
    assert quoted_part("Hej\nStatus: X\n\nFra: os\nStatus: Y", "Hej\nStatus: X") == \
        "\nFra: os\nStatus: Y"
    assert form_values("> Status: I drift\n>> Titel: T") == {"status": "I drift",
                                                             "title": "T"}


def test_the_command_line_takes_sent(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "parse", "--json", "--sent", str(SENT / "reminder_sent_da.eml"),
                     str(SENT / "reply_inline_outlook_da.eml"))
    assert result.code == 0
    out = json.loads(result.out)
    assert out["fields"]["end_date"] is None and out["fields"]["status"] == "under_udbredelse"
    result = run_cli(capsys, "parse", "--sent", str(SENT / "reminder_sent_da.eml"),
                     str(SENT / "reply_inline_outlook_da.eml"))
    assert "edited in the quoted form:" in result.out and "end_date: (emptied)" in result.out
    result = run_cli(capsys, "parse", "--json", "--sent", str(SENT / "missing.eml"),
                     str(SENT / "reply_inline_outlook_da.eml"))
    assert result.code == 2 and "cannot read" in result.err
