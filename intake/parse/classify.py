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


def _dsn_finding(msg: DecodedMessage) -> BounceFinding | None:
    """Read the per-recipient blocks of an RFC 3464 message/delivery-status part."""
    failed: list[BounceFinding] = []
    other: list[BounceFinding] = []
    for block in msg.delivery_status:
        recipient = _addr_of(block.get("final-recipient")) or _addr_of(
            block.get("original-recipient")) or _addr_of(block.get("x-actual-recipient"))
        if recipient is None and "action" not in block:
            continue  # the per-message block (Reporting-MTA, Arrival-Date …)
        action = (block.get("action") or "").strip().lower()
        sm = _STATUS_CODE.search(block.get("status") or "")
        status = sm.group(0) if sm else None
        if status is None:
            dm = _STATUS_CODE.search(block.get("diagnostic-code") or "")
            status = dm.group(0) if dm else None
        permanent = action.startswith(("fail", "error")) or bool(status and status[0] == "5")
        if action.startswith(("delayed", "delivered", "relayed", "expanded")):
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


def detect_bounce(msg: DecodedMessage, text: str,
                  own_domain: str | None = None) -> BounceFinding | None:
    """A :class:`BounceFinding` when the message is a bounce, else None.

    Addresses at ``own_domain`` (our return path) are never the failed recipient.
    """
    is_report = msg.content_type == "multipart/report" and (
        msg.report_type in (None, "delivery-status"))
    if msg.has_delivery_status or is_report:
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
    if not (daemon or bouncy_subject):
        return None
    automated = daemon or _null_return_path(msg) or bool(
        (msg.get("Auto-Submitted") or "").strip().lower() not in ("", "no"))
    if not automated:
        return None  # a person writing about a bounce, or forwarding one
    temporary, permanent = _flufl_recipients(msg)
    if not (bouncy_subject or permanent or temporary):
        return None  # a postmaster writing as a person
    status = _status_in_text(text)
    failed = permanent or temporary
    if own_domain:
        failed = [a for a in failed if not a.endswith("@" + own_domain.lower())]
    recipient = failed[0] if failed else _recipient_in_text(text, msg, own_domain)
    if permanent:
        is_permanent = True
    elif temporary:
        is_permanent = bool(status and status[0] == "5")
    else:
        is_permanent = status is None or status[0] == "5"
    return BounceFinding(recipient, status, is_permanent)


def _recipient_in_text(text: str, msg: DecodedMessage,
                       own_domain: str | None = None) -> str | None:
    own = {a.lower() for _, a in getaddresses(msg.get_all("To") + msg.get_all("From"))}
    suffix = "@" + own_domain.lower() if own_domain else None
    for m in _ADDRESS.finditer(text[:5000]):
        a = m.group(0).lower()
        if a in own or _BOUNCE_SENDER.match(a.split("@")[0]):
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


def is_auto_reply(msg: DecodedMessage) -> bool:
    """True for vacation notices and other automatic answers (RFC 3834 and friends)."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True  # RFC 3834 §5: auto-generated / auto-replied / auto-notified
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return True
    if msg.get("X-Autoresponder") is not None or msg.get("X-Auto-Reply") is not None:
        return True
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return True
    suppress = (msg.get("X-Auto-Response-Suppress") or "").lower()
    if "oof" in suppress and _AUTO_SUBJECT.search(msg.get("Subject") or ""):
        return True
    subject = _strip_reply_prefix(msg.get("Subject") or "")
    if _AUTO_SUBJECT.search(subject):
        return True
    if _null_return_path(msg):
        return True  # RFC 5321 §4.5.5: the null reverse-path is for notifications
    return False


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
