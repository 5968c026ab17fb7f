"""MIME decoding: raw RFC 5322 bytes → a :class:`DecodedMessage` with readable text.

Real mail is often broken, so every step degrades instead of failing:

* headers are decoded from RFC 2047 encoded words, and raw 8-bit header bytes are read
  as UTF-8, then windows-1252;
* body parts are decoded from quoted-printable/base64 (RFC 2045) and then from their
  declared charset, falling back to UTF-8, windows-1252 and finally ISO-8859-1 (which
  accepts every byte);
* a multipart whose declared boundary never occurs (RFC 2046 §5.1.1 says it must) is
  read as one text/plain body;
* a message that starts with a blank line (no header section at all, strictly) is read
  with the header block that follows the blank line, when there is one;
* attachments are listed (name, type, size) but never decoded as text.

Nothing here raises for any input: :func:`decode_message` always returns a value.
"""
from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

#: The charset fallback chain after the declared charset. ISO-8859-1 maps every byte,
#: so the chain always ends with a result.
FALLBACK_CHARSETS: tuple[str, ...] = ("utf-8", "windows-1252", "iso-8859-1")

# Charset labels mail clients write that Python does not know by that name.
_CHARSET_ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac-roman",
    "iso-8859-8-i": "iso-8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
}

_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:")


# Parts that are about a message, not files a person attached (RFC 3464, RFC 8098).
_REPORT_PARTS = frozenset({"text/rfc822-headers", "message/delivery-status",
                           "message/disposition-notification", "message/feedback-report"})


@dataclass
class Attachment:
    """A non-text part: listed for moderators, never read as text."""

    name: str | None
    content_type: str
    size: int
    # Content-Disposition (attachment | inline | "") and whether the part has a
    # Content-ID (RFC 2392: something the HTML shows in place, like a signature logo).
    disposition: str = ""
    has_content_id: bool = False
    # The part itself (not copied), so a moderator can download it: see file_payload.
    part: Message | None = field(default=None, repr=False, compare=False)

    @property
    def is_file(self) -> bool:
        """A file the sender attached: not a report part, and not an image the mail shows
        inline (a logo in the signature)."""
        if self.content_type in _REPORT_PARTS:
            return False
        inline_image = self.content_type.startswith("image/") and (
            self.has_content_id or self.disposition == "inline" or not self.name)
        return self.disposition == "attachment" or not inline_image

    def as_dict(self) -> dict[str, Any]:
        """The attachment as a JSON-ready dict."""
        return {"name": self.name, "content_type": self.content_type, "size": self.size}

    def contract_dict(self) -> dict[str, Any]:
        """The contract's attachment object (``filename``, ``content_type``, ``size``)."""
        return {"filename": self.name, "content_type": self.content_type, "size": self.size}


@dataclass
class DecodedMessage:
    """The readable view of one message."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    # The same headers undecoded: structured ones (From, To) must be parsed before their
    # encoded-words are decoded (RFC 2047 §5: an encoded-word is never part of an
    # addr-spec), or "=?q?…=0D=0A…?=" in a display name rewrites the address.
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    text_body: str = ""          # the first text/plain part (or a body without MIME)
    html_body: str | None = None  # the first text/html part, raw
    attachments: list[Attachment] = field(default_factory=list)
    content_type: str = "text/plain"
    message: Message | None = None   # the parsed tree (compat32), for bounce scanning
    delivery_status: list[dict[str, str]] = field(default_factory=list)
    has_delivery_status: bool = False
    report_type: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first header of this name (case-insensitive), decoded."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def get_raw(self, name: str) -> str | None:
        """The first header of this name, undecoded (unfolded, NUL removed)."""
        lname = name.lower()
        for key, value in self.raw_headers:
            if key.lower() == lname:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every header of this name, decoded, in order."""
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


# ---------------------------------------------------------------------------------------
# Text decoding helpers


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').strip("'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        "".encode(name)
        b"".decode(name)
    except (LookupError, ValueError):
        return None
    return name


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode body bytes: declared charset → UTF-8 → windows-1252 → ISO-8859-1."""
    chain: list[str] = []
    codec = _codec(declared)
    if codec and codec not in ("ascii",):
        chain.append(codec)
    chain.extend(c for c in FALLBACK_CHARSETS if c not in chain)
    for name in chain:
        try:
            # NUL is never text (and PostgreSQL text and jsonb refuse it).
            return data.decode(name).replace("\x00", "")
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    return data.decode("iso-8859-1", "replace")  # pragma: no cover - latin-1 never fails


def _raw_header_text(value: Any) -> str:
    """A header value as str, with raw 8-bit bytes (surrogate-escaped) decoded."""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = text.encode("ascii", "surrogateescape")
        text = decode_bytes(raw)
    return text


def decode_header_value(value: Any) -> str:
    """Decode RFC 2047 encoded words (``=?utf-8?Q?...?=``) in a header value.

    Unknown charsets and broken encodings fall back to the charset chain; whitespace
    between adjacent encoded words is dropped, as RFC 2047 §6.2 requires.
    """
    text = _raw_header_text(value).replace("\x00", "")
    if "=?" not in text:
        return " ".join(text.split())
    try:
        chunks = email.header.decode_header(text)
    except Exception:
        return " ".join(text.split())
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return " ".join("".join(out).replace("\x00", "").split())


# ---------------------------------------------------------------------------------------
# Parsing


def _split_leading_blank(raw: bytes) -> bytes:
    """Drop blank lines before a header block (some stored mails start with one)."""
    stripped = raw.lstrip(b"\r\n")
    if len(stripped) < len(raw) and _HEADER_LINE.match(stripped):
        return stripped
    return raw


def _payload_bytes(part: Message) -> bytes:
    """The transfer-decoded bytes of a leaf part (RFC 2045 base64 / quoted-printable)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message) -> str:
    data = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")
    try:
        flowed = str(part.get_param("format") or "").lower() == "flowed"
        delsp = str(part.get_param("delsp") or "").lower() == "yes"
    except Exception:
        flowed = delsp = False
    if flowed and part.get_content_type() == "text/plain":
        text = unflow(text, delsp=delsp)
    return text


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676 §4.2).

    A line ending in a space continues on the next line of the same quote depth; with
    ``DelSp=yes`` that space was added by the sender and goes (§4.2). A leading space is
    space-stuffing and goes (§4.4); the signature separator "-- " is never flowed (§4.3).
    Quoted lines keep their depth as "> " prefixes.
    """
    out: list[str] = []
    para: list[str] = []
    para_depth = 0
    open_para = False

    def close() -> None:
        nonlocal para, open_para
        if para or open_para:
            prefix = ">" * para_depth + (" " if para_depth else "")
            out.append(prefix + "".join(para))
        para, open_para = [], False

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if open_para and depth != para_depth:
            close()
        if not open_para:
            para_depth = depth
        soft = content.endswith(" ") and content != "-- "
        para.append(content[:-1] if soft and delsp else content)
        open_para = soft
        if not soft:
            close()
    close()
    return "\n".join(out)


def file_payload(raw: bytes, index: int) -> tuple[Attachment, bytes] | None:
    """The ``index``-th file a sender attached (as listed by the contract's
    ``attachments``) and its decoded bytes, or None."""
    msg = decode_message(raw)
    files = [a for a in msg.attachments if a.is_file]
    if not 0 <= index < len(files) or files[index].part is None:
        return None
    attachment = files[index]
    part = attachment.part
    assert part is not None
    if part.is_multipart() or attachment.content_type == "message/rfc822":
        try:
            return attachment, part.as_bytes() if not part.is_multipart() else b"".join(
                p.as_bytes() for p in part.get_payload() if isinstance(p, Message))
        except Exception:
            return attachment, b""
    return attachment, _payload_bytes(part)


def _disposition(part: Message) -> str:
    return str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    if not name:
        return None
    # No control character of a sender's file name reaches a page, a header or JSON.
    return "".join(ch for ch in decode_header_value(name) if ch.isprintable())[:255] or None


def _delivery_status_blocks(part: Message) -> list[dict[str, str]]:
    """Per-recipient fields of a message/delivery-status part (RFC 3464 §2.3)."""
    blocks: list[dict[str, str]] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): _raw_header_text(v) for k, v in block.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip().lower()
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _walk(msg: Message, out: DecodedMessage, depth: int = 0) -> None:
    if depth > 20:
        return
    # A hostile Content-Type may carry control characters: they never reach a result
    # (JSON, the database, a page).
    ctype = "".join(ch for ch in (msg.get_content_type() or "text/plain").lower()
                    if ch.isprintable() and not ch.isspace()) or "application/octet-stream"
    if msg.is_multipart():
        payload = msg.get_payload()
        if ctype == "message/delivery-status":
            out.has_delivery_status = True
            out.delivery_status.extend(_delivery_status_blocks(msg))
            return
        if ctype == "message/rfc822":
            # The returned original of a bounce, or a forwarded message: list it, do not
            # read it as the sender's text.
            out.attachments.append(Attachment(_filename(msg), ctype, len(str(payload)),
                                              _disposition(msg), msg.get("Content-ID") is not None,
                                              msg))
            return
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _walk(sub, out, depth + 1)
        return
    # str(): with raw 8-bit bytes (a non-ASCII file name) compat32 gives a Header object.
    disposition = _disposition(msg)
    name = _filename(msg)
    if ctype == "message/delivery-status":
        out.has_delivery_status = True
        out.delivery_status.extend(_delivery_status_blocks(msg))
        return
    is_text = ctype in ("text/plain", "text/html") and disposition != "attachment"
    if is_text and ctype == "text/plain" and not out.text_body.strip() and not name:
        out.text_body = _part_text(msg)
        return
    if is_text and ctype == "text/html" and out.html_body is None and not name:
        out.html_body = _part_text(msg)
        return
    if is_text and ctype == "text/plain" and not name:
        return  # a second text part (e.g. a footer); the first one is the message
    out.attachments.append(Attachment(name, ctype, len(_payload_bytes(msg)), disposition,
                                      msg.get("Content-ID") is not None, msg))


def _broken_multipart_text(msg: Message) -> str | None:
    """The body of a multipart whose boundary never occurs, as plain text."""
    payload = msg.get_payload()
    if isinstance(payload, str):
        data = payload.encode("utf-8", "surrogateescape")
        return decode_bytes(data).replace("\r\n", "\n").replace("\r", "\n")
    return None


def decode_message(raw: bytes) -> DecodedMessage:
    """Decode a raw message. Never raises; unreadable input gives an empty view."""
    out = DecodedMessage()
    try:
        data = _split_leading_blank(raw if isinstance(raw, bytes) else bytes(raw))
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception:
        out.text_body = decode_bytes(raw if isinstance(raw, bytes) else b"")
        return out
    out.message = msg
    try:
        # raw_items(): the values as parsed, before compat32 turns raw 8-bit bytes into
        # U+FFFD; decode_header_value reads them with the charset chain instead.
        for key, value in msg.raw_items():
            out.headers.append((str(key), decode_header_value(value)))
            raw_text = _raw_header_text(value).replace("\x00", "")
            out.raw_headers.append((str(key), " ".join(raw_text.split())))
    except Exception:
        pass
    try:
        out.content_type = (msg.get_content_type() or "text/plain").lower()
        out.report_type = (msg.get_param("report-type") or None)  # type: ignore[assignment]
        if isinstance(out.report_type, tuple):
            out.report_type = str(out.report_type[2])
        if out.report_type:
            out.report_type = str(out.report_type).lower()
    except Exception:
        pass
    try:
        if msg.is_multipart() or out.content_type.startswith("multipart/"):
            broken = _broken_multipart_text(msg)
            if broken is not None:
                out.text_body = broken
                return out
        _walk(msg, out)
    except Exception:
        try:
            payload = msg.get_payload()
            if isinstance(payload, str):
                out.text_body = decode_bytes(payload.encode("utf-8", "surrogateescape"))
        except Exception:
            pass
    return out
