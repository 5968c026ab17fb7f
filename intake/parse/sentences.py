"""What people say in sentences: the initiative ended, runs, is rolled out; someone else
is the contact now; all is still correct; stop sending me these (parse contract v2).

Only the sender's own free text is read (never quoted text, a signature or a
``Label: value`` line and its value). Each sentence is looked at on its own:

* a question gives nothing, and neither does a negation in front of what it would say
  ("vi har ikke lukket det", "not live yet"), nor a plan or a wish ("vi overvejer at
  lukke", "if we stop");
* words are compared by their Snowball stems (Danish and English), so "lukkede",
  "lukket" and "lukker" are one word, and "discontinued" is "discontinue";
* what a sentence gives is a *suggestion*: :func:`read_sentences` returns it separately,
  and the caller lists its keys in ``inferred`` for the moderator.

Pure: text in, a :class:`SentenceReading` out; linear in the length of the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer

from bot.registry.fields import parse_date, parse_email, parse_phone
from bot.registry.vocabulary import MUNICIPALITIES, REGIONS, fold_name

_STEMMERS = {lang: snowballstemmer.stemmer(name)
             for lang, name in (("da", "danish"), ("en", "english"))}


@lru_cache(maxsize=65536)
def _word_stems(word: str) -> tuple[str, str]:
    """The Danish and the English stem of one word (cached: mail repeats its words, and
    the Snowball stemmers are pure Python)."""
    return _STEMMERS["da"].stemWord(word), _STEMMERS["en"].stemWord(word)


def _stems(words: list[str]) -> set[str]:
    out: set[str] = set()
    for word in words:
        out.update(_word_stems(word))
    return out


def _stem_set(text: str) -> frozenset[str]:
    return frozenset(_stems(text.split()))


@dataclass
class SentenceReading:
    """What the sentences of one text say."""

    fields: dict[str, Any] = field(default_factory=dict)
    confirmed: bool = False
    unsubscribe: bool = False
    # The sentence each field came from (for the moderator).
    sources: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Sentences and words

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
# "tlf. 12 34 56 78", "pga. det", "1. marts": a full stop that ends no sentence.
_ABBREVIATIONS = frozenset("""tlf tel mob pga mht fx eks ca evt bl dvs inkl ekskl jf mv
osv nr str att vedr hhv ang iflg mr mrs ms dr prof st no vs etc approx incl dept e g i""".split())


def _join_wrapped(text: str) -> str:
    """Lines a mail program wrapped (a long line without an end mark, then more text)
    joined again; short lines (a greeting, a name) stay lines of their own."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        prev = out[-1] if out else ""
        if prev.strip() and line.strip() and len(prev) >= 50 \
                and prev.rstrip()[-1:] not in ".!?:;":
            out[-1] = prev.rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def split_sentences(text: str) -> list[str]:
    """Sentences of free text: split at . ! ? before a space, and at line ends — but not
    after an abbreviation ("tlf.", "pga.") or a number ("1. marts 2024"), and not where a
    mail program wrapped a long line."""
    text = _join_wrapped(text)
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group(0) != "\n":
            before = text[max(start, m.start() - 12):m.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            after = text[m.end():m.end() + 3].lstrip()
            upper_next = bool(after) and after[0].isupper()
            if last in _ABBREVIATIONS or (
                    (last.isdigit() or len(last) == 1) and not upper_next):
                continue
        part = text[start:m.end()].strip()
        if part:
            out.append(part)
        start = m.end()
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out


_WORD = re.compile(r"[0-9a-zæøåéüöä'’]+")


def _words(sentence: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(sentence.lower())]


# Words that turn what follows around. "ikke længere" / "no longer" are not among them:
# they say something ended.
_NEGATIONS = frozenset({"ikke", "ikk", "aldrig", "ej", "not", "never", "isn't", "wasn't",
                        "hasn't", "haven't", "hadn't", "don't", "doesn't", "didn't",
                        "won't", "can't", "cannot", "aren't", "weren't", "nor"})
_NO_LONGER = (("ikke", "længere"), ("ikke", "mere"), ("no", "longer"), ("not", "anymore"),
              ("not", "any", "more"))
# A plan, a wish or a condition: nothing has happened yet.
_PLANS = _stem_set("overvejer overveje planlægger planlægge forventer forvente måske "
                   "hvis eventuelt muligvis regner håber consider considering plan planning "
                   "expect expecting maybe perhaps if might whether hope hoping intend "
                   "kommer")
_FUTURE = frozenset({"vil", "skal", "will", "shall", "going", "'ll", "snart", "soon",
                     "næste", "next"})


def _negated(words: list[str], at: int, window: int = 4) -> bool:
    """A negation among the few words before position ``at`` (not "no longer")."""
    for i in range(max(0, at - window), at):
        if words[i] in _NEGATIONS:
            following = tuple(words[i:i + 3])
            if any(following[:len(p)] == p for p in _NO_LONGER):
                continue
            return True
    return False


def _no_longer(words: list[str]) -> int | None:
    """Where "ikke længere" / "no longer" / "not … anymore" starts, or None."""
    for i in range(len(words)):
        for phrase in _NO_LONGER:
            if tuple(words[i:i + len(phrase)]) == phrase:
                return i
        if words[i] == "not" and "anymore" in words[i + 1:i + 6]:
            return i
    return None


def _first_stem(words: list[str], stems: frozenset[str]) -> int | None:
    for i, w in enumerate(words):
        if w in stems or any(s in stems for s in _stems([w])):
            return i
    return None


# ---------------------------------------------------------------------------------------
# Status: ended, in daily use, being rolled out

# Past forms only (present and infinitive forms often speak of plans: "vi lukker til
# sommer"), and whole words, not stems: "end" would match "end points", "close" "close to".
_ENDED = frozenset("""
lukket lukkede ophørt ophørte stoppet stoppede afsluttet afsluttede nedlagt nedlagde
indstillet indstillede udfaset udfasede nedlukket nedlukkede sluttede termineret
closed discontinued ended terminated stopped ceased concluded abandoned cancelled canceled
decommissioned shut
""".split())
# "lukket for nye patienter" / "closed to new patients": still running.
_ONLY_FOR_NEW = re.compile(r"\b(?:for|to|til)\s+(?:nye|new|tilgang|indtag|optag)",
                           re.IGNORECASE)
_IN_USE = _stem_set("drift brug bruges anvendes aktiv kører tilbydes tilbud use used "
                    "running active operation operational offered available live")
# Daily use, routine.
_RUNNING = re.compile(
    r"\b(?:i\s+(?:daglig\s+|almindelig\s+|fuld\s+)?drift|driftsfase|fast(?:e)?\s+(?:tilbud|del"
    r"|ordning|praksis)|permanent(?:e)?\s+(?:tilbud|ordning|løsning)|standardtilbud"
    r"|en\s+del\s+af\s+(?:den\s+)?(?:daglige?\s+)?(?:drift|hverdag|praksis|behandling)"
    r"|i\s+hverdagen|daglig(?:t|e)?\s+(?:brug|drift)|bruges\s+(?:nu\s+)?(?:dagligt|fast"
    r"|rutinemæssigt|i\s+hverdagen|på\s+alle)|rutine(?:mæssigt)?|implementeret|forankret"
    r"|in\s+(?:daily\s+|full\s+|routine\s+)?operation|operational|in\s+daily\s+use"
    r"|(?:part\s+of|in)\s+(?:our\s+)?(?:routine|standard|daily|everyday)\s+(?:care|practice"
    r"|use|work|operations?)|routine\s+care|standard\s+(?:care|practice|service)"
    r"|business\s+as\s+usual|permanent\s+(?:service|offer|part)|went\s+live|gone\s+live"
    r"|is\s+(?:now\s+)?live|now\s+live|mainstream|fully\s+implemented|fuldt\s+udbredt"
    r"|(?:fully|completely)\s+rolled\s+out|rullet\s+ud\s+til\s+(?:alle|hele))",
    re.IGNORECASE)
_ROLLING_OUT = re.compile(
    r"\b(?:under\s+udbredelse|udbredes|udbredelse|ved\s+at\s+(?:blive\s+)?(?:udbred|rull"
    r"|udvid)|rulles\s+ud|ruller\s+(?:det\s+|den\s+)?ud|udrulning|udrulles|udvides\s+til"
    r"|udvider\s+(?:det\s+|den\s+|tilbuddet\s+)?til|spredes\s+til"
    r"|(?:being|is\s+being|are)\s+rolled\s+out|rolling\s+(?:it\s+)?out|roll-?out"
    r"|scaling\s+(?:it\s+)?up|scaled\s+up|expanding\s+(?:it\s+)?to|being\s+expanded"
    r"|being\s+spread|spreading\s+to)",
    re.IGNORECASE)


def _status(sentence: str, words: list[str]) -> str | None:
    """afsluttet, i_drift or under_udbredelse, when the sentence says so outright."""
    plan = any(w in _PLANS for w in _stems(words))
    future = any(w in _FUTURE for w in words)
    stop = _no_longer(words)
    if stop is not None and _first_stem(words[max(0, stop - 3):stop + 6], _IN_USE) is not None:
        return None if plan else "afsluttet"
    at = next((i for i, w in enumerate(words) if w in _ENDED), None)
    if at is not None and not _negated(words, at) and not plan and not future \
            and not _ONLY_FOR_NEW.search(sentence) and not _about_our_mail(words):
        return "afsluttet"
    for status, pattern in (("under_udbredelse", _ROLLING_OUT), ("i_drift", _RUNNING)):
        m = pattern.search(sentence)
        if m is None:
            continue
        before = _words(sentence[:m.start()])
        if _negated(before + ["x"], len(before), window=5) or plan:
            return None
        if status == "i_drift" and future:
            return None
        if status == "i_drift" and "ikke" in _words(sentence[m.end():m.end() + 30]):
            return None
        return status
    return None


# Dates in a sentence: "november 2023", "1. marts 2024", "31/12/2023", "2023-11".
_MONTHS = ("januar|februar|marts|april|maj|juni|juli|august|september|oktober|november"
           "|december|january|february|march|may|june|july|october|jan|feb|mar|apr|jun|jul"
           "|aug|sep|sept|okt|oct|nov|dec")
_DATE_SPAN = re.compile(
    rf"\b(?:\d{{1,2}}\.?\s+(?:{_MONTHS})\.?\s+\d{{4}}|(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}"
    rf"|(?:{_MONTHS})\.?\s+\d{{4}}|\d{{4}}-\d{{2}}(?:-\d{{2}})?|\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{4}}"
    rf"|\d{{1,2}}/\d{{4}})\b", re.IGNORECASE)


def _date_in(sentence: str, key: str) -> str | None:
    for m in _DATE_SPAN.finditer(sentence):
        got = parse_date(m.group(0), "da", key)
        if got.problem is None and isinstance(got.value, str):
            return got.value
    return None


# ---------------------------------------------------------------------------------------
# Someone else is the contact now

_HANDOVER = re.compile(
    r"\b(?:har\s+(?:nu\s+)?(?:taget\s+over|overtaget)|overtager|tager\s+over|overtog"
    r"|ny(?:e)?\s+kontakt(?:person)?(?:en)?|kontaktperson(?:en)?\s+(?:er|bliver)\s+(?:nu|fremover)"
    r"|fremover\s+(?:er\s+det|bliver\s+det|skal\s+(?:i|du)|kan\s+(?:i|du)|er\s+kontakt)"
    r"|(?:kontakt|skriv\s+til|henvend\s+(?:jer|dig)\s+til)\s+(?:i\s+stedet|fremover)"
    r"|svarer\s+(?:fremover|nu|fra\s+nu)|står\s+(?:nu|fremover)\s+for|tager\s+sig\s+(?:nu|fremover)\s+af"
    r"|min(?:e)?\s+kolleg(?:a|er)|er\s+(?:gået\s+på\s+pension|fratrådt|stoppet)"
    r"|has\s+(?:now\s+)?taken\s+over|took\s+over|is\s+taking\s+over|will\s+take\s+over"
    r"|(?:now|will)\s+handles?|new\s+contact|contact\s+person\s+is\s+now|please\s+contact"
    r"|contact\s+\S+\s+instead|my\s+colleague|is\s+now\s+(?:responsible|in\s+charge)"
    r"|(?:from\s+now\s+on|going\s+forward)|write\s+to\s+\S+\s+instead|have\s+(?:left|retired))",
    re.IGNORECASE)
_EMAIL_IN = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_PHONE_IN = re.compile(r"(?<!\d)(?:\+45[ ]?)?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}(?!\d)")
_NAME = re.compile(r"\b[A-ZÆØÅ][a-zæøåéüöä]{1,20}(?:-[A-ZÆØÅ][a-zæøåéüöä]{1,20})?"
                   r"(?:\s+[A-ZÆØÅ][a-zæøåéüöä]{1,20}(?:-[A-ZÆØÅ][a-zæøåéüöä]{1,20})?){0,2}\b")
_NOT_NAMES = frozenset(fold_name(w) for w in """
Fremover Hun Han Vi Jeg Min Mit Mine Vores Jeres Hej Tak Det Den Der Dette Denne Og Men
Så Nu Kontakt Kontaktperson Kontaktpersonen Region Kommune Sygehus Hospital Afdeling Mvh
Venlig Hilsen Kære Please My Our We She He I It The From Going Now New Contact Dear Hi
Hello Thanks Thank Best Regards Kind Mail Email Telefon Phone Tlf Mobil Projektet Projekt
Initiativet Tilbuddet Med Til Fra For Per Ved Efter Siden Pr Since After Before As Of
Ny Nye Ansvarlig Leder Koordinator January February March April May June July August
September October November December Monday Tuesday Wednesday Thursday Friday Mandag
Tirsdag Onsdag Torsdag Fredag
""".split())
_PLACES = frozenset(fold_name(n) for n in MUNICIPALITIES) | frozenset(
    fold_name(t.da.split()[-1]) for t in REGIONS)


def _name_candidates(sentence: str) -> list[tuple[int, str]]:
    out = []
    for m in _NAME.finditer(sentence):
        parts = [p for p in m.group(0).split() if fold_name(p) not in _NOT_NAMES]
        name = " ".join(parts)
        if name and fold_name(name) not in _PLACES and not all(
                fold_name(p) in _PLACES for p in parts):
            out.append((m.start() + m.group(0).find(parts[0]), name))
    return out


def _contact(sentence: str, words: list[str]) -> dict[str, Any]:
    """contact_name / contact_email / contact_phone when the sentence hands over."""
    trigger = _HANDOVER.search(sentence)
    if trigger is None:
        return {}
    before = _words(sentence[:trigger.start()])
    if _negated(before + ["x"], len(before), window=3):
        return {}
    out: dict[str, Any] = {}
    mail = _EMAIL_IN.search(sentence)
    if mail is not None:
        got = parse_email(mail.group(0), "da")
        if got.problem is None and got.value:
            out["contact_email"] = got.value
    phone = _PHONE_IN.search(sentence)
    if phone is not None:
        got = parse_phone(phone.group(0), "da")
        if got.problem is None and got.value:
            out["contact_phone"] = got.value
    names = _name_candidates(sentence)
    if names:
        # The name next to the address, else the one nearest the handover words.
        if mail is not None:
            before_mail = [n for n in names if n[0] < mail.start()]
            pick = before_mail[-1] if before_mail else names[0]
        else:
            pick = min(names, key=lambda n: abs(n[0] - trigger.start()))
        out["contact_name"] = pick[1]
    if set(out) == {"contact_phone"}:
        return {}  # a number alone does not say who
    return out


# ---------------------------------------------------------------------------------------
# All is still correct

_CORRECT = re.compile(
    r"\b(?:passer|stemmer|korrekt(?:e)?|rigtig(?:e|t)?|fin(?:t|e)?|i\s+orden|aktuel(?:le|t)?"
    r"|gældende|som\s+(?:det|de)\s+skal|opdateret|uændret|up\s+to\s+date|correct|right"
    r"|accurate|fine|in\s+order|current|valid|as\s+it\s+should|unchanged|good|ok|okay)\b",
    re.IGNORECASE)
# Words that say "fine" about anything ("that's fine, I'll call"): they confirm the entry
# only when the sentence names it ("alt ser fint ud", "the details look good").
_LOOSE = frozenset({"fin", "fint", "fine", "good", "ok", "okay", "right", "rigtig",
                    "rigtige", "rigtigt", "i orden", "in order", "current"})
_ABOUT_ENTRY = _stem_set(
    "alt alle det de oplysninger oplysningerne info informationer tekst teksten beskrivelse "
    "står everything all it that this details information entry description listing "
    "stands still stadig fortsat fortsætter")
_ENTRY_NAMED = _stem_set(
    "alt alle oplysninger oplysningerne info informationer tekst teksten beskrivelse "
    "beskrivelsen indholdet felterne står everything all details information entry "
    "description listing text fields")


# What may follow the word when it says "the entry is right" ("det passer stadig",
# "alt ser fint ud", "that is all still right now").
_AFTER_PREDICATE = frozenset("""stadig fortsat endnu nu ud og så som i på for til med
hos tak være still now too also as in on for and so thanks thank today currently be""".split())
# "Nothing to change": a confirmation in itself.
_NOTHING_TO_CHANGE = re.compile(
    r"\b(?:intet|ikke\s+noget|ingenting)\s+(?:nyt\s+)?(?:at|der\s+skal)\s+(?:rette|ændre|tilføje"
    r"|opdatere|melde|rettes|ændres)|\bingen\s+(?:rettelser|ændringer|opdateringer|nye\s+oplysninger)"
    r"|\bnothing\s+(?:new\s+)?to\s+(?:update|change|correct|add|report|amend)"
    r"|\bno\s+(?:changes|updates|corrections)\b", re.IGNORECASE)


_BUT = frozenset({"men", "dog", "bortset", "undtagen", "but", "however", "except", "apart"})


def _confirms(sentence: str, words: list[str]) -> bool:
    nothing = _NOTHING_TO_CHANGE.search(sentence)
    if nothing is not None and not any(w in _BUT for w in _words(sentence[nothing.end():])):
        return True
    if not (_stems(words) & _ABOUT_ENTRY):
        return False
    for m in _CORRECT.finditer(sentence):
        before = _words(sentence[:m.start()])
        if _negated(before + ["x"], len(before), window=4):
            return False
        rest = sentence[m.end():].lstrip()
        after = _words(rest)
        if any(w in ("ikke", "not") for w in after[:2]):
            return False
        if any(w in _BUT for w in after):
            return False  # "korrekte, men hjemmesiden er flyttet": something changed
        cue = " ".join(m.group(0).lower().split())
        looks = ("ser" in words and "ud" in words) or bool(
            {"look", "looks", "looking"} & set(words))
        if cue in _LOOSE and not (_stems(words) & _ENTRY_NAMED) and not looks:
            continue  # "that's fine": fine about something, not the entry
        if not after or rest[:1] in "–-—,;:!.)" or after[0] in _AFTER_PREDICATE:
            return True
        # "a correct signature": the word describes something else; look further
    return False


# ---------------------------------------------------------------------------------------
# Stop sending me these

_MAIL_WORDS = _stem_set(
    "påmindelse påmindelser mail mails e-mail e-mails mailen henvendelse henvendelser "
    "besked beskeder liste listen nyhedsbrev reminder reminders email emails e-mails "
    "message messages these list mailing disse dem")
_STOP_PHRASE = re.compile(
    r"\b(?:afmeld(?:e|es)?\s+(?:mig|os)|afmeldes|frameldes|unsubscribe|opt\s+(?:me\s+)?out"
    r"|frabeder\s+(?:mig|os)"
    r"|(?:tag|fjern|slet|stryg)\s+(?:mig|os)\s+(?:af|fra)|(?:remove|take|delete|drop)\s+(?:me|us)"
    r"\s+(?:off|from)|stop\s+(?:med\s+at\s+)?(?:sende|sending|mailing|emailing|writing)"
    r"|stop\s+(?:the|these|jeres|disse)|hold\s+op\s+med\s+at\s+sende)",
    re.IGNORECASE)
_MORE = frozenset({"flere", "mere", "igen", "fremover", "more", "anymore", "again",
                   "further", "future", "fremtiden"})
_RECEIVE = _stem_set("send sende sender modtage modtager få får have receive receiving get "
                     "getting sent")


def _about_our_mail(words: list[str]) -> bool:
    return bool(_stems(words) & _MAIL_WORDS)


def _asks_to_stop(sentence: str, words: list[str]) -> bool:
    stop = _STOP_PHRASE.search(sentence)
    if stop is not None:
        before = _words(sentence[:stop.start()])
        return not _negated(before + ["x"], len(before), window=3)
    stems = _stems(words)
    if not (stems & _MAIL_WORDS) or not (stems & _RECEIVE):
        return False
    wish = any(w in _NEGATIONS or w == "rather" for w in words) or _no_longer(words) is not None
    return wish and any(w in _MORE for w in words)


# ---------------------------------------------------------------------------------------

def read_sentences(text: str) -> SentenceReading:
    """Read the sentences of free own text (label lines and signature already removed)."""
    reading = SentenceReading()
    confirmations = 0
    for sentence in split_sentences(text[:20000]):
        if "?" in sentence or len(sentence) > 600:
            continue  # a question gives nothing; a wall of text is not a sentence
        words = _words(sentence)
        if not words:
            continue
        if _asks_to_stop(sentence, words):
            reading.unsubscribe = True
            continue
        status = _status(sentence, words)
        if status is not None and "status" not in reading.fields:
            reading.fields["status"] = status
            reading.sources["status"] = sentence
            if status == "afsluttet":
                end = _date_in(sentence, "end_date")
                if end:
                    reading.fields["end_date"] = end
                    reading.sources["end_date"] = sentence
        for key, value in _contact(sentence, words).items():
            if key not in reading.fields:
                reading.fields[key] = value
                reading.sources[key] = sentence
        if _confirms(sentence, words):
            confirmations += 1
    reading.confirmed = confirmations > 0 and not reading.fields
    return reading


__all__ = ["SentenceReading", "read_sentences", "split_sentences"]
