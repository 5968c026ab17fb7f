"""What kind of mail is this: bounce, automatic answer, or a person writing?

* Bounces: RFC 3464 delivery status notifications (``multipart/report;
  report-type=delivery-status`` with a ``message/delivery-status`` part) are read
  directly; the many non-standard formats (Exchange, qmail, old Postfix, …) are found
  with :mod:`flufl.bounce` plus the usual MAILER-DAEMON senders and subjects.
* Automatic answers: RFC 3834 ``Auto-Submitted`` other than ``no``, and the
  non-standard signs vacation programs set (``X-Autoreply``, ``X-Autorespond``,
  ``Precedence: bulk|junk|list|auto_reply``, Exchange's ``X-MS-Exchange-Inbox-Rules-Loop``
  is *not* used), out-of-office subjects in Danish and English (and a few neighbours),
  and a null return path (RFC 5321 §4.5.5: ``MAIL FROM:<>`` is for notifications only).
* Unsubscribe requests: a short own text or subject that says "afmeld" / "unsubscribe"
  / "stop".
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Any

from intake.parse.decode import DecodedMessage

# A detector that trips over a malformed mail logs its traceback with log.exception
# (ERROR): that is the sender's malformed mail, not our error, and the scan goes on.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


@dataclass
class BounceFinding:
    """What a bounce says about the failed delivery."""

    recipient: str | None
    status: str | None
    permanent: bool


# ---------------------------------------------------------------------------------------
# Bounces

_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon"
                            r"|bounce|bounces|mail delivery subsystem)\b", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver(?:ed|able)|returned mail|returned to sender|delivery status notification"
    r"|delivery (?:has )?failed|delivery failure|failure notice|mail delivery failed"
    r"|could not be delivered|non[- ]?remis|unzustellbar|nicht zustellbar|onbestelbaar"
    r"|kan ikke leveres|kunne ikke leveres|ikke leveret|levering mislykkedes"
    r"|returneret post|olevererbart|no se puede entregar|message not delivered"
    r"|delivery notification: delivery has failed|mail system error)",
    re.IGNORECASE)
# A search may start only where a run of address characters starts (look-behind), and
# nothing backtracks (possessive): linear on any bounce text.
_ADDRESS = re.compile(r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]++"
                      r"@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++")


def _addr_of(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if ";" in value:  # "rfc822; user@host" (RFC 3464 §2.3.2 address-type)
        value = value.split(";", 1)[1]
    m = _ADDRESS.search(value)
    return m.group(0).lower() if m else None


def _from_address(msg: DecodedMessage) -> tuple[str, str]:
    name, addr = parseaddr(msg.get("From") or "")
    return name, addr.lower()


_SUCCESS_ACTIONS = ("delivered", "relayed", "expanded")


def _specific_status(status: str | None, *texts: str | None) -> str | None:
    """The status, or a more specific enhanced code (RFC 3463) from the diagnostic text
    when the report's own is generic (``5.0.0``): "550 5.1.1 user unknown" says more."""
    if status is not None and not status.endswith(".0.0"):
        return status
    for text in texts:
        for m in _STATUS_CODE.finditer(text or ""):
            code = m.group(0)
            if not code.endswith(".0.0") and (status is None or code[0] == status[0]):
                return code
    return status


def _dsn_blocks(msg: DecodedMessage) -> list[tuple[str | None, str, dict[str, str]]]:
    """(recipient, action, block) per recipient block of the delivery-status parts.

    The recipient is the address we wrote to: ``Original-Recipient`` (RFC 3464 §2.3.1)
    when the report gives it, not a ``Final-Recipient`` rewritten by forwarding or an
    alias."""
    out = []
    for block in msg.delivery_status:
        recipient = _addr_of(block.get("original-recipient")) or _addr_of(
            block.get("final-recipient")) or _addr_of(block.get("x-actual-recipient"))
        if recipient is None and "action" not in block:
            continue  # the per-message block (Reporting-MTA, Arrival-Date …)
        out.append((recipient, (block.get("action") or "").strip().lower(), block))
    return out


def is_success_report(msg: DecodedMessage) -> bool:
    """A delivery status notification that reports only success (``Action: delivered``,
    ``relayed`` or ``expanded``, RFC 3464 §2.3.3): an automatic answer, not a bounce."""
    blocks = _dsn_blocks(msg)
    return bool(blocks) and all(action.startswith(_SUCCESS_ACTIONS)
                                for _, action, _ in blocks)


def _dsn_finding(msg: DecodedMessage) -> BounceFinding | None:
    """Read the per-recipient blocks of an RFC 3464 message/delivery-status part."""
    failed: list[BounceFinding] = []
    other: list[BounceFinding] = []
    for recipient, action, block in _dsn_blocks(msg):
        if action.startswith(_SUCCESS_ACTIONS):
            continue
        sm = _STATUS_CODE.search(block.get("status") or "")
        status = _specific_status(sm.group(0) if sm else None, block.get("diagnostic-code"),
                                  block.get("x-postfix-sender"))
        permanent = action.startswith(("fail", "error")) or bool(status and status[0] == "5")
        if action.startswith("delayed"):
            permanent = False
        finding = BounceFinding(recipient, status, permanent)
        (failed if action.startswith(("fail", "error")) else other).append(finding)
    if failed:
        return failed[0]
    if other:
        return other[0]
    return None


def _flufl_recipients(msg: DecodedMessage) -> tuple[list[str], list[str]]:
    """Temporary and permanent failures according to flufl.bounce's detectors."""
    if msg.message is None:
        return [], []
    try:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(msg.message)
    except Exception:
        return [], []

    def _dec(values: frozenset[bytes]) -> list[str]:
        out = []
        for v in sorted(values):
            try:
                a = v.decode("ascii").strip().lower()
            except (UnicodeDecodeError, AttributeError):
                continue
            if "@" in a:
                out.append(a)
        return out

    return _dec(temporary), _dec(permanent)


def _status_in_text(text: str) -> str | None:
    m = _STATUS_CODE.search(text)
    return m.group(0) if m else None


# What a delivery failure says in its text, in the languages bounces arrive in. Each
# alternative is a plain phrase (no nested repetition): linear on any text.
_BOUNCE_TEXT = re.compile(
    r"could\s?n[o']t be delivered|could not be delivered|was\s?n[o']t delivered"
    r"|was not delivered|wasn't delivered|undeliverable|delivery (?:has )?failed"
    r"|delivery to (?:the )?following recipients? (?:failed|was unsuccessful)"
    r"|following (?:addresses|address|recipients|recipient)(?:\(s\))? (?:failed|could not"
    r"|had permanent|were rejected|was rejected)|failed recipients?|permanent (?:error|failure)"
    r"|fatal error|recipient address rejected|user unknown|unknown user|no such user"
    r"|unknown recipient|recipient not found|address not found|address couldn't be found"
    r"|mailbox (?:unavailable|not found|does not exist|is full|full|quota)|over quota"
    r"|quota exceeded|exceeded (?:the |their |its )?(?:storage|quota|mailbox)"
    r"|smtp error from remote mail server|retry time(?:out)? (?:not reached|exceeded)"
    r"|message (?:was|has been) (?:blocked|rejected|quarantined|refused)"
    r"|(?:blocked|quarantined|rejected) by (?:the )?(?:recipient|mail|content|spam|security)"
    r"|virus (?:found|detected)|infected attachment"
    r"|kunne ikke leveres|kan ikke leveres|blev ikke leveret|ikke leveret"
    r"|levering(?:en)? (?:til følgende modtagere )?mislykkedes|postkassen er fuld"
    r"|ukendt modtager|modtageren findes ikke|konnte nicht zugestellt werden|unzustellbar"
    r"|postfach (?:ist )?voll|empfänger unbekannt|n'a pas pu être (?:remis|distribué)"
    r"|non remis|boîte aux lettres (?:est )?pleine|destinataire inconnu"
    r"|kunde inte levereras|postlådan är full|kon niet worden (?:bezorgd|afgeleverd)"
    r"|onbestelbaar|no se pudo entregar|no se puede entregar|buzón lleno"
    r"|\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b",
    re.IGNORECASE)
# A full mailbox or a quota is a temporary failure (RFC 3463 4.2.2), whatever the SMTP
# code the gateway chose.
_FULL_MAILBOX = re.compile(
    r"mailbox (?:is )?full|over quota|quota exceeded|exceeded (?:the |their |its )?"
    r"(?:storage|quota|mailbox)|postkassen er fuld|postfach (?:ist )?voll"
    r"|boîte aux lettres (?:est )?pleine|postlådan är full|buzón lleno|mailbox quota",
    re.IGNORECASE)
_UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such user|unknown recipient|recipient not found"
    r"|address not found|address couldn't be found|mailbox (?:not found|does not exist"
    r"|unavailable)|ukendt modtager|modtageren findes ikke|empfänger unbekannt"
    r"|destinataire inconnu", re.IGNORECASE)
_NOREPLY_SENDER = re.compile(r"^(?:no-?reply|do-?not-?reply|donotreply|notifications?"
                             r"|mail-?gateway|mailscanner|quarantine)\b", re.IGNORECASE)
_JSON_START = re.compile(r"\{")


def _automated(msg: DecodedMessage, name: str, local: str) -> bool:
    """Signs that no person wrote this: a daemon or no-reply sender, a failed-recipients
    header, or the headers of automatic mail (:func:`automatic_headers`)."""
    if _BOUNCE_SENDER.match(local) or _BOUNCE_SENDER.match(name):
        return True
    if _NOREPLY_SENDER.match(local) or msg.get("X-Failed-Recipients") is not None:
        return True
    return automatic_headers(msg)


def _failed_recipients_header(msg: DecodedMessage) -> list[str]:
    """Exim's ``X-Failed-Recipients`` (and the like): the failed addresses, named."""
    out: list[str] = []
    for value in msg.get_all("X-Failed-Recipients"):
        out += [m.group(0).lower() for m in _ADDRESS.finditer(value[:2000])]
    return out


def _json_bounce(text: str) -> BounceFinding | None:
    """A cloud mail service's bounce notice written as JSON (an SNS notification, a
    webhook event mailed on): the first bounced address, its status and type."""
    import json

    start = _JSON_START.search(text[:20000])
    if start is None:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start.start():start.start() + 200_000])
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:  # SNS wraps the notification as a string
            data = json.loads(data["Message"][:200_000])
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    flat = json.dumps(data)[:200_000].lower()
    if "bounce" not in flat and "failed" not in flat and "dropped" not in flat:
        return None
    inner = data.get("bounce")
    bounce: dict[str, Any] = inner if isinstance(inner, dict) else data
    kind = str(bounce.get("bounceType") or data.get("Type") or data.get("type")
               or data.get("event") or "").lower()
    recipients: list[Any] = []
    for key in ("bouncedRecipients", "recipients"):
        if isinstance(bounce.get(key), list):
            recipients = bounce[key]
            break
    first: Any = recipients[0] if recipients else bounce
    address = None
    status = None
    diagnostic = ""
    if isinstance(first, dict):
        for key in ("emailAddress", "email", "Email", "recipient", "address"):
            if isinstance(first.get(key), str):
                address = _addr_of(first[key])
                break
        status_value = first.get("status") or first.get("Status")
        status = _status_in_text(str(status_value)) if status_value else None
        diagnostic = str(first.get("diagnosticCode") or first.get("reason")
                         or first.get("Details") or first.get("Description") or "")
    elif isinstance(first, str):
        address = _addr_of(first)
    if address is None:
        return None
    status = _specific_status(status, diagnostic)
    temporary = "transient" in kind or "soft" in kind or "deferred" in kind or bool(
        _FULL_MAILBOX.search(diagnostic))
    permanent = not temporary and (status is None or status[0] == "5")
    return BounceFinding(address, status, permanent)


def detect_bounce(msg: DecodedMessage, text: str,
                  own_domain: str | None = None) -> BounceFinding | None:
    """A :class:`BounceFinding` when the message is a bounce, else None.

    Bounce evidence — a delivery-status part, a failed-recipient header or block, a
    known bounce format, the words of a delivery failure — wins over the signs of an
    automatic answer: relays mark bounces ``Precedence: bulk`` or ``Auto-Submitted`` and
    send them from no-reply addresses. A success-only report is not a bounce
    (:func:`is_success_report`). Addresses at ``own_domain`` (our return path) are never
    the failed recipient.
    """
    is_report = msg.content_type == "multipart/report" and (
        msg.report_type in (None, "delivery-status"))
    if msg.has_delivery_status or is_report:
        if is_success_report(msg):
            return None
        finding = _dsn_finding(msg)
        if finding is not None:
            return finding
        temporary, permanent = _flufl_recipients(msg)
        status = _status_in_text(text)
        if permanent or temporary:
            return BounceFinding((permanent or temporary)[0], status,
                                 bool(permanent) or bool(status and status[0] == "5"))
        return BounceFinding(None, status, status is None or status[0] == "5")
    if msg.content_type == "multipart/report" and msg.report_type not in (
            None, "delivery-status"):
        return None  # a disposition notification (read receipt) or feedback report
    name, addr = _from_address(msg)
    subject = msg.get("Subject") or ""
    local = addr.split("@", 1)[0] if addr else ""
    daemon = bool(_BOUNCE_SENDER.match(local) or _BOUNCE_SENDER.match(name))
    bouncy_subject = bool(_BOUNCE_SUBJECT.search(subject))
    if not _automated(msg, name, local):
        return None  # a person writing about a bounce, or forwarding one
    # Only now the text (most mail is from people and never gets here).
    head = text[:20000]
    failed_header = _failed_recipients_header(msg)
    words = _BOUNCE_TEXT.search(head)
    if not (daemon or bouncy_subject or failed_header or words):
        return None
    json_finding = _json_bounce(head) if "{" in head else None
    if json_finding is not None:
        return json_finding
    temporary, permanent = _flufl_recipients(msg)
    if not (bouncy_subject or permanent or temporary or failed_header or words):
        return None  # a postmaster writing as a person
    status = _status_in_text(head)
    failed = failed_header or permanent or temporary
    if own_domain:
        failed = [a for a in failed if not a.endswith("@" + own_domain.lower())]
    recipient = failed[0] if failed else _recipient_in_text(
        head, msg, own_domain, start=words.start() if words else 0)
    full = _FULL_MAILBOX.search(head)
    if status is None and full:
        status = "4.2.2"
    elif status is None and _UNKNOWN_USER.search(head):
        status = "5.1.1"
    if full and (status is None or status[0] != "5" or status.startswith("5.2.2")):
        is_permanent = False
    elif permanent or failed_header:
        is_permanent = status is None or status[0] == "5"
    elif temporary:
        is_permanent = bool(status and status[0] == "5")
    else:
        smtp = _SMTP_REPLY.search(head)
        is_permanent = (status[0] == "5") if status else not (smtp and smtp.group(1) == "4")
    return BounceFinding(recipient, status, is_permanent)


def _recipient_in_text(text: str, msg: DecodedMessage, own_domain: str | None = None,
                       start: int = 0) -> str | None:
    """The failed address in a bounce's text: the first one after where the failure is
    told (a "Failed Recipients" block names it next), else the first one at all; never
    the bounce's own sender or recipient, a daemon, or an address of ours."""
    own = {a.lower() for _, a in getaddresses(msg.get_all("To") + msg.get_all("From"))}
    suffix = "@" + own_domain.lower() if own_domain else None
    for begin in ((start, 0) if start else (0,)):
        for m in _ADDRESS.finditer(text[begin:begin + 5000]):
            a = m.group(0).lower()
            if a in own or _BOUNCE_SENDER.match(a.split("@")[0]):
                continue
            if _NOREPLY_SENDER.match(a.split("@")[0]):
                continue
            if suffix and a.endswith(suffix):
                continue
            return a
    return None


def _null_return_path(msg: DecodedMessage) -> bool:
    rp = msg.get("Return-Path")
    return rp is not None and rp.strip() in ("<>", "")


# ---------------------------------------------------------------------------------------
# Automatic answers

# Subjects of automatic answers. Unambiguous phrases may start a longer subject
# ("Automatisk svar: Påmindelse"); single words such as "Ferie" or "Absence" only count
# when they stand alone or end in a colon or dash ("Fraværende: …", "Ferie - …").
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[?auto(?:matisk)?[\s_-]*(?:svar|reply|response|answer|antwort|réponse)\]?"
    r"|autosvar|automatisk\s+svar|automatiskt\s+svar|automatic\s+reply|automatic\s+response"
    r"|auto[- ]?reply|auto[- ]?response|autoreply|out\s+of\s+(?:the\s+)?office"
    r"|abwesenheitsnotiz|automatische\s+antwort|réponse\s+automatique"
    r"|automatisch\s+antwoord|respuesta\s+automática|fuera\s+de\s+la\s+oficina"
    r"|risposta\s+automatica|away\s+from\s+(?:the\s+)?office|\[auto\s+generated\]"
    r"|auto\s+generated|(?:fraværende|fravær|ikke\s+til\s+stede|ude\s+af\s+kontoret"
    r"|på\s+ferie|ferie|abwesend|absence|afwezig|frånvaro|vacation|on\s+vacation)"
    r"\s*(?:[:\-–(!.]|$))"
    r"|(?:^|[\s:])(?:autosvar|automatisk svar|out of office|automatic reply|fraværende"
    r"|auto-reply|autoreply|abwesenheitsnotiz|réponse automatique)\s*:",
    re.IGNORECASE)


_VACATION_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")


def automatic_headers(msg: DecodedMessage) -> bool:
    """The headers say a program sent this: RFC 3834 ``Auto-Submitted`` other than
    ``no``, the vacation programs' own headers, ``Precedence: bulk|junk|list|…``, or the
    null return path (RFC 5321 §4.5.5: ``MAIL FROM:<>`` is for notifications). The one
    rule both bounces and automatic answers are judged by."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True  # RFC 3834 §5: auto-generated / auto-replied / auto-notified
    if any(msg.get(h) is not None for h in _VACATION_HEADERS):
        return True
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return True
    return _null_return_path(msg)


def is_auto_reply(msg: DecodedMessage) -> bool:
    """True for vacation notices and other automatic answers (RFC 3834 and friends)."""
    if automatic_headers(msg):
        return True
    suppress = (msg.get("X-Auto-Response-Suppress") or "").lower()
    if "oof" in suppress and _AUTO_SUBJECT.search(msg.get("Subject") or ""):
        return True
    return bool(_AUTO_SUBJECT.search(_strip_reply_prefix(msg.get("Subject") or "")))


_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|sv|vs|aw|antw|fw|fwd|vs|wg|tr|r|res|ref)\s*(?:\[\d+\])?"
                           r"\s*[:：]\s*)+", re.IGNORECASE)


def _strip_reply_prefix(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject)


# ---------------------------------------------------------------------------------------
# Unsubscribe

_UNSUB_TEXT = re.compile(
    r"^\W*(?:(?:jeg\s+vil\s+gerne\s+|venligst\s+|please\s+)?"
    r"(?:afmeld(?:e)?|afmeld\s+mig|afmelding|frameld(?:\s+mig)?|unsubscribe(?:\s+me)?"
    r"|stop|stopp|stop\s+venligst|please\s+stop|remove\s+me|fjern\s+mig"
    r"|slet\s+mig|jeg\s+ønsker\s+ikke\s+(?:flere|at\s+modtage)\s+(?:mails|e-mails|påmindelser)"
    r"|ingen\s+flere\s+(?:mails|e-mails|påmindelser)|no\s+more\s+(?:mails|emails|reminders))"
    r"(?:\s+(?:mig|me|tak|please|venligst|hermed|from\s+this\s+list|fra\s+listen"
    r"|fra\s+(?:jeres\s+)?(?:liste|mails|påmindelser)))*)\W*$",
    re.IGNORECASE)


_REF_TAG = re.compile(r"\[ref:[A-Za-z0-9_-]{1,64}\]", re.IGNORECASE)


def is_unsubscribe(own_text: str, subject: str) -> bool:
    """True when the sender only asks to stop receiving reminders.

    The own text (after quotes and signatures are gone) must be essentially the request:
    a long mail that merely mentions "stop" is not one.
    """
    lines = [ln.strip() for ln in own_text.splitlines() if ln.strip()]
    # Ignore a greeting and a sign-off with a name around the request.
    core = [ln for ln in lines if not re.match(
        r"^(?:hej|hi|hello|dear|kære|goddag|god\s+dag)\b.{0,40}$", ln, re.IGNORECASE)]
    from intake.parse.quotes import is_sign_off
    for k, ln in enumerate(core):
        if is_sign_off(ln, with_name=True):
            core = core[:k]
            break
    text = " ".join(core)
    if text and len(text) <= 80 and _UNSUB_TEXT.match(text):
        return True
    # Our own "[ref:TOKEN]" tag is not the person's words.
    subj = _REF_TAG.sub(" ", _strip_reply_prefix(subject)).strip()
    if subj and len(subj) <= 40 and _UNSUB_TEXT.match(subj) and len(text) <= 200:
        return True
    return False
