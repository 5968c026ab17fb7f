"""Leads: initiatives a contact mentions that may not be on the map.

The reminder, the receipt and the form ask (optionally) "Kender du telemedicinske
initiativer, der ikke er på landkortet?". An answer names them

* on a line of their own under the question's label ("Andre initiativer: …", a short
  list, or bullet lines below it), or
* in a sentence that says so: "Vi kender også til et projekt med video i Holbæk
  Kommune", "Region Sjælland har også et initiativ med hjemmemonitorering, som ikke er
  på kortet", "We also know of a tele-rehabilitation pilot in Odense".

:func:`leads_in` reads the free text the reply form leaves (the parser calls it, in its
worker thread, with the text it already has) and returns each mention with what could be
told from it: the municipality, an organisation named like one ("… Kommune",
"Region …", "… Hospital"), and an e-mail address given for it. Pure: text in, mentions
out. A moderator decides what they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.registry.fields import match_municipality
from intake.parse.reply_form import lead_label_value, read_form
from intake.parse.sentences import split_sentences

# What a sentence says when it points at another initiative: it knows of one, or says
# one is missing from the map. Checked on the folded sentence as whole words, and only
# with a word for an initiative in the same sentence ("Vi har også en ny kontaktperson"
# is no lead); a question is never one (our own question, quoted back unmarked).
_CUES = ("kender også til", "kender til et", "kender til en", "ved også at",
         "ikke på landkortet", "ikke med på landkortet", "ikke er på landkortet",
         "ikke er med på landkortet", "ikke registreret på landkortet",
         "know of another", "know of a", "aware of another", "aware of a",
         "not on the map", "missing from the map", "not registered on the map")
# Word stems for an initiative, found inside words as well: Danish compounds
# ("KOL-projektet", "pilotprojekter", "videotilbud") and English plurals.
_INITIATIVE_STEMS = ("projekt", "initiativ", "tilbud", "pilot", "forsøg", "afprøvning",
                     "ordning", "indsats", "løsning", "project", "initiative", "programme",
                     "program", "scheme", "trial")
_NEGATIONS = ("ikke til andre", "ingen andre", "kender ikke", "ved ikke", "kender vi ikke",
              "no other", "don't know", "do not know", "not aware", "know of none",
              "know of no", "aware of none", "aware of no")
# What an answer to the question says when there is nothing to tell.
_NOTHING = frozenset({"nej", "nej tak", "no", "no thanks", "ingen", "none", "intet",
                      "ved ikke", "kender ikke", "don't know", "do not know", "-", "n/a",
                      "nope", "not that i know", "ikke så vidt jeg ved"})
_MAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")
_ORG = re.compile(r"\b(?:Region [A-ZÆØÅ][a-zæøå]{2,20}|[A-ZÆØÅ][\w-]{1,40} Kommune|"
                  r"[A-ZÆØÅ][\w-]{1,40}(?:hospital|sygehus|Hospital|Sygehus)(?:et)?)\b")
_WORD = re.compile(r"[^\W\d_][\w-]{1,40}")
MAX_TEXT = 1000
MAX_LEADS = 10
# As the sentence reader (intake.parse.sentences): a stranger's wall of text is cut, and
# a "sentence" longer than this is not one.
MAX_SCAN = 20000
MAX_SENTENCE = 600


@dataclass(frozen=True)
class LeadMention:
    """One initiative mentioned: the words used, and what they tell."""

    text: str
    municipality: str | None = None
    organisation: str | None = None
    contact_email: str | None = None


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _nothing(item: str) -> bool:
    return _fold(item).strip(" .,!;:") in _NOTHING


def _mention(text: str) -> LeadMention:
    text = " ".join(text.split())[:MAX_TEXT]
    municipality = None
    for word in _WORD.findall(text):
        found = match_municipality(word)
        if found:
            municipality = found
            break
    org = _ORG.search(text)
    mail = _MAIL.search(text)
    return LeadMention(text, municipality, org.group(0) if org else None,
                       mail.group(0).lower() if mail else None)


def _is_cue(sentence: str) -> bool:
    if sentence.rstrip().endswith("?"):
        return False
    folded = f" {_fold(sentence)} "
    if any(n in folded for n in _NEGATIONS):
        return False
    if not any(f" {cue} " in folded or f" {cue}," in folded or f" {cue}." in folded
               for cue in _CUES):
        return False
    return any(stem in word for word in folded.split() for stem in _INITIATIVE_STEMS)


def _items(value: str) -> list[str]:
    """The initiatives of one answer: one per ";" (a comma is inside a name as often as
    between two)."""
    return [part.strip() for part in value.split(";") if part.strip()]


def listed_leads(text: str) -> list[LeadMention]:
    """Mentions typed into a box that asks only for them (the form): one per line (or
    per ";"); "nej", "ved ikke", "-" say there are none."""
    mentions = [_mention(i) for line in text.splitlines() for i in _items(line)
                if not _nothing(i)]
    return _unique(mentions)


def _unique(mentions: list[LeadMention]) -> list[LeadMention]:
    unique: dict[str, LeadMention] = {}
    for mention in mentions:
        unique.setdefault(_fold(mention.text), mention)
    return list(unique.values())[:MAX_LEADS]


def leads_in(free_text: str) -> list[LeadMention]:
    """The initiatives mentioned in the sender's free text — what the reply form left
    after taking the field lines (``FormResult.free_text``; :func:`parse_message` has it
    at hand): the answer under the question's label, and sentences that say so. A
    field's own line is never a lead ("Beskrivelse: et projekt, der …")."""
    found: list[LeadMention] = []
    lines = free_text[:MAX_SCAN].splitlines()
    used: set[int] = set()
    for n, line in enumerate(lines):
        value = lead_label_value(line)
        if value is None:
            continue
        used.add(n)
        items = _items(value)
        # Bullet lines under an empty label line are its answers.
        k = n + 1
        while not value and k < len(lines) and lines[k].lstrip().startswith(("-", "*", "•")):
            items.append(lines[k].lstrip().lstrip("-*•").strip())
            used.add(k)
            k += 1
        found += [_mention(i) for i in items if not _nothing(i)]
    rest = "\n".join(line for n, line in enumerate(lines) if n not in used)
    for sentence in split_sentences(rest):
        if len(sentence) <= MAX_SENTENCE and _is_cue(sentence):
            found.append(_mention(sentence))
    return _unique(found)


def find_leads(text: str) -> list[LeadMention]:
    """:func:`leads_in` of a whole own text (its field lines taken out first)."""
    return leads_in(read_form(text).free_text)


__all__ = ["LeadMention", "find_leads", "leads_in", "listed_leads"]
