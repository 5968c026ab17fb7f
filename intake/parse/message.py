"""The top of e-mail intake's pure parsing core: raw bytes → :class:`ParseResult`.

``parse_message`` decodes the MIME structure (:mod:`intake.parse.decode`), converts HTML-only
mail to text (:mod:`intake.parse.html_text`), removes quotes and signatures
(:mod:`intake.parse.quotes`), classifies the mail (:mod:`intake.parse.classify`) and reads the
``Label: value`` form (:mod:`intake.parse.reply_form`) and what the free text says in
sentences (:mod:`intake.parse.sentences`). It never raises and never touches a
database or the network; ``landkort parse`` prints :meth:`ParseResult.contract_dict`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from typing import Any

from bot.core.mailheaders import strip_controls
from bot.registry.fields import Problem
from intake.parse.classify import (
    detect_bounce,
    is_auto_reply,
    is_success_report,
    is_unsubscribe,
)
from intake.parse.decode import DecodedMessage, decode_header_value, decode_message
from intake.parse.html_text import html_to_text
from intake.parse.leads import LeadMention, leads_in
from intake.parse.quotes import Trimmed, own_field_text, trim
from intake.parse.reply_form import read_form, split_label
from intake.parse.sent_form import inline_edits, sent_text
from intake.parse.sentences import read_sentences

KINDS: tuple[str, ...] = ("reply", "submission", "auto_reply", "bounce", "unsubscribe",
                          "unknown")

_TOKEN = r"[A-Za-z0-9_-]{16,64}"
_SUBJECT_TOKEN = re.compile(rf"\[ref:({_TOKEN})\]", re.IGNORECASE)
_HEADER_TOKEN = re.compile(rf"^\s*<?({_TOKEN})>?\s*$")
_MSGID = re.compile(r"<[^<>\s]+>")
# Our own Message-IDs: <local.{32 hex}@domain> (bot.mail.outbox.new_message_id). Bounded, and
# a match can only start at a "<": linear on any input.
_OWN_MSGID_SHAPE = r"<[A-Za-z0-9_+-]{1,64}\.[0-9a-f]{32}@[A-Za-z0-9.-]{1,253}>"
_CITED_ID = re.compile(_OWN_MSGID_SHAPE)
_CITED_ID_BYTES = re.compile(_OWN_MSGID_SHAPE.encode())
# The mailto variant of List-Unsubscribe (RFC 2369 §3.2) sends "afmeld TOKEN".
_UNSUB_SUBJECT_TOKEN = re.compile(
    rf"^\s*(?:(?:re|sv|aw)\s*:\s*)*(?:afmeld|unsubscribe|stop)\s+({_TOKEN})\s*$",
    re.IGNORECASE)


@dataclass
class BounceInfo:
    """The failed recipient of a bounce, its RFC 3463 status code and permanence."""

    recipient: str | None
    status: str | None
    permanent: bool

    def as_dict(self) -> dict[str, Any]:
        """The contract's ``bounce`` object."""
        return {"recipient": self.recipient, "status": self.status,
                "permanent": self.permanent}


# RFC 3834 §2: what says a mail was sent by a program, to a list, or as a bounce.
ANSWER_HEADERS = ("Auto-Submitted", "Precedence", "List-Id", "Return-Path")


@dataclass
class ParseResult:
    """Everything intake understood of one message."""

    kind: str = "unknown"
    reply_token: str | None = None
    reply_text: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    confirmed_unchanged: bool = False
    bounce: BounceInfo | None = None
    problems: list[Problem] = field(default_factory=list)
    language: str = "da"
    from_addr: str | None = None
    from_name: str | None = None
    subject: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    auth_results: str | None = None
    # Every non-text part (for moderators) and, of them, the files the sender attached
    # (the contract's ``attachments``: no returned original, no inline signature logo).
    attachments: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    # Keys of ``fields`` read from sentences, not label lines: suggestions for moderators.
    inferred: list[str] = field(default_factory=list)
    inferred_from: dict[str, str] = field(default_factory=dict)  # key → the sentence
    # Keys of ``fields`` read from edits typed into the quoted reminder (``sent`` given).
    inline: list[str] = field(default_factory=list)
    inline_from: dict[str, str] = field(default_factory=dict)  # key → the edited line
    html_body: str | None = None
    text_body: str = ""
    # Message-IDs of the shape we give our own mail, cited anywhere in a bounce (its
    # headers, the returned original's headers, its text): what ties a bounce to mail
    # we really sent (a report naming none of ours is not trusted).
    cited_ids: list[str] = field(default_factory=list)
    # Initiatives the own text mentions as perhaps not on the map (intake.parse.leads).
    leads: list[LeadMention] = field(default_factory=list)
    # The headers that decide whether a program may answer (RFC 3834 §2, ANSWER_HEADERS),
    # as compat32 reads them, those present only: read here so the writer need not parse the header
    # section a second time (intake.mail.answers.answer_block_reason).
    answer_headers: dict[str, str] = field(default_factory=dict)

    def contract_dict(self) -> dict[str, Any]:
        """Exactly the JSON object of the ``landkort parse`` contract (version 2)."""
        return {
            "kind": self.kind,
            "reply_token": self.reply_token,
            "reply_text": self.reply_text,
            "fields": dict(self.fields),
            "confirmed_unchanged": self.confirmed_unchanged,
            "bounce": self.bounce.as_dict() if self.bounce else None,
            "problems": [p.as_dict() for p in self.problems],
            "inferred": sorted(self.inferred),
            "attachments": [dict(a) for a in self.files],
        }


# ---------------------------------------------------------------------------------------
# Tokens and threading


def _addresses(msg: DecodedMessage, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(msg.get_all(name))
    try:
        return [a.strip().strip("<>").lower() for _, a in getaddresses(values) if a]
    except Exception:
        return []


def find_reply_token(msg: DecodedMessage, subject: str, own_local_part: str = "landkort",
                     own_domain: str | None = None) -> str | None:
    """The reply token from ``landkort+TOKEN@…``, ``X-Landkort-Token`` or ``[ref:TOKEN]``."""
    plus = re.compile(rf"^{re.escape(own_local_part)}\+({_TOKEN})@(.+)$", re.IGNORECASE)
    for addr in _addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To",
                           "Envelope-To", "X-Envelope-To"):
        m = plus.match(addr)
        if m:  # any domain: aliases and forwarding keep the local part
            return _case_preserved(msg, m.group(1))
    header = msg.get("X-Landkort-Token")
    if header:
        m = _HEADER_TOKEN.match(header)
        if m:
            return m.group(1)
    m = _SUBJECT_TOKEN.search(subject)
    if m:
        return m.group(1)
    return None


def _case_preserved(msg: DecodedMessage, token: str) -> str:
    """The token as written (addresses were lower-cased to compare them)."""
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        for value in msg.get_all(name):
            i = value.lower().find(token.lower())
            if i >= 0:
                return value[i:i + len(token)]
    return token


def _msgids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _is_our_msgid(msgid: str, own_local_part: str) -> bool:
    # Our outgoing Message-IDs look like <landkort.{anything}@{domain}>.
    return msgid.lower().startswith(f"<{own_local_part.lower()}.")


# ---------------------------------------------------------------------------------------
# Language

_DA_WORDS = frozenset("""og ikke er jeg vi det på til af den har med for som en et at kan
venlig hilsen hilsen tak ingen ændringer ændring uændret stadig korrekt korrekte bekræftet
oplysningerne vores jeres hej kære mvh afmeld mig også være skal vil bliver blev nu""".split())
_EN_WORDS = frozenset("""the and is not we it on to of with for as an that can regards
thanks thank no changes unchanged still correct confirmed our your hi dear please would
be will are this have has was were unsubscribe""".split())
_DA_LABELS = frozenset({"titel", "beskrivelse", "formål", "deltagere", "sektorer", "regioner",
                        "kommune", "kommuner", "ansvarlig", "patientgruppe", "patientgrupper",
                        "målgruppe", "teknologi", "startdato", "slutdato", "kontaktperson",
                        "telefon", "tlf", "hjemmeside", "evaluering", "afsluttet"})
_EN_LABELS = frozenset({"title", "description", "purpose", "participants", "municipality",
                        "municipalities", "organization", "owner", "technology",
                        "technologies", "phone", "website", "homepage", "evaluation"})


def guess_language(text: str) -> str:
    """"da" or "en" for the sender's own text; Danish when unsure."""
    if re.search(r"[æøåÆØÅ]", text):
        return "da"
    words = re.findall(r"[a-zæøå]+", text.lower())
    if not words:
        return "da"
    da = sum(1 for w in words if w in _DA_WORDS or w in _DA_LABELS)
    en = sum(1 for w in words if w in _EN_WORDS or w in _EN_LABELS)
    return "en" if en > da else "da"


# ---------------------------------------------------------------------------------------
# Parsing


def _body_text(msg: DecodedMessage) -> tuple[str, Trimmed]:
    """(whole decoded text, trimmed own text) — text/plain preferred, else the HTML
    part converted (its quote markup dropped first, then the text rules applied)."""
    plain = msg.text_body
    if plain.strip() or not msg.html_body:
        return plain, trim(plain)
    whole = html_to_text(msg.html_body, drop_quotes=False)
    return whole, trim(html_to_text(msg.html_body, drop_quotes=True))


_SUBMISSION_SUBJECT = re.compile(
    r"\b(?:nyt\s+initiativ|new\s+initiative|indberetning|tilmelding\s+af|anmeldelse\s+af"
    r"|nyt\s+projekt|new\s+project)\b", re.IGNORECASE)


# An RFC 2047 encoded-word, bounded (§2: at most 75 characters; we allow more).
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]{0,900}\?=")


def sender_of(raw_from: str) -> tuple[str | None, str | None]:
    """(display name, address) of an undecoded From header.

    The structure is parsed first with every encoded-word held as an opaque atom, and
    only then is the display name decoded (RFC 2047 §5: encoded-words may stand in a
    phrase, never in an addr-spec). Decoding first lets a ":" or "<…>" hidden in an
    encoded-word rewrite the address; the name loses control characters.
    """
    words: list[str] = []

    def hold(m: re.Match[str]) -> str:
        words.append(m.group(0))
        return f"landkortencodedword{len(words) - 1}x"

    name, addr = parseaddr(_ENCODED_WORD.sub(hold, raw_from))
    if "landkortencodedword" in addr:
        addr = ""
    for i, word in enumerate(words):
        name = name.replace(f"landkortencodedword{i}x", word)
    clean = " ".join(strip_controls(decode_header_value(name)).split()) if name else ""
    return clean or None, addr.lower() or None


def parse_message(raw: bytes, *, own_domain: str = "example.org",
                  own_local_part: str = "landkort", sent: bytes | None = None) -> ParseResult:
    """Parse one raw message. Never raises: anything unreadable degrades to ``unknown``.

    ``own_domain`` and ``own_local_part`` name the service's address
    (``landkort@example.org``): reply tokens are read from ``own_local_part+TOKEN@…``
    (at any domain, so aliases work), our own Message-IDs start with
    ``<own_local_part.``, and a bounce never names an address at ``own_domain`` as the
    failed recipient.

    ``sent`` is the mail of ours this one answers (contract v2 ``--sent``): edits typed
    into its quoted form are read by comparing the two (:mod:`intake.parse.sent_form`).
    """
    try:
        return _parse(raw, own_domain, own_local_part, sent)
    except Exception:  # the last line of defence; the parts below are defensive too
        return ParseResult(kind="unknown")


def _parse(raw: bytes, own_domain: str, own_local_part: str,
           sent: bytes | None = None) -> ParseResult:
    msg = decode_message(raw)
    res = ParseResult()
    res.subject = msg.get("Subject") or ""
    res.from_name, res.from_addr = sender_of(msg.get_raw("From") or "")
    ids = _msgids(msg.get("Message-ID"))
    res.message_id = ids[0] if ids else None
    irt = _msgids(msg.get("In-Reply-To"))
    res.in_reply_to = irt[0] if irt else None
    res.references = _msgids(" ".join(msg.get_all("References")))
    res.auth_results = msg.get("Authentication-Results")
    # As the email package's compat32 reading gives them (8-bit bytes and NUL included),
    # so the decision is the one a second parse of the header section would make.
    tree = msg.message
    res.answer_headers = {} if tree is None else {
        name: str(value) for name in ANSWER_HEADERS if (value := tree.get(name)) is not None}
    res.html_body = msg.html_body
    res.reply_token = find_reply_token(msg, res.subject, own_local_part, own_domain)

    whole, trimmed = _body_text(msg)
    own = trimmed.text
    res.text_body = whole
    res.reply_text = own

    bounce = detect_bounce(msg, whole, own_domain)
    res.attachments = [a.as_dict() for a in msg.attachments]
    # A bounce's parts are the returned original, not files anyone attached.
    res.files = [] if bounce is not None else [
        a.contract_dict() for a in msg.attachments if a.is_file]
    if bounce is not None:
        res.kind = "bounce"
        res.cited_ids = _cited_ids(msg, raw)
        res.bounce = BounceInfo(bounce.recipient, bounce.status, bounce.permanent)
        return res
    unsub = _UNSUB_SUBJECT_TOKEN.match(res.subject)
    if unsub:  # our List-Unsubscribe mailto link, perhaps sent by the mail client itself
        res.kind = "unsubscribe"
        res.reply_token = res.reply_token or unsub.group(1)
        res.language = guess_language(own or res.subject)
        return res
    if is_auto_reply(msg) or is_success_report(msg):
        res.kind = "auto_reply"
        res.language = guess_language(own or res.subject)
        return res

    field_text = own_field_text(trimmed)
    res.language = guess_language(own or res.subject)
    form = read_form(field_text, res.language)
    res.fields = form.fields
    res.problems = form.problems
    # What the sender said in sentences: suggestions, below what a label line gave.
    said = read_sentences(form.free_text)
    _add_not_given(res, said.fields, said.sources, res.inferred, res.inferred_from)
    # Initiatives the sender mentions that may not be on the map (not in the contract's
    # JSON: the processor turns them into leads for moderators).
    res.leads = leads_in(form.free_text)
    if sent is not None:
        read_quoted_form(res, sent)
    res.confirmed_unchanged = (form.confirmed_unchanged or said.confirmed) \
        and not res.fields and not res.problems

    ours = any(_is_our_msgid(i, own_local_part) for i in irt + res.references)
    if is_unsubscribe(own, res.subject) or said.unsubscribe:
        res.kind = "unsubscribe"
        res.fields, res.problems, res.confirmed_unchanged = {}, [], False
        res.inferred, res.inferred_from = [], {}
    elif res.reply_token or ours:
        res.kind = "reply"
    elif _looks_like_submission(res, field_text):
        res.kind = "submission"
    else:
        res.kind = "unknown"
    return res


def read_quoted_form(res: ParseResult, sent: bytes) -> None:
    """Add to a parsed reply the edits typed into the quoted form of ``sent``, the mail of
    ours it answers (contract v2 ``--sent``); the own text wins. Works on what the parse
    kept (the whole text and the own text), so the processor need not parse again once
    it has found our mail. Pure."""
    edits = inline_edits(res.text_body, res.reply_text, sent_text(sent), res.language)
    given = _add_not_given(res, edits.fields, edits.lines, res.inline, res.inline_from)
    res.problems += [p for p in edits.problems if p.field not in given]
    if res.fields or res.problems:
        res.confirmed_unchanged = False


def _add_not_given(res: ParseResult, values: dict[str, Any], sources: dict[str, str],
                   keys: list[str], origin: dict[str, str]) -> set[str]:
    """Add ``values`` for the fields the own label lines (and their problems) did not
    give — the sender's own words win — noting each key and where it came from. Returns
    the fields given before."""
    given = set(res.fields) | {p.field for p in res.problems}
    for key, value in values.items():
        if key not in given:
            res.fields[key] = value
            keys.append(key)
            origin[key] = sources.get(key, "")
    keys.sort()
    return given


def _cited_ids(msg: DecodedMessage, raw: bytes) -> list[str]:
    """Our Message-IDs anywhere in a bounce: the raw bytes (its own headers, plain parts)
    and every part decoded (a returned original or its headers are often base64 or
    quoted-printable, and an embedded message's headers are parsed for us)."""
    found = [m.decode("ascii") for m in _CITED_ID_BYTES.findall(raw)]
    if msg.message is not None:
        try:
            for part in msg.message.walk():
                for value in part.get_all("Message-ID") or []:
                    found += _CITED_ID.findall(" ".join(str(value).split()))
                if part.is_multipart():
                    continue
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    found += [m.decode("ascii") for m in _CITED_ID_BYTES.findall(payload)]
        except Exception:  # a damaged tree: what was found so far counts
            pass
    return list(dict.fromkeys(found))[:20]


def _looks_like_submission(res: ParseResult, field_text: str) -> bool:
    given = set(res.fields) | {p.field for p in res.problems}
    if "title" in given or len(given) >= 3:
        return True
    if _SUBMISSION_SUBJECT.search(res.subject) and field_text.strip():
        return True
    return any(split_label(line) for line in field_text.splitlines()) and len(given) >= 2


__all__ = ["ANSWER_HEADERS", "KINDS", "BounceInfo", "ParseResult", "find_reply_token",
           "guess_language",
           "parse_message", "read_quoted_form"]
