"""Leads: initiatives a contact mentions that may not be on the map.

The reminder, the receipt and the form ask (optionally) "Kender du telemedicinske
initiativer, der ikke er på landkortet?". An answer names them

* on a line of their own under the question's label ("Andre initiativer: …", a short
  list, or bullet lines below it), or
* in a sentence that says so: "Vi kender også til et projekt med video i Holbæk
  Kommune", "Region Sjælland har også et initiativ med hjemmemonitorering, som ikke er
  på kortet", "We also know of a tele-rehabilitation pilot in Odense".

:func:`find_leads` reads the sender's own text (quotes and signature already removed)
and returns each mention with what could be told from it: the municipality, an
organisation named like one ("… Kommune", "Region …", "… Hospital"), and an e-mail
address given for it. Pure: text in, mentions out. A moderator decides what they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.registry.fields import match_municipality, split_list
from intake.parse.sentences import split_sentences

# The labels of the question's line in the form (matched like field labels).
LEAD_LABELS = ("andre initiativer", "andre telemedicinske initiativer", "kender du andre",
               "initiativer der ikke er på landkortet", "other initiatives",
               "other telemedicine initiatives", "initiatives not on the map")
# What a sentence says when it points at another initiative. Checked on the folded
# sentence as whole words; each cue alone is enough, and a negation before it is not
# a lead ("vi kender ikke til andre").
_CUES = ("kender også til", "kender til et", "kender til en", "der er også et",
         "der er også en", "har også et", "har også en", "ikke på landkortet",
         "ikke med på landkortet", "ikke på kortet", "er ikke registreret",
         "know of", "there is also", "there's also", "also runs", "also run",
         "not on the map", "is not registered")
_NEGATIONS = ("ikke til andre", "ingen andre", "kender ikke", "no other", "don't know",
              "do not know", "not aware")
_MAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")
_ORG = re.compile(r"\b(?:Region [A-ZÆØÅ][a-zæøå]{2,20}|[A-ZÆØÅ][\w-]{1,40} Kommune|"
                  r"[A-ZÆØÅ][\w-]{1,40}(?:hospital|sygehus|Hospital|Sygehus)(?:et)?)\b")
_WORD = re.compile(r"[^\W\d_][\w-]{1,40}")
MAX_TEXT = 1000
MAX_LEADS = 10


@dataclass(frozen=True)
class LeadMention:
    """One initiative mentioned: the words used, and what they tell."""

    text: str
    municipality: str | None = None
    organisation: str | None = None
    contact_email: str | None = None


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


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


def _label_value(line: str) -> str | None:
    head, sep, rest = line.partition(":")
    if not sep:
        return None
    folded = _fold(head.lstrip("-*• ").rstrip("?"))
    return rest.strip() if folded in LEAD_LABELS else None


def _is_cue(sentence: str) -> bool:
    folded = f" {_fold(sentence)} "
    if any(n in folded for n in _NEGATIONS):
        return False
    return any(f" {cue} " in folded or f" {cue}," in folded or f" {cue}." in folded
               for cue in _CUES)


def listed_leads(text: str) -> list[LeadMention]:
    """Mentions typed into a box that asks only for them (the form, the chat): one per
    line (or per item of a short list); "nej"/"no" says there are none."""
    items = [item for line in text.splitlines() for item in split_list(line)]
    mentions = [_mention(i) for i in items
                if i.strip() and _fold(i) not in ("nej", "no", "ingen", "none", "-")]
    unique: dict[str, LeadMention] = {}
    for mention in mentions:
        unique.setdefault(_fold(mention.text), mention)
    return list(unique.values())[:MAX_LEADS]


def find_leads(text: str) -> list[LeadMention]:
    """The initiatives the sender's own text mentions as possibly not on the map."""
    found: list[LeadMention] = []
    lines = text.splitlines()
    used: set[int] = set()
    for n, line in enumerate(lines):
        value = _label_value(line)
        if value is None:
            continue
        used.add(n)
        items = split_list(value) if value else []
        # Bullet lines under an empty (or short) label line belong to it.
        k = n + 1
        while k < len(lines) and lines[k].lstrip().startswith(("-", "*", "•")):
            items.append(lines[k].lstrip().lstrip("-*•").strip())
            used.add(k)
            k += 1
        found += [_mention(i) for i in items if i and _fold(i) not in ("nej", "no", "ingen")]
    rest = "\n".join(line for n, line in enumerate(lines) if n not in used)
    for sentence in split_sentences(rest):
        if _is_cue(sentence):
            found.append(_mention(sentence))
    unique: dict[str, LeadMention] = {}
    for mention in found:
        unique.setdefault(_fold(mention.text), mention)
    return list(unique.values())[:MAX_LEADS]


__all__ = ["LEAD_LABELS", "LeadMention", "find_leads", "listed_leads"]
