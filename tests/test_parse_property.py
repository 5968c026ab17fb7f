"""Property: ``parse_message`` never raises and always returns a contract-shaped dict,
whatever bytes arrive (random bytes, truncated headers, bogus charsets, boundaries and
transfer encodings, nested multiparts)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_mime import check_contract

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
