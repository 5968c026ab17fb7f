"""The mail writer (:mod:`bot.mail.mime`) against the ``email`` package's reading of it.

Whatever the name, subject and body, the bytes must be 7-bit, every line within RFC 5322's
998 characters, every encoded-word within RFC 2047's 75, and reading them back with the
standard library must give exactly the cleaned values that went in.
"""
from __future__ import annotations

import re
import unicodedata
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bot.core.mailheaders import NAME_MAX, SUBJECT_MAX, header_text, strip_controls
from bot.core.settings import load_settings
from bot.mail import mime
from bot.mail.outbox import compose
from bot.mail.templates import RenderedMail

SETTINGS = load_settings(environ={}, secret_key="test-secret-key-0123456789abcdef",
                         mail_domain="example.org", from_name="Det telemedicinske landkort")
_ENCODED_WORD = re.compile(rb"=\?[^?]*\?[bBqQ]\?[^?]*\?=")
TRICKY = ["æøå", "Søren \"Bo\" Ærø", "a@b, c", "(note)", "<x>", "\\", "=?utf-8?b?QUJD?=",
          "=?", "?=", "😀", "中文", "\udc80 hej", "\ud800", "ÆØÅ" * 80, "x" * 300, "[ref:abc]",
          "Ø ø ø", "", " a  b "]
text = st.lists(st.sampled_from(TRICKY) | st.text(max_size=20), max_size=8).map(" ".join)


def sent(text: str) -> str:
    """A body as it goes out: a lone surrogate (no character) becomes "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def read(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def check_shape(raw: bytes) -> None:
    assert raw.isascii()
    head = raw.split(b"\n\n", 1)[0]
    assert b"\r" not in raw  # LF here; the SMTP client sends CRLF
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    for line in head.split(b"\n"):  # folded between the pieces of a long Subject
        if len(line) > 78 and line.startswith((b"Subject:", b" ")):
            assert b" " not in line.split(b":", 1)[-1].strip(), line
    subject = head.split(b"\nSubject:", 1)[1].split(b"\nDate:", 1)[0]
    assert all(len(w) <= 75 for w in _ENCODED_WORD.findall(subject))


@hyp_settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
@given(name=text, subject=text, body=text, html=st.none() | text)
def test_what_is_written_reads_back_the_same(name: str, subject: str, body: str,
                                             html: str | None) -> None:
    mail = RenderedMail(subject=subject or "S", text=body, html=html)
    composed = compose(SETTINGS, to_addr="anna@example.dk", mail=mail, kind="receipt",
                       reply_token="t" * 32, to_name=name)
    check_shape(composed.raw)
    msg = read(composed.raw)
    expected_subject = f"{header_text(subject or 'S', SUBJECT_MAX)} [ref:{'t' * 32}]".lstrip()
    assert msg["Subject"] == expected_subject == composed.subject
    to = msg["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == "anna@example.dk"
    assert to[0].display_name == (header_text(name, NAME_MAX) if name else "")
    assert msg["From"].addresses[0].addr_spec == SETTINGS.intake_address
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content() == "".join(line + "\n" for line in sent(body).splitlines())
    if html is None:
        assert msg.get_content_type() == "text/plain"
    else:
        assert msg.get_content_type() == "multipart/alternative"
        part = msg.get_body(preferencelist=("html",))
        assert part is not None
        assert part.get_content() == "".join(line + "\n" for line in sent(html).splitlines())


@hyp_settings(max_examples=300, deadline=None, database=None)
@given(st.text().filter(lambda t: "=?" not in t))
def test_text_without_an_encoded_word_is_already_a_fixed_point(value: str) -> None:
    """The fast path of header_text: without "=?" the email package reads the cleaned
    text back unchanged."""
    from email.headerregistry import HeaderRegistry

    cleaned = header_text(value, 10_000)
    assert "=?" in cleaned or str(HeaderRegistry()("Subject", cleaned)) == cleaned


def _strip_each(text: str, keep_newlines: bool) -> str:
    """strip_controls' rule spelled out per character (its printable fast path must
    agree with it)."""
    bidi = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    return "".join(
        ch if (keep_newlines and ch == "\n") or not (
            unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ord(ch) in bidi)
        else " " for ch in text.replace("\r\n", "\n"))


@given(st.text() | text, st.booleans())
def test_strip_controls_is_its_rule_per_character(value: str, keep_newlines: bool) -> None:
    assert strip_controls(value, keep_newlines=keep_newlines) == _strip_each(value,
                                                                             keep_newlines)


def test_ascii_stays_readable_and_danish_is_encoded() -> None:
    line = mime.unstructured("Subject", "Påmindelse: Videokonsultation [ref:abc]")
    assert line.startswith("Subject: =?utf-8?b?") and line.endswith(" Videokonsultation [ref:abc]")
    assert mime.address("To", "Anna Berg", "a@b.dk") == "To: Anna Berg <a@b.dk>"
    assert mime.address("To", "Berg, Anna", "a@b.dk") == 'To: "Berg, Anna" <a@b.dk>'
    assert mime.address("To", "", "a@b.dk") == "To: a@b.dk"


def test_a_long_header_folds_between_words() -> None:
    line = mime.unstructured("Subject", "Æ" * 200)
    assert line.count("\n ") >= 4
    assert str(read(f"{line}\r\n\r\nx\r\n".encode())["Subject"]) == "Æ" * 200


def test_the_boundary_never_occurs_in_a_part() -> None:
    raw = mime.write_message(["Subject: s"], "--=_landkort_ in the text", "<p>=_ too</p>")
    boundary = re.search(rb'boundary="([^"]+)"', raw)
    assert boundary is not None
    body = raw.split(b"\n\n", 1)[1]
    assert body.count(b"--" + boundary.group(1)) == 3  # two parts and the close
