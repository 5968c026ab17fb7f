"""MIME decoding (intake.parse.decode), HTML → text (intake.parse.html_text) and classification."""
from __future__ import annotations

import base64

import pytest

from intake.parse.decode import decode_bytes, decode_header_value, decode_message
from intake.parse.html_text import html_to_text
from intake.parse.message import guess_language, parse_message


def test_rfc2047_header_words() -> None:
    assert decode_header_value("=?utf-8?Q?P=C3=A5mindelse?= =?utf-8?Q?_igen?=") == \
        "Påmindelse igen"
    assert decode_header_value("=?iso-8859-1?B?U/hyZW4=?= <s@x.dk>") == "Søren <s@x.dk>"
    # An unknown charset label falls back to the chain instead of failing.
    assert decode_header_value("=?x-bogus?Q?S=C3=B8ren?=") == "Søren"


@pytest.mark.parametrize("data,declared,expected", [
    ("Søren".encode(), "iso-8859-1", "SÃ¸ren"),     # declared wins when it decodes
    ("Søren".encode(), "us-ascii", "Søren"),          # ascii lie → UTF-8
    ("Søren – ø".encode("windows-1252"), None, "Søren – ø"),  # → windows-1252
    (b"S\x81ren", "utf-8", "S\x81ren"),                       # → ISO-8859-1 as last resort
    ("Søren".encode(), "no-such-charset", "Søren"),
])
def test_charset_chain(data: bytes, declared: str | None, expected: str) -> None:
    assert decode_bytes(data, declared) == expected


def test_raw_8bit_header_is_read_as_utf8_then_cp1252() -> None:
    raw = "From: Søren <s@x.dk>\nSubject: Påmindelse\n\nHej\n".encode("windows-1252")
    msg = decode_message(raw)
    assert msg.get("Subject") == "Påmindelse"
    assert msg.get("From") == "Søren <s@x.dk>"


def test_message_starting_with_blank_line_keeps_its_headers() -> None:
    msg = decode_message(b"\n\nFrom: a@b.dk\nSubject: Hej\n\nTekst\n")
    assert msg.get("Subject") == "Hej"
    assert msg.text_body.strip() == "Tekst"


def test_no_header_section_at_all() -> None:
    msg = decode_message(b"\nBare tekst uden hoveder\n")
    assert "Bare tekst" in msg.text_body


def test_attachments_are_listed_not_read() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 secret").decode()
    raw = ("From: a@b.dk\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
           "Content-Type: text/plain; charset=utf-8\n\nHej\n--XX\n"
           "Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n"
           f"Content-Disposition: attachment; filename=a.pdf\n\n{pdf}\n--XX\n"
           "Content-Type: text/plain; name=notes.txt\nContent-Disposition: attachment\n\n"
           "Status: Afsluttet\n--XX--\n").encode()
    msg = decode_message(raw)
    assert msg.text_body.strip() == "Hej"
    assert [(a.name, a.content_type, a.size) for a in msg.attachments] == [
        ("a.pdf", "application/pdf", 15), ("notes.txt", "text/plain", 17)]
    assert parse_message(raw).fields == {}


def test_quoted_printable_soft_breaks() -> None:
    raw = (b"From: a@b.dk\nContent-Type: text/plain; charset=utf-8\n"
           b"Content-Transfer-Encoding: quoted-printable\n\nStatus: I dr=\nift\n"
           b"Kommune: K=C3=B8benhavn\n")
    assert parse_message(raw).fields == {"status": "i_drift", "municipalities": ["København"]}


def test_html_drops_quotes_and_keeps_lines() -> None:
    markup = ("<div>Status: I drift<br>Kommune: Aarhus</div>"
              "<div class='gmail_quote'><div class='gmail_attr'>Den … skrev:</div>"
              "<blockquote>Titel: gammel</blockquote></div>"
              "<div class='moz-cite-prefix'>On x wrote:</div>"
              "<div id='OLK_SRC_BODY_SECTION'>Fra: x</div><p>efter</p>")
    assert html_to_text(markup) == "Status: I drift\nKommune: Aarhus"
    assert "Titel: gammel" in html_to_text(markup, drop_quotes=False)


def test_html_outlook_border_top_divider_ends_the_reply() -> None:
    markup = ("<p>Ingen ændringer</p><div style='border:none;border-top:solid #E1E1E1 1.0pt'>"
              "<p><b>Fra:</b> Landkort</p></div><p>Titel: x</p>")
    assert html_to_text(markup) == "Ingen ændringer"


def test_malformed_html_does_not_raise() -> None:
    # ``a<b>b`` is one word with a bold letter; the stray ``</span>`` is ignored, the
    # unclosed blockquote (a quote) is dropped.
    assert html_to_text("<div><p>a<b>b</div></span>c<blockquote>q") == "ab\nc"
    assert isinstance(html_to_text("<<<>>><!-- <p"), str)


@pytest.mark.parametrize("text,lang", [
    ("Ingen ændringer", "da"), ("Status: I drift", "da"), ("No changes, thanks", "en"),
    ("Please update the status", "en"), ("", "da"), ("12345", "da"),
])
def test_language_guess(text: str, lang: str) -> None:
    assert guess_language(text) == lang


def _h(extra: str, subject: str = "Re: Påmindelse", body: str = "Hej") -> bytes:
    return (f"From: a@b.dk\nTo: landkort@example.org\nSubject: {subject}\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


@pytest.mark.parametrize("raw", [
    _h("Auto-Submitted: auto-replied\n"),
    _h("Auto-Submitted: auto-generated\n"),
    _h("X-Autoreply: yes\n"),
    _h("X-Autorespond: yes\n"),
    _h("Precedence: bulk\n"),
    _h("Precedence: junk\n"),
    _h("Return-Path: <>\n"),
    _h("", subject="Autosvar: Påmindelse"),
    _h("", subject="Automatisk svar: Påmindelse"),
    _h("", subject="Fraværende"),
    _h("", subject="Out of Office: Reminder"),
    _h("", subject="Automatic reply: Reminder"),
    _h("", subject="=?utf-8?Q?Frav=C3=A6rende=3A_P=C3=A5mindelse?="),
])
def test_auto_replies(raw: bytes) -> None:
    assert parse_message(raw).kind == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    assert parse_message(_h("Auto-Submitted: no\n")).kind == "unknown"


@pytest.mark.parametrize("body,subject,kind", [
    ("afmeld", "Re: Påmindelse", "unsubscribe"),
    ("Unsubscribe", "Re: Reminder", "unsubscribe"),
    ("STOP", "Re: Påmindelse", "unsubscribe"),
    ("Hej\n\nAfmeld mig venligst\n\nMvh Ole", "SV: Påmindelse", "unsubscribe"),
    ("", "Afmeld", "unsubscribe"),
    ("Vi har afsluttet projektet, men jeg vil gerne stadig modtage mails. Hvordan afmelder "
     "jeg mine kolleger? Stop ikke påmindelserne til mig.", "Re: Påmindelse", "unknown"),
])
def test_unsubscribe(body: str, subject: str, kind: str) -> None:
    assert parse_message(_h("", subject=subject, body=body)).kind == kind


def test_our_message_id_in_references_makes_a_reply() -> None:
    raw = _h("In-Reply-To: <landkort.abc.123@other.example>\n", body="Tak")
    assert parse_message(raw).kind == "reply"
    raw = _h("In-Reply-To: <someone.else.123@example.org>\n", body="Tak")
    assert parse_message(raw).kind == "unknown"


@pytest.mark.parametrize("extra,subject", [
    ("X-Landkort-Token: Qm9yZ2VyLXRva2VuLTIwMjUtMDM\n", "Re: x"),
    ("", "Re: Påmindelse [ref:Qm9yZ2VyLXRva2VuLTIwMjUtMDM]"),
    ("Delivered-To: landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org\n", "Re: x"),
    ("Cc: Landkort <landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org>\n", "Re: x"),
])
def test_reply_token_sources(extra: str, subject: str) -> None:
    r = parse_message(_h(extra, subject=subject, body="Status: I drift"))
    assert r.reply_token == "Qm9yZ2VyLXRva2VuLTIwMjUtMDM"
    assert r.kind == "reply"


def test_short_plus_part_is_not_a_token() -> None:
    raw = _h("Cc: landkort+abc@example.org\n", body="Hej")
    assert parse_message(raw).reply_token is None


def test_non_standard_bounce_from_mailer_daemon() -> None:
    raw = (b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.dk>\n"
           b"To: landkort@example.org\nSubject: Mail delivery failed: returning message to "
           b"sender\nContent-Type: text/plain\n\nThis message was created automatically by "
           b"mail delivery software.\n\nA message that you sent could not be delivered to "
           b"one or more of its recipients. This is a permanent error. The following "
           b"address(es) failed:\n\n  gone@kommune.example.dk\n    SMTP error from remote "
           b"mail server after RCPT TO:<gone@kommune.example.dk>:\n    550 5.1.1 User "
           b"unknown\n")
    r = parse_message(raw)
    assert r.kind == "bounce"
    assert r.bounce is not None and r.bounce.recipient == "gone@kommune.example.dk"
    assert r.bounce.status == "5.1.1" and r.bounce.permanent


def test_read_receipt_is_not_a_bounce() -> None:
    raw = (b"From: a@b.dk\nTo: landkort@example.org\nSubject: Read: Reminder\n"
           b"Content-Type: multipart/report; report-type=disposition-notification; "
           b"boundary=B\n\n--B\nContent-Type: text/plain\n\nYour message was read.\n--B\n"
           b"Content-Type: message/disposition-notification\n\nDisposition: manual-action/"
           b"MDN-sent-manually; displayed\n--B--\n")
    assert parse_message(raw).kind != "bounce"


def test_list_unsubscribe_mailto_subject_carries_the_token() -> None:
    raw = _h("Auto-Submitted: auto-generated\n",
             subject="afmeld Qm9yZ2VyLXRva2VuLTIwMjUtMDM",
             body="This message was automatically generated by Gmail.")
    r = parse_message(raw)
    assert r.kind == "unsubscribe"
    assert r.reply_token == "Qm9yZ2VyLXRva2VuLTIwMjUtMDM"


@pytest.mark.parametrize("markup", [
    "<div>Status: I drift<div><hr>Fra: a@example.org<br>Dato: 3. marts 2025<br>"
    "Til: b@example.dk<br>Emne: Påmindelse<br><br>Status: Projekt</div></div>",
    "<div>Status: I drift</div><div class='gmail_signature'>Jens<br>Tlf 12345678</div>",
    "<div>Status: I drift</div><div id='Signature'>Jens<br>Mobil 12345678</div>",
    "<div>Status: I drift</div><div class='moz-signature'>-- <br>Jens<br>Tlf: 1234</div>",
])
def test_html_rules_and_signatures_end_the_own_text(markup: str) -> None:
    raw = ("From: a@b.dk\nTo: landkort@example.org\nSubject: Re: x\n"
           "Content-Type: text/html; charset=utf-8\n\n" + markup).encode()
    r = parse_message(raw)
    assert r.reply_text == "Status: I drift"
    assert r.fields == {"status": "i_drift"}


@pytest.mark.parametrize("subject", ["Ferie og status på projektet", "Absence of data",
                                     "Fraværsregistrering i kommunen"])
def test_ordinary_subjects_are_not_auto_replies(subject: str) -> None:
    assert parse_message(_h("", subject=subject)).kind != "auto_reply"


def test_control_characters_in_part_headers_reach_no_result() -> None:
    """A Content-Type or file name with NUL and escape characters (the fuzzer found the
    first): neither the contract's attachments nor any kept value carries them."""
    import json

    raw = (b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
           b'Hej\n--b\nContent-Type:\x00\x1b\x7f application/pdf\n'
           b'Content-Disposition: attachment; filename="a\x00\x1bb.pdf"\n\n%PDF\n--b--\n')
    result = parse_message(raw)
    dumped = json.dumps(result.contract_dict()) + json.dumps(result.attachments)
    assert "\\u0000" not in dumped and "\\u001b" not in dumped
    assert result.files == [{"filename": "ab.pdf", "content_type": "application/pdf",
                             "size": 4}]
