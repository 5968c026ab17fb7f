"""Reading people, not only forms (parse contract v2): sentences, clearing a value, an
emptied label line, and format=flowed text.

The rules are tested on kinds of sentences in many wordings (the parser is measured on
wordings nobody wrote down), and on negations and questions that must give nothing. The
.eml fixtures in tests/fixtures/mail/sentences are written for landkort.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intake.parse.decode import unflow
from intake.parse.message import parse_message
from intake.parse.reply_form import read_form
from intake.parse.sentences import read_sentences, split_sentences
from tests.clihelp import run_cli

SENTENCES = Path(__file__).parent / "fixtures" / "mail" / "sentences"


def parse(name: str) -> Any:
    return parse_message((SENTENCES / name).read_bytes())


# --- the initiative ended, runs, is rolled out ---------------------------------------------

@pytest.mark.parametrize(("text", "end_date"), [
    ("Vi lukkede tilbuddet i november 2023.", "2023-11"),
    ("Tilbuddet ophørte i foråret.", None),
    ("Projektet blev afsluttet med en rapport i juni 2022.", "2022-06"),
    ("Vi stoppede projektet 31/12/2023 pga. manglende midler.", "2023-12-31"),
    ("Projektet sluttede 31. december 2023.", "2023-12-31"),
    ("Ordningen er nedlagt.", None),
    ("Det er ikke længere i drift.", None),
    ("Tilbuddet bruges ikke længere.", None),
    ("The service has been discontinued since May 2023.", "2023-05"),
    ("We closed the pilot in March 2024 after the evaluation.", "2024-03"),
    ("It is no longer in use.", None),
    ("The project ended in 2022.", None),
])
def test_an_ended_initiative(text: str, end_date: str | None) -> None:
    r = read_sentences(text)
    assert r.fields.get("status") == "afsluttet"
    assert r.fields.get("end_date") == end_date


@pytest.mark.parametrize(("text", "status"), [
    ("Det kører nu som fast tilbud.", "i_drift"),
    ("Det bruges nu i hverdagen på alle afsnit.", "i_drift"),
    ("Vi er i drift i hele regionen.", "i_drift"),
    ("Løsningen er nu en del af den daglige drift.", "i_drift"),
    ("It is part of routine care now.", "i_drift"),
    ("The app went live across all wards last year.", "i_drift"),
    ("Projektet rulles ud til hele regionen i 2026.", "under_udbredelse"),
    ("Vi er ved at udbrede løsningen til de øvrige kommuner.", "under_udbredelse"),
    ("It is being rolled out to the other municipalities.", "under_udbredelse"),
    ("We are scaling up to three more hospitals.", "under_udbredelse"),
])
def test_in_operation_or_rolled_out(text: str, status: str) -> None:
    assert read_sentences(text).fields == {"status": status}


@pytest.mark.parametrize("text", [
    "Vi har ikke lukket det.",
    "Projektet er ikke stoppet, men har færre patienter.",
    "It's not live yet.",
    "It has not been discontinued.",
    "Skal vi skrive I drift, når kun én afdeling bruger det?",
    "Should we say it is in operation when only one ward uses it?",
    "Vi overvejer at lukke projektet næste år.",
    "Vi lukker projektet til sommer.",
    "Projektet er lukket for nye patienter.",
    "We are not in operation yet.",
    "Vi har genoptaget tilbuddet i 2025.",
    "Tak for påmindelsen!",
])
def test_negations_questions_and_plans_give_nothing(text: str) -> None:
    r = read_sentences(text)
    assert r.fields == {} and not r.unsubscribe


# --- someone else is the contact -----------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Fremover er det Jens Holm, jh@rm.example.dk, der svarer på dette.",
     {"contact_name": "Jens Holm", "contact_email": "jh@rm.example.dk"}),
    ("Lise har taget over.", {"contact_name": "Lise"}),
    ("Ny kontaktperson er Karen Lund, tlf. 22 33 44 55.",
     {"contact_name": "Karen Lund", "contact_phone": "+4522334455"}),
    ("Jeg er gået på pension, så kontakt i stedet Peter Madsen på pm@kommune.example.dk.",
     {"contact_name": "Peter Madsen", "contact_email": "pm@kommune.example.dk"}),
    ("My colleague Ann Berg now handles this.", {"contact_name": "Ann Berg"}),
    ("Tove Krogh (tk@region.example.dk) has taken over the project.",
     {"contact_name": "Tove Krogh", "contact_email": "tk@region.example.dk"}),
])
def test_a_new_contact(text: str, expected: dict[str, str]) -> None:
    assert read_sentences(text).fields == expected


@pytest.mark.parametrize("text", ["Lise har ikke overtaget det endnu.",
                                  "Hej Lise, tak for mailen.",
                                  "Jens Holm ringer til jer i næste uge."])
def test_no_handover_no_contact(text: str) -> None:
    assert read_sentences(text).fields == {}


# --- all is correct ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Alt står som det skal.", "Det passer stadig.", "Oplysningerne er fortsat gældende.",
    "Det ser fint ud.", "That is all still right.", "Everything looks good, thanks!",
    "It's all still accurate.",
])
def test_confirmations_in_ordinary_wording(text: str) -> None:
    r = read_sentences(text)
    assert r.confirmed and r.fields == {}


@pytest.mark.parametrize("text", [
    "Oplysningerne er ikke korrekte længere.", "Det passer ikke.",
    "This is an email with a correct signature.", "Is it still correct?",
    "Oplysningerne er stadig korrekte, men hjemmesiden er flyttet.",
])
def test_not_confirmations(text: str) -> None:
    assert not read_sentences(text).confirmed


# --- stop sending me these -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Tag mig af listen.", "Send ikke flere påmindelser til mig.",
    "Jeg ønsker ikke at modtage flere mails om det.", "I'd rather not get these any more.",
    "Please remove me from your list.", "Stop sending me these reminders.",
])
def test_requests_to_stop(text: str) -> None:
    assert read_sentences(text).unsubscribe


@pytest.mark.parametrize("text", ["Jeg har ikke modtaget påmindelsen.",
                                  "Send gerne flere oplysninger om landkortet."])
def test_not_requests_to_stop(text: str) -> None:
    assert not read_sentences(text).unsubscribe


def test_sentences_split_at_ends_not_at_abbreviations_or_dates() -> None:
    assert split_sentences("Ring på tlf. 22 33 44 55. Vi lukkede 1. marts 2024! Ok?\nHej") \
        == ["Ring på tlf. 22 33 44 55.", "Vi lukkede 1. marts 2024!", "Ok?", "Hej"]


# --- whole mails, and the command line -----------------------------------------------------

def test_a_sentence_is_a_suggestion_listed_in_inferred() -> None:
    r = parse("ended_with_month_da.eml")
    assert r.kind == "reply"
    assert r.fields == {"status": "afsluttet", "end_date": "2023-11"}
    assert r.inferred == ["end_date", "status"]
    assert "lukkede desværre tilbuddet" in r.inferred_from["status"]
    # the quoted form ("Status: I drift") below the attribution is never read
    assert "I drift" not in r.reply_text


def test_a_label_line_wins_over_a_sentence() -> None:
    raw = ("From: a@example.dk\r\nTo: landkort@example.org\r\nSubject: Re: x\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "Status: Projekt\r\nDet kører nu som fast tilbud.\r\n").encode()
    r = parse_message(raw)
    assert r.fields == {"status": "projekt"} and r.inferred == []


def test_new_contact_in_format_flowed_mail() -> None:
    r = parse("new_contact_da.eml")
    assert r.fields == {"contact_name": "Jens Holm", "contact_email": "jh@aalborg.example.dk"}
    assert r.inferred == ["contact_email", "contact_name"]


def test_confirmation_in_words() -> None:
    r = parse("confirm_in_words_da.eml")
    assert r.kind == "reply" and r.confirmed_unchanged and r.fields == {}


def test_stop_request_in_a_sentence() -> None:
    assert parse("stop_reminders_da.eml").kind == "unsubscribe"


def test_negation_and_question_give_nothing() -> None:
    r = parse("negation_and_question_da.eml")
    assert r.kind == "reply" and r.fields == {} and r.problems == []
    assert not r.confirmed_unchanged


def test_english_sentences() -> None:
    r = parse("ended_en.eml")
    assert r.fields == {"status": "afsluttet", "end_date": "2023-05",
                        "contact_name": "Ole Dahl", "contact_email": "ole.dahl@rh.example.dk"}


# --- clearing and emptied lines ------------------------------------------------------------

def test_an_emptied_label_does_not_swallow_the_next_paragraph() -> None:
    r = parse("emptied_and_cleared_da.eml")
    assert r.fields == {"status": "i_drift", "evaluation_url": None}
    assert r.problems == []  # no "the date 'Vi har genoptaget…' cannot be read"


@pytest.mark.parametrize("word", ["slet", "Ingen", "intet", "fjern", "none", "N/A",
                                  "delete", "remove."])
def test_clearing_words_give_null(word: str) -> None:
    r = read_form(f"Slutdato: {word}\nStatus: I drift")
    assert r.fields == {"end_date": None, "status": "i_drift"} and r.problems == []


@pytest.mark.parametrize("value", ["uændret", "-", "", "unchanged"])
def test_unchanged_is_not_clearing(value: str) -> None:
    assert "end_date" not in read_form(f"Slutdato: {value}\nStatus: I drift").fields


def test_a_list_may_still_follow_its_label_as_bullets() -> None:
    assert read_form("Kommuner:\n- Aarhus\n- Odder").fields == {
        "municipalities": ["Aarhus", "Odder"]}


def test_the_command_line_prints_null_and_inferred(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    result = run_cli(capsys, "parse", "--json", str(SENTENCES / "emptied_and_cleared_da.eml"))
    out = json.loads(result.out)
    assert out["fields"] == {"status": "i_drift", "evaluation_url": None}
    assert out["inferred"] == [] and out["attachments"] == []
    result = run_cli(capsys, "parse", "--json", str(SENTENCES / "ended_with_month_da.eml"))
    assert json.loads(result.out)["inferred"] == ["end_date", "status"]


# --- format=flowed -------------------------------------------------------------------------

def test_flowed_lines_are_joined() -> None:
    assert unflow("Fremover er det Jens Holm, \njh@example.dk, der svarer.\n-- \nMorten") \
        == "Fremover er det Jens Holm, jh@example.dk, der svarer.\n-- \nMorten"


def test_flowed_delsp_and_quote_depth() -> None:
    assert unflow("abc \ndef", delsp=True) == "abcdef"
    assert unflow("> quoted soft \n> line\nown") == "> quoted soft line\nown"
    assert unflow(" >not a quote") == ">not a quote"  # space-stuffed (RFC 3676 §4.4)


# --- answers never quote a sentence back as a bad value ------------------------------------

@pytest.mark.parametrize(("line", "lang", "names"), [
    ("Slutdato: Vi genoptog tilbuddet sidste år og kører igen.", "da", 'Linjen "Slutdato"'),
    ("Hjemmeside: Tak for påmindelsen, den er vist ikke ændret!", "da", 'Linjen "Hjemmeside"'),
    ("Status: We are still figuring out what to call it.", "en", 'The "Status" line'),
    ("E-mail: skriv til min kollega i stedet for mig.", "da", 'Linjen "E-mail"'),
])
def test_a_sentence_is_never_quoted_back(line: str, lang: str, names: str) -> None:
    problems = read_form(line, lang).problems
    assert len(problems) == 1
    sentence = line.split(":", 1)[1].strip()
    assert sentence not in problems[0].message and names in problems[0].message


def test_a_short_bad_value_is_still_named() -> None:
    (problem,) = read_form("Slutdato: 32/13/2024").problems
    assert '"32/13/2024"' in problem.message


@pytest.mark.parametrize("text", ["That's fine, I'll call you tomorrow.",
                                  "Det er fint, jeg ringer i morgen.", "Ok, tak."])
def test_fine_about_something_else_is_no_confirmation(text: str) -> None:
    assert not read_sentences(text).confirmed


@pytest.mark.parametrize("text", ["Alt er som det skal være.", "Intet at rette.",
                                  "Nothing to update from our side.",
                                  "Vi har ikke noget at tilføje.",
                                  "Der er ikke noget nyt at melde."])
def test_nothing_to_change_is_a_confirmation(text: str) -> None:
    assert read_sentences(text).confirmed


def test_a_passive_unsubscribe_request_and_its_negation() -> None:
    assert read_sentences("Jeg vil gerne afmeldes disse mails.").unsubscribe
    assert not read_sentences("Jeg vil ikke afmeldes, bare rette status.").unsubscribe
