"""Quote and signature stripping: a mail body → the sender's own new text.

The body is read line by line. Each line gets one letter:

====  ===========================================================================
``e``  empty
``d``  delimiter: a line of only ``-_=+~#*`` and the like (``-- `` before a
       signature, Outlook's ``____`` rule, mailing-list footers)
``s``  a mobile signature ("Sendt fra min iPhone", "Sent from my iPhone", …)
``b``  the start of an embedded mail: "Den … skrev:", "On … wrote:" (also wrapped over
       several lines), "-----Oprindelig meddelelse-----", forwarded-message markers,
       Gmail's "2016-03-03 17:21 GMT+01:00 Name <addr>:", the first line of an Outlook
       "Fra:/Sendt:/Til:/Emne:" block
``h``  a further line of such a header block
``q``  a quoted line (``>``, ``|``, Supercite ``Name>``)
``t``  anything else: text
====  ===========================================================================

and simple rules over that string of letters decide what is the sender's own text
(see :func:`trim_reply`). Every step is linear in the length of the mail, so a
767 kB quote or a pathological nesting costs milliseconds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# Line matchers

_DELIMITER = re.compile(r"^\s*[-_=+~#*ᐧ—–―•]+\s*$")
_QUOTE = re.compile(r"^\s*(?:>|\||[A-Za-z]{1,10}>(?:\s|$))")

# Lines that open an embedded (forwarded or quoted) original on their own.
_EMBEDDED_MARKERS = re.compile(
    r"^[\s>*_-]*(?:"
    r"original message|oprindelig meddelelse|oprindelig besked|oprindelig e-mail"
    r"|ursprüngliche nachricht|originalnachricht|mensaje original|message d'origine"
    r"|messaggio originale|oorspronkelijk bericht|originalmeddelande|ursprungligt meddelande"
    r"|opprinnelig melding|alkuperäinen viesti|mensagem original|wiadomość oryginalna"
    r"|исходное сообщение|původní zpráva|eredeti üzenet"
    r"|forwarded message|videresendt meddelelse|videresendt besked|videresendt e-mail"
    r"|weitergeleitete nachricht|message transféré|mensaje reenviado|doorgestuurd bericht"
    r"|vidarebefordrat meddelande|messaggio inoltrato|mensagem encaminhada"
    r"|reply message|antwort nachricht|svarmeddelelse"
    r"|begin forwarded message|start på videresendt besked|start på videresendt meddelelse"
    r"|anfang der weitergeleiteten nachricht|début du message réexpédié"
    r"|inicio del mensaje reenviado|begin doorgestuurd bericht|vidarebefordrat brev"
    r")\s*:?[\s*_-]*$",
    re.IGNORECASE)

# Any other dash-framed title that names a message: "----- Weitergeleitet von X -----".
_FRAMED_MARKER = re.compile(
    r"^\s*[-_*]{3,}\s*(?:[^\W\d_][^-_]{0,60}?)?\b(?:message|nachricht|meddelelse|besked|bericht"
    r"|mensaje|messaggio|mensagem|wiadomość|сообщение|viesti|melding|meddelande|forward"
    r"|weitergeleitet|videresendt|reply|antwort|svar|mail"
    # Android's attribution: "---- Mette Jensen skrev ----", "---- On …, X wrote ----".
    r"|skrev|wrote|schrieb|schreef|écrit|escribió|escreveu|scritto)"
    r"\w*\b[^-_]{0,60}[-_*]{3,}\s*$",
    re.IGNORECASE)

# Gmail's old attribution: "2016-03-03 17:21 GMT+01:00 Some One <a@b>:"
_ISO_DATE_START = re.compile(r"^[\s>]*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b")
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
_NUMERIC_DATE = re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}\b"
                           r"|\b\d{1,2}\.?\s+[^\W\d_]{3,}\.?\s+\d{4}\b")

_WROTE = re.compile(
    r"(?:\b(?:wrote|writes|sent|schrieb|schreef|geschreven|a\s+écrit|écrit|escribió|escreveu"
    r"|ha\s+scritto|scrisse|skrev|skriver|kirjoitti|napisał\(a\)|napisała|napisał|napsal"
    r"|napísal|написал\(а\)|написала|написал|пише|писал|έγραψε|yazdı|írta|a\s+scris)"
    r"|写道|寫道|님이\s*작성)",
    re.IGNORECASE)

# Openers of an attribution line, in the languages people write to us in.
_ATTR_OPENER = re.compile(
    r"^(?:on|am|le|el|em|il|den|d\.|op|dnia|w\s+dniu|på|at|in|el\s+día|no\s+dia|dne"
    r"|在|于|在\s|il\s+giorno|am\s+\w+,|den\s+\w+\.?)\b.*\d",
    re.IGNORECASE)
_WEEKDAY_START = re.compile(
    r"^(?:mon|tue|wed|thu|fri|sat|sun|man|tir|ons|tor|fre|lør|søn|mo|di|mi|do|fr|sa|so"
    r"|lun|mar|mer|jeu|ven|sam|dim|понедельник|вторник|среда|четверг|пятница|суббота"
    r"|воскресенье)\w*\.?,?\s.*\d",
    re.IGNORECASE)

# Header lines of an Outlook-style embedded header block, in many languages.
_HEADER_KEYS = (
    "from|sent|to|subject|date|cc|bcc|reply-to|importance|priority"
    "|fra|sendt|til|emne|dato|svar til|vigtighed"
    "|von|gesendet|an|betreff|datum|kopie|antwort an"
    "|de|envoyé|à|a|objet|date d'envoi|répondre à"
    "|da|inviato|oggetto|data|risposta|rispondi a"
    "|van|verzonden|aan|onderwerp|beantwoorden"
    "|från|skickat|till|ämne|kopia"
    "|para|asunto|enviado|fecha|assunto|enviada"
    "|od|wysłano|do|temat|wysłane"
    "|от|отправлено|кому|тема|дата|копия|відправлено|від"
    "|lähettäjä|lähetetty|vastaanottaja|aihe|feladó|küldve|címzett|tárgy"
    "|发件人|收件人|主题|发送时间|寄件者|收件者|主旨|日期")
_HEADER = re.compile(rf"^\s*[*_]?(?:{_HEADER_KEYS})[*_]?\s*[:：][*_]?(?:\s|$)", re.IGNORECASE)
_FROM_HEADER = re.compile(
    r"^\s*[*_]?(?:from|fra|von|de|da|van|från|od|от|від|lähettäjä|feladó|发件人|寄件者"
    r"|date|dato|datum|fecha|data|sent|sendt|gesendet|envoyé|skickat|verzonden|inviato|enviado)"
    r"[*_]?\s*[:：]", re.IGNORECASE)
_FROM_ONLY = re.compile(
    r"^\s*[*_]?(?:from|fra|von|de|da|van|från|od|от|від|lähettäjä|feladó|发件人|寄件者)"
    r"[*_]?\s*[:：].*(?:@|\[mailto:)", re.IGNORECASE)

# Mobile and app signatures. Each must be short; "Sent from my desk, is much easier
# then my mobile phone." is a sentence, not a signature.
_SIGNATURES = [re.compile(p, re.IGNORECASE) for p in (
    r"^[(<\s]*sent\s+(?:from|via|with|by|using|on)\s+(?P<tail>.*)$",
    r"^\s*from\s+my\s+(?P<tail>.{1,30})$",
    r"^\s*\w+\s+from\s+mobile\s*$",
    r"^\s*(?:get|hent|download|få|skaff)\s+outlook\s+(?:for|til|på|för|für|pour|para)\b",
    r"^\s*envoyé\s+(?:depuis|de|à\s+partir\s+de)\s+(?:mon|ma|yahoo|outlook)",
    r"^\s*von\s+meinem\s+.{1,40}\s+gesendet",
    r"^\s*gesendet\s+(?:von|mit)\s+(?:meinem|der|dem)\s",
    r"^\s*diese\s+nachricht\s+wurde\s+von\s+.{1,80}\s+gesendet",
    r"^\s*inviato\s+da\s+",
    r"^\s*(?:sendt|send|skickat|skickad|sänt|lähetetty)\s+(?:fra|från|från\s+min|från\s+mitt"
    r"|via|med|from|iphonesta|puhelimesta)\s+(?P<tail>.{1,40})$",
    r"^\s*enviado\s+(?:desde|do|de|a\s+partir\s+do|via)\s+",
    r"^\s*(?:verzonden|verstuurd)\s+(?:met|vanaf|van|via|from)\s+",
    r"^\s*från\s+min\s+",
    r"^\s*(?:從我的|从我的).{0,20}(?:傳送|发送|寄出)",
    r"^\s*<<\s*sent\s+by\s+.{1,40}>>\s*$",
    r"^\s*отправлено\s+(?:с|из)\s+",
    r"^\s*wysłane\s+z\s+",
)]
# Cheap first test: every signature above starts with one of these words.
_SIG_PREFILTER = re.compile(
    r"^[(<\s]*(?:sent|sendt|send|from|get|hent|download|få|skaff|envoy|von|gesendet|diese"
    r"|inviato|skickat|skickad|sänt|lähetetty|enviado|verzonden|verstuurd|från|從我的|从我的"
    r"|отправлено|wysłane|\[?\w+\]?\s+from\s+mobile)", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]{0,80})\]\([^)]{0,300}\)")
_ANGLE_URL = re.compile(r"<[a-z]+:[^>]{0,300}>|\bhttps?://\S+", re.IGNORECASE)
_EXCUSE = re.compile(r"^\s*(?:please|pls|excuse|pardon|sorry|undskyld|beklager|so\s+please)",
                     re.IGNORECASE)

# A sign-off line right before the end: "-Abhishek Kona" (a dash glued to a name).
_DASH_NAME = re.compile(r"^-[^\W\d_][\w.'’]*(?:\s+[^\W\d_][\w.'’]*){0,3}\s*$")

_FENCE = re.compile(r"^\s*(```|~~~)")


def is_signature_line(line: str) -> bool:
    """True for a mobile/app signature line ("Sendt fra min iPhone", "Sent from my …")."""
    if len(line) > 400 or not _SIG_PREFILTER.match(line):
        return False
    text = _MD_LINK.sub(r"\1", line)
    text = _ANGLE_URL.sub("", text).strip()
    if not text or len(text) > 120:
        return False
    for rx in _SIGNATURES:
        m = rx.match(text)
        if not m:
            continue
        tail = m.groupdict().get("tail")
        if tail is None:
            return True
        # The tail names a device or an app: a few words, maybe an apology after it.
        parts = re.split(r"[,.;!]\s", tail, maxsplit=1)
        head = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        if len(head.split()) > 8:
            return False
        if rest.strip() and not _EXCUSE.match(rest):
            return False
        return True
    return False


def _unquote(line: str) -> str:
    return re.sub(r"^[\s>]*", "", line)


def _ends_attribution(line: str) -> bool:
    """Cheap test: may this line be the last line of an attribution?"""
    text = line.rstrip()
    if not text or len(text) > 400:
        return False
    if text[-1] in ":：":
        return True
    return text.endswith("--") or bool(_WROTE.search(text[-20:]))


def is_attribution(text: str) -> bool:
    """True for an "On <date>, <name> wrote:" line in any of the usual languages.

    The text before the verb must hold a date, a time or an address; the text must end
    with a colon, the verb, or Zoho's "----".
    """
    text = " ".join(_unquote(text).split()).strip("*_ ")
    text = re.sub(r"^-+\s*", "", text)
    if not text or len(text) > 400:
        return False
    if _ISO_DATE_START.match(text) and (text.endswith((":", "：")) or _TIME.search(text)) \
            and len(text) <= 200:
        return True
    ends_colon = text.endswith((":", "："))
    matches = list(_WROTE.finditer(text))
    if not matches:
        # mail.ru / Yandex: "26.06.2014, 14:41, "Name" <a@b>:" — a date, an address and
        # a colon, no verb.
        return (ends_colon and len(text) <= 200 and "@" in text
                and bool(_NUMERIC_DATE.search(text) or _WEEKDAY_START.match(text))
                and bool(_TIME.search(text)) and _strong_start(text))
    m = matches[-1]
    before, after = text[:m.start()], text[m.end():].strip()
    if not re.search(r"\d|@", before):
        return False
    if len(before) > 300:
        return False
    if ends_colon:
        return len(after) <= 120
    return after == "" or bool(re.fullmatch(r"-{2,}", after))


def _span_is_attribution(span: list[str]) -> bool:
    """An attribution wrapped over lines: the verb (or Gmail's ISO date) sits on the
    last line or the one before it, with no blank line after it."""
    last_verb = -1
    for k, line in enumerate(span):
        if _WROTE.search(line) or _ISO_DATE_START.match(line):
            last_verb = k
    if last_verb < len(span) - 2:
        return False
    if any(not line.strip() for line in span[last_verb:]):
        return False
    return is_attribution(" ".join(span))


def _strong_start(line: str) -> bool:
    text = _unquote(line).strip("*_ ").lstrip("-").strip()
    return bool(_ATTR_OPENER.match(text) or _WEEKDAY_START.match(text)
                or re.match(r"^\d{1,4}(?:[./\-\s]|$)", text) or text.startswith(("在", "于")))


def _weak_start(line: str) -> bool:
    text = _unquote(line)
    return "@" in text or "<" in text


# ---------------------------------------------------------------------------------------
# Classification


def classify_lines(lines: list[str]) -> list[str]:
    """One letter per line (see the module docstring)."""
    kinds = ["t"] * len(lines)
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            kinds[i] = "t"
            continue
        if in_fence:
            continue
        if not line.strip():
            kinds[i] = "e"
        elif _QUOTE.match(line):
            kinds[i] = "q"
        elif len(line) > 300:
            kinds[i] = "t"  # markers, signatures and headers are short lines
        elif _DELIMITER.match(line):
            kinds[i] = "d"
        elif _EMBEDDED_MARKERS.match(line) or _FRAMED_MARKER.match(line):
            kinds[i] = "b"
        elif is_signature_line(line):
            kinds[i] = "s"
        elif _HEADER.match(line):
            kinds[i] = "h"
        elif _ISO_DATE_START.match(line) and len(line) <= 200 and (
                _TIME.search(line) or "@" in line):
            kinds[i] = "b"
    _mark_attributions(lines, kinds)
    _mark_header_blocks(lines, kinds)
    _mark_broken_quote_lines(lines, kinds)
    return kinds


def _mark_attributions(lines: list[str], kinds: list[str]) -> None:
    """Mark "On … wrote:" lines, including ones wrapped over up to five lines."""
    n = len(lines)
    for j in range(n):
        if kinds[j] in ("d", "s", "e") or not _ends_attribution(lines[j]):
            continue
        lo = max(0, j - 4)
        best: int | None = None
        # The latest line that opens an attribution with a date or a weekday wins; else
        # the line alone; else the latest line that names an address.
        for i in range(j, lo - 1, -1):
            if i < j and kinds[i] in ("d", "s"):
                break
            if len(lines[i]) > 300:
                break
            if _strong_start(lines[i]) and _span_is_attribution(lines[i:j + 1]):
                best = i
                break
        if best is None and is_attribution(lines[j]):
            best = j
        if best is None:
            for i in range(j - 1, lo - 1, -1):
                if kinds[i] in ("d", "s") or len(lines[i]) > 300:
                    break
                if _weak_start(lines[i]) and _span_is_attribution(lines[i:j + 1]):
                    best = i
                    break
        if best is None or kinds[best] == "q":
            continue  # a quoted attribution is part of the quote
        for k in range(best, j + 1):
            if kinds[k] != "e":
                kinds[k] = "b"


def _mark_header_blocks(lines: list[str], kinds: list[str]) -> None:
    """Turn runs of header lines into ``b h h …``; single header lines are text."""
    n = len(kinds)
    first_text = next((k for k, kind in enumerate(kinds) if kind == "t"), n)
    i = 0
    while i < n:
        if kinds[i] != "h":
            i += 1
            continue
        j = i
        # A wrapped header value (a long Subject) is one text line between headers.
        while j + 1 < n and (kinds[j + 1] == "h" or (
                kinds[j + 1] == "t" and j + 2 < n and kinds[j + 2] == "h")):
            j += 1
        run = j - i + 1
        if run >= 3 or (run >= 2 and _FROM_HEADER.match(lines[i])):
            if i > 0 and kinds[i - 1] == "b":
                for k in range(i, j + 1):
                    kinds[k] = "h"
            else:
                kinds[i] = "b"
                for k in range(i + 1, j + 1):
                    kinds[k] = "h"
        elif run == 1 and _FROM_ONLY.match(lines[i]) and first_text < i:
            kinds[i] = "b"  # a lone "From: someone@example.com" after the sender's text
        else:
            for k in range(i, j + 1):
                kinds[k] = "t"
        i = j + 1


# Possessive quantifiers (Python 3.11): the white-space runs may not be shared out between
# the optional parts by backtracking (cubic on a long run of spaces).
_LINK_LINE = re.compile(r"^\s*+\(?\s*+<?https?://\S++(?:\s*+\))?(?:\s*+>)?\s*+$"
                        r"|^.{0,200}\s>\s*+$")


def _mark_broken_quote_lines(lines: list[str], kinds: list[str]) -> None:
    """A link wrapped out of a quote ("(http://…) >") between quoted lines is quote."""
    for i in range(1, len(kinds) - 1):
        if kinds[i] == "t" and kinds[i - 1] == "q" and kinds[i + 1] == "q" \
                and len(lines[i]) <= 300 and _LINK_LINE.match(lines[i]):
            kinds[i] = "q"


_MIDLINE_ATTRIBUTION = re.compile(
    # (pre ends in a character the separator run cannot hold, and the run is taken
    # whole: each start costs O(1), not the length of a run of dashes.)
    r"^(?P<pre>.*?[^\s-])[\s-]*+"
    r"(?P<attr>\b(?:On|Le|Am|El|Em|Den|Op|Il|På|W dniu|Dnia)\s.{5,300})$")


def _split_midline_attributions(lines: list[str]) -> list[str]:
    """"reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:" → two lines."""
    out: list[str] = []
    for line in lines:
        if len(line) <= 400 and _ends_attribution(line) and not _QUOTE.match(line):
            m = _MIDLINE_ATTRIBUTION.match(line)
            if m and not _strong_start(line) and is_attribution(m.group("attr")):
                out.append(m.group("pre"))
                out.append(m.group("attr"))
                continue
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------
# Trimming


@dataclass
class Trimmed:
    """The outcome of trimming: the own text, and its lines' letters."""

    text: str
    lines: list[str]
    kinds: list[str]


def _text_before(pattern: str, i: int) -> int:
    """The index of the line before ``i`` when it is text after empty lines, else -1."""
    j = i - 1
    while j >= 0 and pattern[j] == "e":
        j -= 1
    return j if j >= 0 and pattern[j] == "t" else -1


def _unquoted_original(pattern: str) -> int | None:
    """Where to cut for ``te*b[^q]*$``: text, then an embedded original without quotes.

    Written as a scan instead of a regex search, which would be quadratic on mails with
    many markers.
    """
    after_q = pattern.rfind("q") + 1
    for i in range(after_q, len(pattern)):
        if pattern[i] == "b":
            t = _text_before(pattern, i)
            if t >= after_q:
                return t + 1
    return None


def _quoted_original(pattern: str) -> int | None:
    """Where to cut for ``te*b[eqbh]*([te]*)$`` with fewer than 7 text lines at the end:
    text, an embedded original with its quote, and at most a short tail."""
    last_marker = max(pattern.rfind("q"), pattern.rfind("b"), pattern.rfind("h"))
    if last_marker < 0:
        return None
    if pattern.count("t", last_marker) >= 7:
        return None
    last_t = pattern.rfind("t", 0, last_marker)
    if last_t < 0:
        return None
    i = last_t + 1
    while i < len(pattern) and pattern[i] == "e":
        i += 1
    if i < len(pattern) and pattern[i] == "b":
        return last_t + 1
    return None


def trim(text: str) -> Trimmed:
    """Split off quotes, embedded originals and signatures; see :func:`trim_reply`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _split_midline_attributions(text.split("\n"))
    kinds = classify_lines(lines)
    pattern = "".join(kinds)

    # A mail that opens with a quoted attribution opens with a quote of a quote.
    first_text = next((i for i, k in enumerate(kinds) if k != "e"), -1)
    if first_text >= 0 and kinds[first_text] == "q" and is_attribution(lines[first_text]):
        kinds[first_text] = "b"
        pattern = "".join(kinds)

    # Bottom posting: the mail opens with an attribution and its quote; the reply follows.
    m = re.match(r"e*b[ebhq]*", pattern)
    if m and m.end() > 0 and "b" in pattern[:m.end()]:
        start = m.end()
        lines, kinds = lines[start:], kinds[start:]
        pattern = pattern[start:]

    # Everything after the first delimiter or mobile signature is signature or footer.
    first = min((p for p in (pattern.find("d"), pattern.find("s")) if p >= 0), default=-1)
    if first >= 0:
        lines, kinds, pattern = lines[:first], kinds[:first], pattern[:first]

    # An embedded original not followed by a quote: everything from it on is the original.
    end = _unquoted_original(pattern)
    if end is not None:
        lines, kinds, pattern = lines[:end], kinds[:end], pattern[:end]

    # An embedded original followed by its quote and at most a few lines of text.
    end = _quoted_original(pattern)
    if end is not None:
        lines, kinds, pattern = lines[:end], kinds[:end], pattern[:end]

    # A quote that ends the mail.
    last = len(pattern) - 1
    while last >= 0 and pattern[last] in "eq":
        last -= 1
    if last >= 0 and pattern[last] == "t":
        end = last + 1
        lines, kinds, pattern = lines[:end], kinds[:end], pattern[:end]

    # Attribution lines of quotes the sender answered in between are not their words.
    kept = [(line, k) for line, k in zip(lines, kinds, strict=False) if k != "b"]
    lines = [line for line, _ in kept]
    kinds = [k for _, k in kept]

    # "-Name" glued to a dash right at the end is a sign-off.
    last = len(kinds) - 1
    while last >= 0 and kinds[last] == "e":
        last -= 1
    if last >= 0 and kinds[last] == "t" and _DASH_NAME.match(lines[last].strip()):
        lines, kinds = lines[:last], kinds[:last]

    # Only quotes left (and they nest attributions): nothing of the sender's own.
    return Trimmed(_strip_blank(lines), lines, kinds)


def _strip_blank(lines: list[str]) -> str:
    out = "\n".join(line.rstrip() for line in lines)
    return out.strip("\n").strip()


def trim_reply(text: str) -> str:
    """The sender's own new text of a plain-text body.

    Top-posted replies keep what is above the attribution / header block; bottom-posted
    replies keep what follows the quote; inline answers keep the sender's text with the
    quotes they answered. Signatures after ``-- `` and mobile signatures are removed.
    """
    return trim(text).text


# ---------------------------------------------------------------------------------------
# Sign-offs (kept in the reply text, but never read as fields)

_SIGN_OFF = re.compile(
    r"^\s*(?:med\s+venlig(?:st)?\s+hilsen|venlig(?:st)?\s+hilsen|m\.?\s?v\.?\s?h\.?|mvh"
    r"|med\s+(?:bedste|venlige|mange)\s+hilsner?|bedste\s+hilsner?|de\s+bedste\s+hilsner"
    r"|hilsen|hilsner|mange\s+hilsner|kærlig\s+hilsen|vh|god\s+dag|ha\s+en\s+god\s+dag"
    r"|(?:best|kind|warm|warmest)\s+(?:regards|wishes)|regards|best|cheers|thanks(?:\s+again)?"
    r"|thank\s+you|sincerely|yours(?:\s+sincerely|\s+truly)?|many\s+thanks|br"
    r"|mit\s+freundlichen\s+grüßen|viele\s+grüße|med\s+vänliga\s+hälsningar|vänliga\s+hälsningar)"
    r"\s*[,.!]?\s*$",
    re.IGNORECASE)


_SIGN_OFF_WITH_NAME = re.compile(
    r"^\s*(?i:mvh|vh|hilsen|med\s+venlig\s+hilsen|venlig\s+hilsen|best\s+regards|regards"
    r"|kind\s+regards|thanks|cheers|br)[,.]?\s+(?:[A-ZÆØÅ][\w.'-]*\s*){1,3}$")
# A bare signature block: a name, then contact lines ("Tlf. 12 34 56 78", "Mobil: …").
_NAME_LINE = re.compile(r"^\s*[A-ZÆØÅ][\w.'-]+(?:\s+[A-ZÆØÅ][\w.'-]*){1,3}\s*$")
_CONTACT_LINE = re.compile(
    r"^\s*(?:tlf|telefon|mobil|mob|phone|tel|mobile|direct|direkte|e-?mail|mail|web|www)\b",
    re.IGNORECASE)


def is_sign_off(line: str, with_name: bool = False) -> bool:
    """True for a closing line such as "Med venlig hilsen" or "Best regards,"; with
    ``with_name`` also "Mvh Jens Hansen"."""
    return bool(_SIGN_OFF.match(line) or (with_name and _SIGN_OFF_WITH_NAME.match(line)))


def own_field_text(trimmed: Trimmed) -> str:
    """The part of the own text fields may be read from: no quotes, nothing after a
    sign-off ("Med venlig hilsen", "Mvh Jens", "Best regards"), and no trailing
    signature block (a name followed by contact lines) — the signature with its phone
    number and title is not the sender's answer."""
    out: list[str] = []
    for line, kind in zip(trimmed.lines, trimmed.kinds, strict=False):
        if kind == "q":
            continue
        if is_sign_off(line, with_name=True):
            break
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    # The last paragraph: "Jens Hansen / Projektleder / Tlf. 12 34 56 78".
    start = len(out)
    while start > 0 and out[start - 1].strip():
        start -= 1
    block = out[start:]
    if 2 <= len(block) <= 8 and _NAME_LINE.match(block[0]) \
            and any(_CONTACT_LINE.match(line) for line in block[1:]):
        out = out[:start]
    return "\n".join(out).strip()
