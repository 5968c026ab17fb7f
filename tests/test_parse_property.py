"""Property: ``parse_message`` never raises and always returns a contract-shaped dict,
whatever bytes arrive (random bytes, truncated headers, bogus charsets, boundaries and
transfer encodings, nested multiparts) — and what it holds means what the contract says
(tests/fuzz_mime.check_contract): known fields with the documented values, no field with
a confirmation. Forms of every label with good, odd and bad values exercise the values."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_mime import FIELD_KEYS, check_contract

charsets = st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "us-ascii", "big5",
                            "x-bogus", "utf-7", "", "\"utf-8", "utf-16", "koi8-r"])
encodings = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode",
                             "binary", "bogus", ""])
ctypes = st.sampled_from(["text/plain", "text/html", "application/octet-stream",
                          "message/rfc822", "message/delivery-status", "multipart/mixed",
                          "multipart/report; report-type=delivery-status", "text/x-weird",
                          "multipart/alternative", ""])
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
junk = st.binary(max_size=300)


@st.composite
def part(draw: st.DrawFn, depth: int = 0) -> bytes:
    ctype = draw(ctypes)
    charset = draw(charsets)
    cte = draw(encodings)
    head = f"Content-Type: {ctype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n"
    if ctype.startswith("multipart") and depth < 3:
        boundary = draw(st.sampled_from(["b1", "b2", "=_x", "", "a b"]))
        head = f"Content-Type: {ctype}; boundary=\"{boundary}\"\n"
        used = draw(st.sampled_from([boundary, "other", ""]))
        children = draw(st.lists(part(depth + 1), max_size=3))
        body = b"".join(b"--" + used.encode() + b"\n" + c + b"\n" for c in children)
        if draw(st.booleans()):
            body += b"--" + used.encode() + b"--\n"
        return head.encode() + b"\n" + body
    body = draw(st.one_of(texts.map(lambda t: t.encode("utf-8")), junk))
    return head.encode("utf-8", "replace") + b"\n" + body


@st.composite
def message(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.sampled_from([
        b"From: =?utf-8?Q?S=C3=B8ren?= <s@x.dk>", b"From: <<<>>>", b"From:",
        b"To: landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org", b"To: @@@",
        b"Subject: =?bogus?Q?=ZZ?=", b"Subject: =?utf-8?B?!!!?=", b"Subject: Afmeld",
        b"Subject: Automatisk svar: x", b"Subject: Undelivered Mail Returned to Sender",
        b"Auto-Submitted: auto-replied", b"Precedence: bulk", b"Return-Path: <>",
        b"In-Reply-To: <landkort.1@example.org>", b"References: <<>",
        b"X-Landkort-Token: \xff\xfe", b"Message-ID: <a@b>", b"Subject: P\xe5mindelse",
        b"Folded: a\n b\n\tc", b"No colon here", b"\x00\x01\x02: bin",
        b"From: MAILER-DAEMON@x.example",
    ]), max_size=8))
    body = draw(part())
    raw = b"\n".join(headers) + b"\n" + body
    cut = draw(st.integers(min_value=0, max_value=len(raw)))
    return raw[:cut] if draw(st.booleans()) else raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check_contract(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message())
def test_malformed_mime_never_raises(raw: bytes) -> None:
    check_contract(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "> quoted", ">> nested", "On Mon, 1 Jan 2024 at 10:00, X <x@y.z> wrote:", "-- ",
    "Fra: x", "Sendt: y", "Til: z", "Emne: w", "Status: I drift", "Kommune: Aarhus",
    "Sendt fra min iPhone", "", "Titel:", "-----Oprindelig meddelelse-----", "```",
    "Med venlig hilsen", "Startdato: 99.99.9999", "C>", "________",
]), max_size=40))
def test_line_soup_never_raises(lines: list[str]) -> None:
    body = "\n".join(lines)
    raw = ("From: a@b.dk\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()
    check_contract(raw)


# Every label of the contract's table, Danish and English.
LABELS = ["Titel", "Navn på initiativ", "Initiativ", "Title", "Name", "Beskrivelse",
          "Formål", "Description", "Purpose", "Status", "Deltagere", "Sektorer",
          "Participants", "Sectors", "Region", "Regioner", "Regions", "Kommune", "Kommuner",
          "Municipality", "Municipalities", "Organisation", "Ansvarlig organisation",
          "Ansvarlig", "Organization", "Owner", "Patientgruppe", "Patientgrupper",
          "Målgruppe", "Sygdomsområde", "Patient groups", "Target group", "Disease area",
          "Teknologi", "Teknologier", "Technology", "Technologies", "Startdato", "Start",
          "Start date", "Slutdato", "Afsluttet", "Slut", "End date", "End", "Kontaktperson",
          "Kontakt", "Contact person", "Contact name", "E-mail", "Email", "Mail",
          "Kontakt e-mail", "Contact email", "Telefon", "Tlf.", "Tlf", "Mobil", "Phone",
          "Mobile", "Evaluering", "Link til evaluering", "Evaluation", "Hjemmeside", "Link",
          "Website", "Homepage"]
VALUES = ["I drift", "Pilot", "under implementering", "Afsluttet.", "rolling out", "måske",
          "Kommune og sygehus", "GP; hospital", "praktiserende læger", "apoteket",
          "Region Midt", "Hovedstaden og Sjælland", "hele landet", "Syddanmak",
          "Aalborg, Hjørring", "Kbh.", "Århus og Odense", "Lyngby; Taastrup", "Nordby",
          "2024-03-01", "1/3/2024", "1. marts 2024", "marts 2024", "03/2024", "31.02.2020",
          "snart", "12 34 56 78", "+45 1234 5678", "0046 8 123 456 78", "1234",
          "Mette.Jensen@Example.DK", "Mette Jensen <mette@example.dk>", "mette@",
          "www.example.dk", "<https://example.dk/eval.pdf>", "ikke endnu",
          "javascript:alert(1)", "KOL, hjertesvigt og diabetes", "Video; app / sensor",
          "uændret", "unchanged", "ingen", "", "  ", "Z, a, Å, æ, a", "<script>x</script>"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.one_of(st.sampled_from(VALUES), texts)),
                max_size=12),
       st.sampled_from(["", "Ingen ændringer.\n\n", "No changes, thanks.\n\n"]),
       st.sampled_from(["Nyt initiativ", "SV: Påmindelse [ref:Qm9yZ2VyLXRva2VuLTIwMjUtMDM]"]))
def test_form_answers_give_contract_values(pairs: list[tuple[str, str]], opening: str,
                                           subject: str) -> None:
    body = opening + "\n".join(f"{label}: {value}" for label, value in pairs)
    raw = (f"From: Mette <mette@example.dk>\nTo: landkort@example.org\nSubject: {subject}\n"
           "Content-Type: text/plain; charset=utf-8\n\n" + body).encode()
    check_contract(raw)


def test_a_full_form_gives_every_field_with_its_contract_value() -> None:
    """The value checks cover every key: a form that gives all sixteen."""
    form = ("Titel: KOL i hjemmet\nBeskrivelse: Borgere måler puls.\nStatus: I drift\n"
            "Deltagere: Kommune og sygehus\nRegioner: Nordjylland\n"
            "Kommuner: Hjørring, Aalborg\nOrganisation: Region Nordjylland\n"
            "Patientgrupper: KOL, diabetes\nTeknologi: Tablet; app\n"
            "Startdato: 1. marts 2024\nSlutdato: marts 2026\nKontaktperson: Mette Jensen\n"
            "E-mail: Mette.Jensen@Example.DK\nTelefon: 12 34 56 78\n"
            "Evaluering: www.example.dk/eval.pdf\nHjemmeside: https://example.dk/kol\n")
    raw = ("From: mette@example.dk\nTo: landkort@example.org\nSubject: Nyt initiativ\n"
           "Content-Type: text/plain; charset=utf-8\n\n" + form).encode()
    d = check_contract(raw)
    assert set(d["fields"]) == FIELD_KEYS and d["problems"] == []
    assert d["fields"]["municipalities"] == ["Aalborg", "Hjørring"]
    assert (d["fields"]["start_date"], d["fields"]["end_date"]) == ("2024-03-01", "2026-03")
    assert d["fields"]["contact_phone"] == "+4512345678"


def test_a_confirmation_with_a_field_is_not_confirmed_unchanged() -> None:
    raw = ("From: mette@example.dk\nTo: landkort+Qm9yZ2VyLXRva2VuLTIwMjUtMDM@example.org\n"
           "Subject: SV: Påmindelse\nContent-Type: text/plain; charset=utf-8\n\n"
           "Ingen ændringer, bortset fra:\nStatus: Afsluttet\n").encode()
    d = check_contract(raw)
    assert d["fields"] == {"status": "afsluttet"} and d["confirmed_unchanged"] is False


def test_a_phone_number_that_is_not_e164_is_a_problem() -> None:
    raw = (b"From: mette@example.dk\nTo: landkort@example.org\nSubject: Nyt initiativ\n"
           b"Content-Type: text/plain; charset=utf-8\n\nTitel: KOL\nTelefon: +0 1234 5678\n")
    d = check_contract(raw)
    assert "contact_phone" not in d["fields"]
    assert [p["field"] for p in d["problems"]] == ["contact_phone"]
