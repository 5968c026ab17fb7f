"""Hypothesis strategies that build hostile MIME messages, shared by the bounded CI fuzz
test (tests/test_fuzz_parser.py) and the long standalone run (benchmarks/fuzz_parser.py).

The strategies build real trees (random nesting of multipart/mixed, alternative, related,
report and message/rfc822) and then break them the way real mail is broken: unknown or
mislabelled charsets, utf-7, base64 with bad padding, quoted-printable with broken soft
line breaks, raw 8bit/binary bodies, valid and broken RFC 2047 encoded words, missing,
duplicated or wrong boundaries, NUL and control characters in headers, CRLF/LF mixes and
truncation anywhere.
"""
from __future__ import annotations

import base64
import json
import quopri
import re
from datetime import date
from typing import Any

from hypothesis import strategies as st

from bot.registry.vocabulary import MUNICIPALITIES
from intake.parse.message import KINDS, parse_message

# Version 2 of the contract added inferred and attachments.
CONTRACT_KEYS = ["kind", "reply_token", "reply_text", "fields", "confirmed_unchanged",
                 "bounce", "problems", "inferred", "attachments"]

# The contract's canonical keys and values (/work/shared/contracts/parse.md), written out
# here rather than imported, so that the parser's own tables are checked, not trusted.
TEXT_FIELDS = frozenset({"title", "description", "organisation", "contact_name"})
FREE_LIST_FIELDS = frozenset({"patient_groups", "technology"})
VOCABULARY: dict[str, frozenset[str]] = {
    "status": frozenset({"projekt", "under_udbredelse", "i_drift", "afsluttet"}),
    "participants": frozenset({"almen_praksis", "kommune", "sygehus"}),
    "regions": frozenset({"hovedstaden", "midtjylland", "nordjylland", "sjaelland",
                          "syddanmark"}),
    "municipalities": frozenset(MUNICIPALITIES),  # the 98 official names
}
LIST_FIELDS = frozenset({"participants", "regions", "municipalities", *FREE_LIST_FIELDS})
FIELD_KEYS = frozenset({*TEXT_FIELDS, *FREE_LIST_FIELDS, *VOCABULARY, "start_date",
                        "end_date", "contact_email", "contact_phone", "evaluation_url",
                        "website"})
assert len(FIELD_KEYS) == 16 and len(VOCABULARY["municipalities"]) == 98


def _is_contract_date(value: str) -> bool:
    """``YYYY-MM-DD`` (a real day) or ``YYYY-MM``."""
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", value)
    if m is None:
        return False
    try:
        date(int(m[1]), int(m[2]), int(m[3] or 1))
    except ValueError:
        return False
    return True


def check_field_value(key: str, value: Any) -> None:
    """``value`` is what the contract documents for ``key`` (None: "remove this value")."""
    assert key in FIELD_KEYS, f"unknown field {key!r}"
    if value is None:
        return
    if key in TEXT_FIELDS:
        assert isinstance(value, str) and value.strip(), (key, value)
        return
    if key in LIST_FIELDS:
        assert isinstance(value, list) and value, (key, value)
        assert all(isinstance(v, str) and v.strip() for v in value), (key, value)
        assert value == sorted(set(value)), f"{key} is not a sorted list: {value!r}"
        if key in VOCABULARY:
            assert set(value) <= VOCABULARY[key], (key, value)
        return
    assert isinstance(value, str), (key, value)
    if key == "status":
        assert value in VOCABULARY["status"], value
    elif key in ("start_date", "end_date"):
        assert _is_contract_date(value), (key, value)
    elif key == "contact_email":
        assert value == value.lower() and re.fullmatch(r"[^@\s]+@[^@\s]+", value), value
    elif key == "contact_phone":
        assert re.fullmatch(r"\+[1-9]\d{6,14}", value), value  # E.164
    else:  # evaluation_url, website
        assert re.fullmatch(r"https?://\S+", value, re.IGNORECASE), (key, value)


def check_contract(raw: bytes) -> dict[str, Any]:
    """Parse ``raw`` and assert the result is contract-shaped; returns the dict."""
    result = parse_message(raw)
    d: dict[str, Any] = result.contract_dict()
    assert list(d) == CONTRACT_KEYS
    assert d["kind"] in KINDS
    assert d["reply_token"] is None or isinstance(d["reply_token"], str)
    assert isinstance(d["reply_text"], str)
    assert isinstance(d["fields"], dict)
    assert isinstance(d["confirmed_unchanged"], bool)
    assert d["bounce"] is None or set(d["bounce"]) == {"recipient", "status", "permanent"}
    assert isinstance(d["problems"], list)
    assert all(set(p) == {"field", "message"} for p in d["problems"])
    # What the values mean: known fields with the documented values, ...
    for key, value in d["fields"].items():
        check_field_value(key, value)
    for p in d["problems"]:
        assert p["field"] in FIELD_KEYS and isinstance(p["message"], str) and p["message"], p
    # ... a confirmation gives no field, a bounce is filled exactly for kind bounce, and
    # what came from sentences (contract version 2) is a sorted subset of the fields.
    assert not d["confirmed_unchanged"] or d["fields"] == {}, d
    assert (d["kind"] == "bounce") == (d["bounce"] is not None), d
    inferred = list(getattr(result, "inferred", []))
    assert inferred == sorted(set(inferred)) and set(inferred) <= set(d["fields"]), inferred
    dumped = json.dumps(d, ensure_ascii=False)
    # NUL never reaches what is stored (PostgreSQL text and jsonb refuse it).
    assert "\\u0000" not in dumped and "\x00" not in dumped
    for text in (result.subject, result.from_addr, result.from_name, result.text_body,
                 result.auth_results, result.message_id):
        assert text is None or "\x00" not in text
    assert isinstance(result.text_body, str) and isinstance(result.attachments, list)
    return d


# --- pieces --------------------------------------------------------------------------------

CHARSETS = ["utf-8", "UTF-8", "iso-8859-1", "windows-1252", "us-ascii", "big5", "gb2312",
            "utf-7", "unicode-1-1-utf-7", "x-unknown", "unknown-8bit", "x-bogus-charset",
            "utf-16", "utf-32", "koi8-r", "shift_jis", "iso-2022-jp", "ks_c_5601-1987",
            "", "\"", "utf-8\"", "'utf-8'", "ascii; x=y", "\x00", "a" * 300, "idna",
            "rot13", "hex", "base64", "zlib", "punycode", "utf_8_sig", "mbcs"]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "BASE64", "quoted-printable", "x-uuencode",
             "uuencode", "bogus", "", "base64 base64", "\x00"]
MULTIPARTS = ["mixed", "alternative", "related", "report; report-type=delivery-status",
              "report", "digest", "signed", "x-weird"]
LEAF_TYPES = ["text/plain", "text/html", "text/enriched", "application/octet-stream",
              "application/zip", "application/pdf", "image/png", "message/delivery-status",
              "message/rfc822", "text/rfc822-headers", "", "text", "/", "text/plain/extra"]

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
                max_size=120)
form_lines = st.lists(st.sampled_from([
    "Titel: KOL i hjemmet", "Status: I drift", "Kommuner: Aalborg, Odense", "Regioner: x",
    "Beskrivelse:", "Startdato: 31.02.2020", "Ingen ændringer", "> Titel: gammel",
    "-- ", "Fra: landkort@example.org", "Sendt: i går", "afmeld", "Deltagere: ,,,",
    "Organisation: <script>alert(1)</script>", "Title: x", "Hjemmeside: javascript:x",
]), max_size=12).map("\n".join)
bodies_text = st.one_of(texts, form_lines)


def _encode_body(data: bytes, cte: str, draw: st.DrawFn) -> bytes:
    if cte.lower().startswith("base64"):
        enc = base64.b64encode(data)
        damage = draw(st.sampled_from(["ok", "strip_pad", "extra_pad", "junk", "cut", "wrap"]))
        if damage == "strip_pad":
            enc = enc.rstrip(b"=")
        elif damage == "extra_pad":
            enc += b"==="
        elif damage == "junk":
            enc = enc[: len(enc) // 2] + b"!!*\x00" + enc[len(enc) // 2:]
        elif damage == "cut" and enc:
            enc = enc[: draw(st.integers(0, len(enc)))]
        elif damage == "wrap":
            enc = b"\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))
        return enc
    if cte.lower() == "quoted-printable":
        enc = quopri.encodestring(data)
        damage = draw(st.sampled_from(["ok", "soft_break_eof", "bad_hex", "lone_eq",
                                       "soft_crlf_mix"]))
        if damage == "soft_break_eof":
            enc += b"="
        elif damage == "bad_hex":
            enc += b"=ZZ=4=\n=G1"
        elif damage == "lone_eq":
            enc = enc.replace(b"\n", b"=\n=\r\n", 3)
        elif damage == "soft_crlf_mix":
            enc = enc.replace(b"=\n", b"=\r")
        return enc
    return data


encoded_words = st.one_of(
    st.builds(lambda cs, t: f"=?{cs}?B?{base64.b64encode(t.encode('utf-8')).decode()}?=",
              st.sampled_from(["utf-8", "iso-8859-1", "x-bogus", "utf-7", ""]), texts),
    st.builds(lambda cs, t: f"=?{cs}?Q?{quopri.encodestring(t.encode('utf-8'), header=True).decode('ascii', 'replace')}?=",  # noqa: E501
              st.sampled_from(["utf-8", "windows-1252", "big5", "x-unknown"]), texts),
    st.sampled_from(["=?utf-8?B?!!!?=", "=?utf-8?Q?=ZZ?=", "=?bogus?X?abc?=", "=?utf-8?B?",
                     "=??B?QQ==?=", "=?utf-8?q?a_b?==?utf-8?b?YQ?=", "=?utf-8*da?Q?S=C3=B8?=",
                     "=?utf-8?B?" + "QUFB" * 2000 + "?="]),
)

header_values = st.one_of(
    texts, encoded_words,
    st.lists(st.one_of(texts, encoded_words), max_size=4).map(" ".join),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", " ", "\x00\x01\x02", "a\rb", "<<<>>>", "@@@", "\x7f\x1b[31m",
                     "landkort+AAAAAAAAAAAAAAAAAAAAAAAA@example.org", "<>", "\t\t",
                     "multi\n line\n\tfolded", "\u2028\u2029", "\ud7ff\ufeff"]),
)
header_names = st.sampled_from([
    "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
    "Reply-To", "Auto-Submitted", "Precedence", "Return-Path", "X-Landkort-Token",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
    "List-Id", "Delivered-To", "X-Failed-Recipients", "Authentication-Results",
    "X-Autoreply", "Bad Name", "\x00", "X-\x01", "Subject ", ":",
])


@st.composite
def headers(draw: st.DrawFn) -> list[str]:
    return [f"{draw(header_names)}: {draw(header_values)}"
            for _ in range(draw(st.integers(0, 8)))]


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    text = draw(bodies_text)
    if ctype == "text/html":
        text = f"<html><body><p onclick=x>{text}</p><blockquote>q</blockquote></body>"
    how = draw(st.sampled_from(["declared", "utf-8", "latin-1", "raw"]))
    if how == "raw":
        data = draw(st.binary(max_size=200))
    elif how == "declared":
        try:
            data = text.encode(charset.strip("\"'"))
        except (LookupError, UnicodeError, ValueError, TypeError):
            data = text.encode("utf-8")
    else:  # mislabelled: the label says one thing, the bytes are another
        data = text.encode(how, "replace")
    lines = [f"Content-Type: {ctype}; charset={charset}"] if ctype else []
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        name = draw(st.sampled_from(["a.zip", "=?utf-8?B?w7g=?=.pdf", "", "\x00.txt",
                                     "../../etc/passwd"]))
        lines.append(f'Content-Disposition: attachment; filename="{name}"')
    return ("\n".join(lines)).encode("utf-8", "replace") + b"\n\n" + \
        _encode_body(data, cte, draw)


def _tree(depth: int) -> st.SearchStrategy[bytes]:
    if depth <= 0:
        return leaf()
    return st.one_of(leaf(), multipart(depth), rfc822(depth))


@st.composite
def rfc822(draw: st.DrawFn, depth: int) -> bytes:
    inner = draw(_tree(depth - 1))
    hs = "\n".join(draw(headers())).encode("utf-8", "replace")
    return b"Content-Type: message/rfc822\n\n" + hs + b"\n" + inner


@st.composite
def multipart(draw: st.DrawFn, depth: int) -> bytes:
    sub = draw(st.sampled_from(MULTIPARTS))
    boundary = draw(st.sampled_from(["b1", "=_NextPart_000", "a b c", "", "x" * 200,
                                     "\"quoted\"", "--", "b1"]))
    declared = draw(st.sampled_from(["same", "missing", "other", "duplicate"]))
    head = f"Content-Type: multipart/{sub}"
    if declared == "same":
        head += f'; boundary="{boundary}"'
    elif declared == "other":
        head += '; boundary="not-used"'
    elif declared == "duplicate":
        head += f'; boundary="{boundary}"; boundary="zzz"'
    children = draw(st.lists(_tree(depth - 1), max_size=3))
    delim = b"--" + boundary.encode()
    body = b"preamble\n"
    for child in children:
        body += delim + b"\n" + child + b"\n"
    close = draw(st.sampled_from(["close", "none", "twice", "early"]))
    if close == "close":
        body += delim + b"--\n"
    elif close == "twice":
        body += delim + b"--\n" + delim + b"--\nepilogue\n"
    elif close == "early":
        body = delim + b"--\n" + body
    return head.encode("utf-8", "replace") + b"\n\n" + body


@st.composite
def mime_messages(draw: st.DrawFn) -> bytes:
    """A whole message: hostile headers over a random MIME tree, then damaged."""
    hs = draw(headers())
    if draw(st.booleans()):
        hs.insert(0, "MIME-Version: 1.0")
    tree = draw(_tree(draw(st.integers(0, 3))))
    raw = "\n".join(hs).encode("utf-8", "surrogatepass") + b"\n" + tree
    newline = draw(st.sampled_from(["lf", "crlf", "cr", "mixed"]))
    if newline == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif newline == "cr":
        raw = raw.replace(b"\n", b"\r")
    elif newline == "mixed":
        raw = b"".join(line + (b"\r\n" if i % 2 else b"\n")
                       for i, line in enumerate(raw.split(b"\n")))
    damage = draw(st.sampled_from(["none", "none", "truncate", "nul", "prefix_blank"]))
    if damage == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "nul" and raw:
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + b"\x00\x1b\x7f" + raw[i:]
    elif damage == "prefix_blank":
        raw = b"\r\n" + raw
    return raw


any_input = st.one_of(mime_messages(), st.binary(max_size=3000))
