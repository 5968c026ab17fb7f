"""Values that go into the headers of our own mail, made safe whatever they came from.

Anyone can send the intake a mail, so a subject, a display name or a Message-ID we copy
into an answer is hostile text. Python's ``email`` package decodes RFC 2047 encoded-words
in a header value it is *given* (``msg["Subject"] = "=?utf-8?q?=0D=0ABcc:…?="``) and, in
the versions before 3.11.10/3.13.0 (CVE-2024-6923; the generator case CVE-2026-1299 is
fixed only in 2026's releases), writes the decoded CR/LF out verbatim: a new header, or
a new body, in mail we send. So we never rely on the library: every value is decoded
the way the library would decode it, until nothing changes, and then loses every control
character (RFC 5322 §2.2: a header field body is printable characters and WSP; §3.2.2
folding is the library's job, never the value's), and is cut to a length.

Pure functions; :func:`bot.mail.outbox.compose` is the one caller that writes headers.
"""
from __future__ import annotations

import re
import unicodedata
from email.headerregistry import HeaderRegistry

# C0/C1 controls (Cc), line and paragraph separators (Zl, Zp), and the bidirectional
# formatting characters that can make a subject read differently from what it is.
# Cs: a lone surrogate (what a UTF-7 or broken encoded-word can decode to) is no
# character at all and cannot be written in UTF-8.
_DROP_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])

_REGISTRY = HeaderRegistry()

# The longest a subject or a display name may be; RFC 5322 §2.1.1 limits lines, not
# fields, but nobody reads past this and a long value is only room for mischief.
SUBJECT_MAX = 200
NAME_MAX = 100

# RFC 5321 §4.5.3.1: local part ≤ 64 octets, domain ≤ 255, path ≤ 256 with the brackets.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Possessive quantifiers (Python 3.11) and a look-behind keep this linear on any input.
_LOCAL = rf"(?<![.A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]){_ATEXT}++(?:\.{_ATEXT}++)*+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?a){_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
# RFC 5322 §3.6.4 msg-id: "<" id-left "@" id-right ">", printable ASCII without the
# brackets and without white space.
_MSG_ID = re.compile(r"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")


def strip_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without control, separator and bidi-override characters (each becomes a
    space; with ``keep_newlines`` a ``\\n`` stays, for multi-line fields)."""
    if text.isprintable():
        # Printable text has none of them: str.isprintable is False for every character
        # of the categories above and for the bidi controls (all category Cf).
        return text
    out: list[str] = []
    for ch in text.replace("\r\n", "\n"):
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in _DROP_CATEGORIES or ord(ch) in _BIDI:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(strip_controls(text).split())


def header_text(value: str, max_chars: int = SUBJECT_MAX) -> str:
    """``value`` as safe text for an unstructured header (Subject, a display name).

    The result has no control characters, is at most ``max_chars`` long, and is a fixed
    point of the ``email`` package's own decoding: assigning it to a header gives back
    exactly this text, so no encoded-word can smuggle anything in.
    """
    text = _one_line(value)
    if "=?" not in text:
        # Without "=?" there is no encoded-word (RFC 2047 §2): the text is a fixed point
        # already, and a cut cannot make one (tests/test_mail_mime.py checks this).
        return text if len(text) <= max_chars else text[:max_chars - 1].rstrip() + "…"
    for _ in range(8):  # each round peels one layer of nested encoded-words
        decoded = _one_line(str(_REGISTRY("Subject", text)))
        if decoded == text:
            break
        text = decoded
    if len(text) > max_chars:
        text = text[:max_chars - 1].rstrip() + "…"
    if str(_REGISTRY("Subject", text)) != text:
        # Still decodes to something else (deeper nesting, or the cut made a new word):
        # break the encoded-word syntax itself (RFC 2047 §2 needs "=?" to start one).
        text = text.replace("=?", "= ?")
    return text


def is_mail_address(addr: str | None) -> bool:
    """True for a plain ``local@domain`` address we can put in a header and in SMTP's
    RCPT TO (ASCII dot-atom local part, a hostname with at least one dot)."""
    if not addr or len(addr) > 254:
        return False
    local = addr.rsplit("@", 1)[0]
    return len(local) <= 64 and _ADDRESS.fullmatch(addr) is not None


def message_id(value: str | None) -> str | None:
    """``value`` when it is one well-formed ``<id@host>`` msg-id, else None."""
    if not value:
        return None
    value = value.strip()
    return value if _MSG_ID.fullmatch(value) else None


class UnsafeHeaderValue(ValueError):
    """A value that cannot be written into a header at all (not an address, say)."""


__all__ = ["NAME_MAX", "SUBJECT_MAX", "UnsafeHeaderValue", "header_text", "is_mail_address",
           "message_id", "strip_controls"]
