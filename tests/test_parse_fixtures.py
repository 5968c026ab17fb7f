"""Per-client fixtures: the kind, own text, fields and problems of real-looking mail.

The fixtures in tests/fixtures/mail are hand-written for landkort (Danish first): they
are not copied from any public corpus.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intake.parse.message import parse_message

MAIL = Path(__file__).parent / "fixtures" / "mail"
TOKEN = "Qm9yZ2VyLXRva2VuLTIwMjUtMDM"
TOKEN_EN = "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsT_-"


def parse(name: str) -> Any:
    return parse_message((MAIL / name).read_bytes())


def test_outlook_desktop_danish_top_posted_reply() -> None:
    r = parse("outlook_da_reply.eml")
    assert r.kind == "reply"
    assert r.reply_token == TOKEN
    assert r.reply_text.startswith("Hej\n\nStatus: I drift\nKommuner: Aarhus, Skanderborg")
    assert "Fra:" not in r.reply_text and "Titel" not in r.reply_text
    assert r.fields == {"status": "i_drift", "municipalities": ["Aarhus", "Skanderborg"],
                        "end_date": "2026-12-31"}
    assert r.problems == [] and r.confirmed_unchanged is False
    assert r.language == "da"
    assert r.subject.startswith("SV: Påmindelse: Er oplysningerne om jeres initiativ stadig")
    assert r.from_addr == "jens.hansen@auh.example.dk" and r.from_name == "Jens Hansen"
    assert r.in_reply_to == "<landkort.r42.1741082520@example.org>"
    assert r.auth_results is not None and "dkim=pass" in r.auth_results
    assert r.html_body is not None and "<p class=MsoNormal>" in r.html_body
    assert "Kære Jens Hansen" in r.text_body


def test_outlook_ios_danish_base64() -> None:
    r = parse("outlook_ios_da.eml")
    assert r.kind == "reply" and r.reply_token == TOKEN
    assert r.reply_text == ("Hej igen. Vi er nu i drift i hele regionen.\n\n"
                            "Status: i drift\nRegioner: Region Syddanmark\n"
                            "Hjemmeside: www.sdu.example.dk/telekol")
    assert r.fields == {"status": "i_drift", "regions": ["syddanmark"],
                        "website": "https://www.sdu.example.dk/telekol"}
    assert r.from_name == "Mette Sørensen"


def test_outlook_english_no_changes() -> None:
    r = parse("outlook_en_no_changes.eml")
    assert r.kind == "reply" and r.reply_token == TOKEN_EN
    assert r.confirmed_unchanged is True
    assert r.fields == {} and r.problems == []
    assert r.language == "en"
    assert r.reply_text.startswith("Hi,\n\nNo changes - everything is still correct.")
    assert "From:" not in r.reply_text


def test_oprindelig_meddelelse_windows_1252() -> None:
    r = parse("oprindelig_meddelelse_cp1252.eml")
    assert r.kind == "reply"
    assert r.from_name == "Søren Ærbo" and r.subject == "Sv: Påmindelse"
    assert "Oprindelig" not in r.reply_text
    assert r.fields["description"] == (
        "Borgere med hjertesvigt får en tablet og måler vægt og blodtryk hjemme.\n\n"
        "Sygeplejersker i kommunen følger målingerne – også i weekenden.")
    assert r.fields["organisation"] == "Næstved Kommune"
    assert "title" not in r.fields  # only in the quoted original


def test_gmail_danish_wrapped_attribution_threading_only() -> None:
    r = parse("gmail_da_wrapped.eml")
    assert r.kind == "reply"  # no token, but In-Reply-To is one of ours
    assert r.reply_token is None
    assert r.reply_text == ("Hej\n\nKontaktperson: Anne Holm\n"
                            "E-mail: Anne.Holm@Gmail.example.com\nTelefon: 20 30 40 50")
    assert r.fields == {"contact_name": "Anne Holm",
                        "contact_email": "anne.holm@gmail.example.com",
                        "contact_phone": "+4520304050"}
    assert r.references == ["<landkort.campaign.2025@example.org>",
                            "<landkort.r77.1741082520@example.org>"]


def test_apple_mail_iso_8859_1_sendt_fra_min_iphone() -> None:
    r = parse("apple_mail_da_iso8859.eml")
    assert r.kind == "reply" and r.reply_token == TOKEN  # from [ref:TOKEN] in the subject
    assert r.reply_text == "Deltagere: almen praksis og kommune\nPatientgrupper: Diabetes; KOL"
    assert r.fields == {"participants": ["almen_praksis", "kommune"],
                        "patient_groups": ["Diabetes", "KOL"]}
    assert r.from_name == "Bo Møller"


def test_dash_dash_signature_is_not_read() -> None:
    r = parse("signature_dashdash.eml")
    assert r.reply_text == "Startdato: marts 2023"
    assert r.fields == {"start_date": "2023-03"}


def test_html_only_outlook_reply() -> None:
    r = parse("html_only_outlook.eml")
    assert r.kind == "reply"
    assert r.reply_text.startswith("Hej,\n\nStatus: Afsluttet\nSlutdato: 1. februar 2025")
    assert "Projekt" not in r.reply_text and "Fra:" not in r.reply_text
    # The mobile number is in the signature block, after "Venlig hilsen".
    assert r.fields == {"status": "afsluttet", "end_date": "2025-02-01"}
    assert r.html_body is not None and "divRplyFwdMsg" in r.html_body


@pytest.mark.parametrize("name", ["ooo_da_automatisk_svar.eml", "ooo_da_fravaerende.eml",
                                  "ooo_en.eml"])
def test_out_of_office(name: str) -> None:
    r = parse(name)
    assert r.kind == "auto_reply"
    assert r.fields == {} and r.problems == [] and r.bounce is None


def test_exchange_dsn_bounce() -> None:
    r = parse("bounce_exchange.eml")
    assert r.kind == "bounce"
    assert r.bounce is not None
    assert r.bounce.recipient == "gammel.medarbejder@auh.example.dk"
    assert r.bounce.status == "5.1.10" and r.bounce.permanent is True
    assert r.fields == {}
    assert any(a["content_type"] == "message/rfc822" for a in r.attachments)


def test_postfix_dsn_bounce() -> None:
    r = parse("bounce_postfix.eml")
    assert r.kind == "bounce" and r.bounce is not None
    assert (r.bounce.recipient, r.bounce.status, r.bounce.permanent) == (
        "ophoert@region.example.dk", "5.1.1", True)


def test_postfix_delayed_is_a_temporary_bounce() -> None:
    r = parse("bounce_postfix_delayed.eml")
    assert r.kind == "bounce" and r.bounce is not None
    assert (r.bounce.recipient, r.bounce.status, r.bounce.permanent) == (
        "kontakt@lille-kommune.example.dk", "4.4.1", False)


def test_new_submission_with_all_fields() -> None:
    r = parse("submission_da_all_fields.eml")
    assert r.kind == "submission" and r.reply_token is None
    assert r.problems == []
    assert r.fields == {
        "title": "Videokonsultation i psykiatrien",
        "description": "Ambulante patienter kan tale med deres behandler over video.\n\n"
                       "Det sparer transport og gør det lettere at holde aftaler.",
        "status": "under_udbredelse",
        "participants": ["almen_praksis", "sygehus"],
        "regions": ["nordjylland"],
        "municipalities": ["Aalborg", "Frederikshavn", "Hjørring"],
        "organisation": "Psykiatrien i Region Nordjylland",
        "patient_groups": ["Voksne med angst", "depression"],
        "technology": ["Video", "app"],
        "start_date": "2024-03-01",
        "contact_name": "Sara Nielsen",
        "contact_email": "sara.nielsen@rn.example.dk",
        "contact_phone": "+4598765432",   # Tlf. in the form, not Telefon in the signature
        "evaluation_url": "https://www.rn.example.dk/evaluering.pdf",
        "website": "https://www.rn.example.dk/video",
    }
    assert "end_date" not in r.fields  # "uændret"
    assert r.attachments == [{"name": "Beskrivelse af forløb.pdf",
                              "content_type": "application/pdf", "size": 78}]


def test_ingen_aendringer_with_quoted_form() -> None:
    r = parse("ingen_aendringer.eml")
    assert r.kind == "reply" and r.reply_token == TOKEN
    assert r.confirmed_unchanged is True
    assert r.fields == {} and r.problems == []
    assert r.reply_text == "Ingen ændringer.\n\nVenlig hilsen\nMette"


def test_afmeld() -> None:
    r = parse("afmeld.eml")
    assert r.kind == "unsubscribe"
    assert r.reply_text == "Afmeld mig"
    assert r.fields == {}


def test_problems_in_danish() -> None:
    r = parse("problems_da.eml")
    assert r.kind == "reply"
    assert r.fields == {"status": "i_drift"}
    by_field = {p.field: p.message for p in r.problems}
    assert set(by_field) == {"municipalities", "start_date", "contact_email"}
    assert "Mente du Skanderborg?" in by_field["municipalities"]
    assert "kan ikke læses" in by_field["start_date"]


def test_problems_in_english() -> None:
    r = parse("problems_en.eml")
    assert r.language == "en"
    assert r.fields == {"website": "https://www.hospital.example.com/video"}
    by_field = {p.field: p.message for p in r.problems}
    assert by_field["status"].startswith('Unknown status "sort of finished"')
    assert "cannot be read" in by_field["start_date"]
    assert r.contract_dict()["problems"][0] == {"field": "status",
                                                "message": by_field["status"]}


def test_leading_blank_line_and_unused_boundary() -> None:
    r = parse("broken_boundary.eml")
    assert r.from_addr == "per@example.dk"
    assert r.kind == "reply" and r.reply_token == TOKEN
    assert r.reply_text == "Status: Afsluttet"
    assert r.fields == {"status": "afsluttet"}


def test_contract_dict_has_exactly_the_contract_keys() -> None:
    d = parse("bounce_postfix.eml").contract_dict()
    # version 2 of the contract added inferred and attachments
    assert list(d) == ["kind", "reply_token", "reply_text", "fields", "confirmed_unchanged",
                       "bounce", "problems", "inferred", "attachments"]
    assert d["bounce"] == {"recipient": "ophoert@region.example.dk", "status": "5.1.1",
                           "permanent": True}
