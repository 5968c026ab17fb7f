"""Quote and signature stripping (intake.parse.quotes) on bare bodies."""
from __future__ import annotations

import pytest

from intake.parse.message import parse_message
from intake.parse.quotes import is_attribution, is_signature_line, trim_reply


def mail(body: str, subject: str = "Re: Påmindelse",
         to: str = "landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org") -> bytes:
    head = (f"From: Test Person <test@example.dk>\nTo: {to}\nSubject: {subject}\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n")
    return (head + body).encode("utf-8")


@pytest.mark.parametrize("line", [
    "Den tir. 4. mar. 2025 kl. 10.02 skrev Jens Hansen <jens@example.dk>:",
    "Den 4. mar. 2025 kl. 10.02 skrev Det telemedicinske landkort <landkort@example.org>:",
    "On Tue, Mar 4, 2025 at 10:02 AM Jens Hansen <jens@example.dk> wrote:",
    "Am 04.03.2025 um 10:02 schrieb Jens Hansen <jens@example.dk>:",
    "Le mar. 4 mars 2025 à 10:02, Jens Hansen <jens@example.dk> a écrit :",
    "El mar, 4 mar 2025 a las 10:02, Jens Hansen (<jens@example.dk>) escribió:",
    "Op di 4 mrt. 2025 om 10:02 schreef Jens Hansen <jens@example.dk>:",
    "tis 4 mars 2025 kl 10:02 skrev Jens Hansen <jens@example.dk>:",
    "2025-03-04 10:02 GMT+01:00 Jens Hansen <jens@example.dk>:",
])
def test_attributions(line: str) -> None:
    assert is_attribution(line)


@pytest.mark.parametrize("line", [
    "Som jeg skrev i går:",
    "I wrote 3 letters:",
    "On your remote host you can run:",
    "Status: I drift",
    "Kommuner:",
])
def test_not_attributions(line: str) -> None:
    assert not is_attribution(line)


@pytest.mark.parametrize("line", [
    "Sendt fra min iPhone", "Sendt fra min iPad", "Sent from my iPhone",
    "Envoyé de mon iPhone", "Von meinem iPhone gesendet", "Enviado desde mi iPhone",
    "Verstuurd vanaf mijn iPhone", "Skickat från min iPhone", "Hent Outlook til iOS",
    "Get Outlook for Android<https://aka.ms/ghei36>", "Sendt fra Outlook til iOS",
    "Sent from my cell, please excuse any typos.",
])
def test_mobile_signatures(line: str) -> None:
    assert is_signature_line(line)


@pytest.mark.parametrize("line", [
    "Sent from my desk, is much easier then my mobile phone.",
    "Sendt fra min kollega til jer i sidste uge, som I bad om, og som vi har talt om længe",
    "Status: I drift",
])
def test_not_mobile_signatures(line: str) -> None:
    assert not is_signature_line(line)


def test_outlook_danish_header_block() -> None:
    body = ("Status: I drift\n\nFra: Landkort <landkort@example.org>\nSendt: 4. marts 2025 "
            "10:02\nTil: Jens\nEmne: Påmindelse\n\nTitel: Gammel titel\n")
    assert trim_reply(body) == "Status: I drift"


def test_outlook_english_header_block_after_rule() -> None:
    body = ("No changes.\n________________________________\nFrom: Landkort\n"
            "Sent: Tuesday, March 4, 2025 10:02 AM\nTo: Karen\nSubject: Reminder\n\nTitle: x\n")
    assert trim_reply(body) == "No changes."


def test_gmail_attribution_wrapped_over_two_lines() -> None:
    body = ("Titel: Ny titel\n\nDen tir. 4. mar. 2025 kl. 10.02 skrev Det telemedicinske "
            "landkort <\nlandkort@example.org>:\n\n> Titel: Gammel titel\n")
    assert trim_reply(body) == "Titel: Ny titel"


def test_bottom_posted_reply_keeps_the_text_after_the_quote() -> None:
    body = ("Den 4. mar. 2025 kl. 10.02 skrev Landkort <landkort@example.org>:\n"
            "> Status: Projekt\n>\n\nStatus: I drift\n")
    assert trim_reply(body) == "Status: I drift"


def test_forwarded_message_is_cut() -> None:
    body = ("Se nedenfor.\n\n---------- Videresendt meddelelse ---------\nFra: A <a@b.dk>\n"
            "Dato: 4. mar. 2025\nEmne: X\nTil: <c@d.dk>\n\nTitel: Andet\n")
    assert trim_reply(body) == "Se nedenfor."


def test_code_block_and_bullets_survive() -> None:
    body = "Punkter:\n\n- et\n- to\n\n```\n####\n--\n```\nSlut."
    assert trim_reply(body) == body


def test_nothing_from_quotes_or_signatures_becomes_a_field() -> None:
    body = (
        "Ingen ændringer\n\n"
        "Med venlig hilsen\nJens Hansen\nProjektleder\nTelefon: 12 34 56 78\n"
        "E-mail: jens.privat@example.dk\nHjemmeside: www.jens.example.dk\n\n"
        "Sendt fra min iPhone\n\n"
        "Den 4. mar. 2025 kl. 10.02 skrev Landkort <landkort@example.org>:\n\n"
        "> Titel: Gammel titel\n> Status: Projekt\n> Kommuner: Aarhus\n"
    )
    r = parse_message(mail(body))
    assert r.fields == {} and r.problems == []
    assert r.confirmed_unchanged is True
    assert r.kind == "reply"


def test_signature_after_dash_dash_is_not_a_field() -> None:
    r = parse_message(mail("Status: I drift\n\n-- \nJens\nTlf: 12345678\nMobil: 87654321\n"))
    assert r.fields == {"status": "i_drift"}


def test_inline_answers_to_quoted_form_lines() -> None:
    body = ("Den 4. mar. 2025 kl. 10.02 skrev Landkort <landkort@example.org>:\n"
            "> Status: Projekt\nStatus: I drift\n\n> Kommuner: Aarhus\n"
            "Kommuner: Aarhus, Odder\n")
    r = parse_message(mail(body))
    assert r.fields == {"status": "i_drift", "municipalities": ["Aarhus", "Odder"]}


@pytest.mark.timeout(10)  # takes well under a second; a blow-up (quadratic or worse) fails
def test_long_quote_is_fast() -> None:
    body = "Tak.\n\nOn Mon, Mar 3, 2025 at 10:02 AM X <x@example.com> wrote:\n" + (
        "> " + "abc " * 30 + "\n") * 20000
    assert trim_reply(body) == "Tak."


@pytest.mark.timeout(10)  # takes well under a second; a blow-up (quadratic or worse) fails
def test_deeply_nested_quote_is_fast() -> None:
    body = "".join(">" * i + " On Thu, Apr 30, 2020 at 10:06 AM, a <a@b.c> wrote:\n"
                   for i in range(1, 3000))
    assert trim_reply(body) == ""


@pytest.mark.parametrize("body,expected", [
    ("Tak\n\nOn 3 Mar 2025, at 9:15, Landkort <landkort@example.org> sent:\n\n> x", "Tak"),
    ("Tak On Mon, Mar 3, 2025 at 9:15 AM, landkort@example.org wrote:\n> x", "Tak"),
    ("Tak\n\n-----Reply Message-----\n\nx", "Tak"),
    ("Tak\n\n----- Weitergeleitet von Jens am 03.03.2025 -----\nx", "Tak"),
    ("Tak\n\nOn Mar 3, 2025, at 9:15 AM, Landkort <\n3f2a9c0d1e@bounce.example.org>\n"
     "wrote:\n\nx", "Tak"),
    ("Tak\n\nDate: Mon, 3 Mar 2025 09:15:02 +0100\nTo: jens@example.dk", "Tak"),
    ("Tak\n\nVon: a@example.org\nGesendet: Montag, 3. März 2025 09:15\nAn: Jens\n"
     "Betreff: Erinnerung\n\nx", "Tak"),
    ("Tak\nFrån: Landkort [mailto:a@example.org]\nSkickat: den 3 mars 2025 09:15\n"
     "Till: Jens\nÄmne: SV: Påminnelse\n\nx", "Tak"),
    ("Tak\n\nDe : Landkort [mailto:a@example.org]\nEnvoyé : lundi 3 mars 2025 09:15\n"
     "À : Jens\nObjet : Rappel\n\nx", "Tak"),
    ("Tak\n\nOn Monday, 3 March 2025 at 9:15, Landkort wrote:\n\n>\n> Svar venligst\n>\n"
     " (https://example.org/c/abc) >\n> mere\n>\n", "Tak"),
])
def test_more_quote_headers(body: str, expected: str) -> None:
    assert trim_reply(body) == expected


@pytest.mark.parametrize("body", [
    "Ingen ændringer\n\nJens Hansen\nProjektleder\nTlf: 12 34 56 78",
    "Ingen ændringer\n\nMvh Jens Hansen\nTelefon: 12 34 56 78",
    "Ingen ændringer\nMvh. Jens\nMobil: 12345678",
])
def test_signature_block_without_sign_off_line_is_not_a_field(body: str) -> None:
    r = parse_message(mail(body))
    assert r.fields == {}
    assert r.confirmed_unchanged is True


def test_a_form_paragraph_is_not_taken_for_a_signature() -> None:
    r = parse_message(mail("Hej\n\nKontaktperson: Jens Hansen\nTelefon: 12 34 56 78"))
    assert r.fields == {"contact_name": "Jens Hansen", "contact_phone": "+4512345678"}


@pytest.mark.parametrize("attribution", [
    "---- Det telemedicinske landkort skrev ----",
    "---- On Mon, 9 Mar 2026 10:00:00 +0100 Det telemedicinske landkort wrote ----",
    "---- Mette Jensen schrieb ----",
])
def test_android_attribution_starts_the_quote(attribution: str) -> None:
    text = f"Status: Afsluttet\n\n{attribution}\nStatus: I drift\nSlutdato: 2026-12-31\n"
    assert trim_reply(text) == "Status: Afsluttet"


@pytest.mark.parametrize("block", [
    "From: Det telemedicinske landkort <landkort@example.org>\n"
    "Date: Monday, 9 March 2026 at 10:00\nTo: Mette <m@example.dk>",
    "Fra: Det telemedicinske landkort <landkort@example.org>\n"
    "Dato: mandag den 9. marts 2026 kl. 10:00\nTil: Mette <m@example.dk>",
])
def test_a_header_block_without_subject_starts_the_quote(block: str) -> None:
    assert trim_reply(f"Status: Afsluttet\n\n{block}\n\nStatus: I drift\n") == \
        "Status: Afsluttet"


def test_bottom_posted_reply_below_an_attributed_quote() -> None:
    text = ("Den 9. mar. 2026 kl. 10.00 skrev Landkort <landkort@example.org>:\n"
            "> Status: I drift\n> Slutdato: 2026-12-31\n\nStatus: Afsluttet\n")
    assert trim_reply(text) == "Status: Afsluttet"
