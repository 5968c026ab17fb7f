"""Writing an outgoing mail as bytes: the few MIME shapes landkort sends, written directly.

Every mail landkort sends is one text part, or a text part and an HTML part as
``multipart/alternative``, both UTF-8 in quoted-printable (7-bit: no dependence on the
relay's 8BITMIME, RFC 6152, and body lines within RFC 2045's 76 characters). Building
those through :class:`email.message.EmailMessage` parsed every header value back into a
header object and folded it again, about 3 ms a mail on a slow core; intake answers each
mail it receives, so that was a fifth of the cost of handling one (#18). Here the bytes
are written from values that :mod:`bot.core.mailheaders` has already cleaned, with the
standard library's own encoders (:mod:`email.quoprimime`, :mod:`base64`):

- unstructured text (Subject) stays as it is where it is ASCII; each run of words holding
  other characters becomes RFC 2047 encoded-words (``=?utf-8?b?…?=``, at most 75
  characters each, §2), so ``[ref:TOKEN]`` stays readable ASCII;
- a display name (From, To) that is ASCII is written as a quoted-string where RFC 5322
  §3.2.4 needs one; otherwise it is one encoded-word as a whole (RFC 2047 §5(3));
- lines are folded between encoded-words at 78 characters (RFC 5322 §2.1.1); other header
  lines may run to 998, so URLs in List-Unsubscribe are never broken.

The caller passes only cleaned values: no CR, LF or other control characters (the
tests parse what this writes with the ``email`` package and compare).
"""
from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from email import quoprimime
from email.utils import formataddr

# Lines end in LF here, as the email package writes them with its default policy; the
# SMTP client sends every line ending as CRLF (RFC 5321 §2.3.8), so what the relay gets
# is the same, and stored mail reads back the same as before.
NL = "\n"
# 45 bytes of UTF-8 are 60 base64 characters: with "=?utf-8?b?" and "?=" a word is 72
# characters, within the 75 of RFC 2047 §2.
_WORD_BYTES = 45
_FOLD_AT = 78


def _one_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode('utf-8')).decode('ascii')}?="


def _words_b(text: str) -> list[str]:
    """``text`` as base64 encoded-words, split between characters (never inside one)."""
    words: list[str] = []
    chunk = bytearray()
    for ch in text:
        encoded = ch.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk = bytearray()
        chunk += encoded
    if chunk:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return words


def _atoms(value: str) -> list[str]:
    """The pieces of an unstructured value: ASCII words as they are, each run of words
    with other characters as encoded-words (the spaces inside a run go into the words:
    white space between two encoded-words is dropped when they are decoded, RFC 2047
    §6.2)."""
    pieces: list[str] = []
    run: list[str] = []
    for word in value.split(" "):
        if word.isascii():
            if run:
                pieces += _words_b(" ".join(run))
                run = []
            pieces.append(word)
        else:
            run.append(word)
    if run:
        pieces += _words_b(" ".join(run))
    return pieces


def _fold(name: str, pieces: Sequence[str]) -> str:
    """``Name: piece piece …`` folded before a piece that would pass 78 characters."""
    line = f"{name}:"
    lines: list[str] = []
    for i, piece in enumerate(pieces):
        if i and len(line) + 1 + len(piece) > _FOLD_AT:
            lines.append(line)
            line = ""
        line += " " + piece
    lines.append(line)
    return (NL).join(lines)


def unstructured(name: str, value: str) -> str:
    """One unstructured header line (Subject, an X- header) for a cleaned value."""
    if value.isascii():
        return f"{name}: {value}"
    return _fold(name, _atoms(value))


def address(name: str, display_name: str, addr: str) -> str:
    """One address header line (From, To) for a cleaned display name and a plain address."""
    if not display_name:
        return f"{name}: {addr}"
    if display_name.isascii():  # quoted where RFC 5322 needs it
        return f"{name}: {formataddr((display_name, addr))}"
    # One encoded-word, as the email package writes a name: its address parser puts a
    # space between adjacent encoded-words of a phrase, so splitting a long name would
    # change it for every reader built on it (a name is at most 100 characters, so the
    # line stays far within 998).
    return f"{name}: {_one_word(display_name)} <{addr}>"


def _qp(text: str) -> str:
    # Lines as str.splitlines() finds them (CR, LF, CR LF, and also FF, VT and the
    # Unicode line breaks): no bare CR reaches the wire (RFC 5322 §2.3).
    body = "".join(line + "\n" for line in text.splitlines())
    # body_encode works on one character per byte, as the email package feeds it.
    # (A lone surrogate in a stranger's text becomes "?" rather than failing the mail.)
    return quoprimime.body_encode(body.encode("utf-8", "replace").decode("latin-1"),
                                  maxlinelen=76,
                                  eol=NL)


def _part_headers(subtype: str) -> str:
    return (f'Content-Type: text/{subtype}; charset="utf-8"{NL}'
            f"Content-Transfer-Encoding: quoted-printable")


def write_message(header_lines: Sequence[str], text: str, html: str | None = None) -> bytes:
    """The whole mail: ``header_lines`` (from :func:`unstructured` and :func:`address`),
    then the MIME headers and the body, as the bytes to send."""
    head = NL.join(header_lines)
    if html is None:
        return (f"{head}{NL}{_part_headers('plain')}{NL}MIME-Version: 1.0{NL}{NL}"
                f"{_qp(text)}").encode("ascii")
    # "=_" never occurs in quoted-printable text, so the boundary cannot occur in a part
    # (RFC 2045 §6.7 encodes "=" as "=3D"; RFC 2046 §5.1.1).
    boundary = f"=_landkort_{uuid.uuid4().hex}"
    # The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), so
    # each part's own last line break is followed by one more.
    parts = "".join(f"--{boundary}{NL}{_part_headers(subtype)}{NL}{NL}{_qp(body)}{NL}"
                    for subtype, body in (("plain", text), ("html", html)))
    return (f'{head}{NL}Content-Type: multipart/alternative; boundary="{boundary}"{NL}'
            f"MIME-Version: 1.0{NL}{NL}{parts}--{boundary}--{NL}").encode("ascii")


__all__ = ["address", "unstructured", "write_message"]
