"""Controlled vocabularies for technology and patient groups: the terms administrators
keep, and the one rule that maps a word to a term.

An entry stores a term by its Danish label ("Videokonsultation"); the English label is
shown on English pages. Each term has synonyms (its own labels among them), folded so
case, spacing and hyphens do not matter: "video", "Video-konsultation" and "video
consultation" can all mean "Videokonsultation". A word that is no term's synonym is kept
as written — a *proposal* a moderator maps to a term or adds as a new one.

Where words become terms: every value that reaches the registry or the queue passes
:func:`canonical_record` — :func:`bot.registry.repository.create_initiative` and
``apply_changes`` (approvals, edits, imports, merges) and
:func:`moderation.submissions.create_submission` (mail, chat, forms). The pure parser
(``landkort parse``) keeps the words as written, as its contract says; the mapping needs
the database's terms and happens where the database is.
"""
from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import REGISTRY_UNCHANGED, dbnow
from bot.core.i18n import language_of
from bot.registry.models import VocabularySynonym, VocabularyTerm

VOCABULARIES: tuple[str, ...] = ("patient_groups", "technology")


def fold_term(text: str) -> str:
    """A word as terms compare it: case-folded, NFC, hyphens, slashes and underscores as
    spaces, spacing collapsed, surrounding punctuation dropped ("Peak flow-måler" and
    "peak flow måler" are one word)."""
    t = unicodedata.normalize("NFC", text).casefold()
    t = re.sub(r"[-_/]+", " ", t)
    t = " ".join(t.split())
    return t.strip(" .,;:!?\"'()[]")


@dataclass(frozen=True)
class TermInfo:
    id: int
    vocabulary: str
    label_da: str
    label_en: str

    def label(self, lang: str | None) -> str:
        """The label in ``lang``; Danish for a language the term has no label in."""
        return {"da": self.label_da, "en": self.label_en}.get(language_of(lang)) \
            or self.label_da


@dataclass
class TermIndex:
    """Every term and synonym of a database, read once and kept until they change."""

    terms: dict[int, TermInfo] = field(default_factory=dict)
    # vocabulary → folded word → term id
    words: dict[str, dict[str, int]] = field(default_factory=dict)
    stamp: tuple[Any, ...] = ()

    def term_for(self, vocabulary: str, word: str) -> TermInfo | None:
        term_id = self.words.get(vocabulary, {}).get(fold_term(word))
        return self.terms.get(term_id) if term_id is not None else None

    def canonical(self, vocabulary: str, values: Iterable[str]) -> list[str]:
        """The values as terms (Danish labels), unknown words as written; sorted, one
        each (the registry's list order)."""
        out: dict[str, str] = {}
        for value in values:
            text = " ".join(str(value).split())
            if not text:
                continue
            term = self.term_for(vocabulary, text)
            name = term.label_da if term is not None else text
            out.setdefault(fold_term(name), name)
        return sorted(out.values())

    def canonical_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with its technology and patient groups as terms."""
        out = dict(record)
        for vocabulary in VOCABULARIES:
            if out.get(vocabulary):
                out[vocabulary] = self.canonical(vocabulary, out[vocabulary])
        return out

    def unknown(self, vocabulary: str, values: Iterable[str]) -> list[str]:
        """The values that are no term's synonym (proposals)."""
        return [v for v in values if self.term_for(vocabulary, v) is None]

    def label(self, vocabulary: str, value: str, lang: str | None) -> str:
        """A stored value as a page in ``lang`` shows it."""
        term = self.term_for(vocabulary, value)
        return term.label(lang) if term is not None else value

    def of(self, vocabulary: str) -> list[TermInfo]:
        return sorted((t for t in self.terms.values() if t.vocabulary == vocabulary),
                      key=lambda t: t.label_da.casefold())


# One index per database, checked against a cheap stamp on every use, so a term added by
# another instance is seen at once. Keyed by engine (dropped with it), except that
# SQLite's read and write engines of one file share theirs (keyed by the file's URL).
_INDEXES: weakref.WeakKeyDictionary[Any, TermIndex] = weakref.WeakKeyDictionary()
_SQLITE_INDEXES: dict[str, TermIndex] = {}

# One statement: terms (count, newest change, highest id) and synonyms (count, highest id).
_STAMP = select(
    select(func.count(VocabularyTerm.id)).scalar_subquery(),
    select(func.max(VocabularyTerm.updated_at)).scalar_subquery(),
    select(func.max(VocabularyTerm.id)).scalar_subquery(),
    select(func.count(VocabularySynonym.id)).scalar_subquery(),
    select(func.max(VocabularySynonym.id)).scalar_subquery())


async def term_index(session: AsyncSession) -> TermIndex:
    """The database's terms, re-read only when they changed (checked once per
    transaction where the caller said the registry does not change in it:
    :data:`bot.core.db.REGISTRY_UNCHANGED`)."""
    unchanged = session.info.get(REGISTRY_UNCHANGED)
    if unchanged is not None and "terms" in unchanged:
        return cast(TermIndex, unchanged["terms"])
    bind = session.get_bind()
    sqlite_key = str(bind.engine.url) if bind.dialect.name == "sqlite" else None
    stamp = tuple((await session.execute(_STAMP)).one())
    index = _SQLITE_INDEXES.get(sqlite_key) if sqlite_key else _INDEXES.get(bind)
    if index is not None and index.stamp == stamp:
        if unchanged is not None:
            unchanged["terms"] = index
        return index
    index = TermIndex(stamp=stamp)
    for row in (await session.execute(select(VocabularyTerm))).scalars():
        index.terms[row.id] = TermInfo(row.id, row.vocabulary, row.label_da, row.label_en)
    for vocabulary, folded, term_id in await session.execute(
            select(VocabularySynonym.vocabulary, VocabularySynonym.folded,
                   VocabularySynonym.term_id)):
        index.words.setdefault(vocabulary, {})[folded] = term_id
    if sqlite_key:
        _SQLITE_INDEXES[sqlite_key] = index
    else:
        _INDEXES[bind] = index
    if unchanged is not None:
        unchanged["terms"] = index
    return index


async def canonical_record(session: AsyncSession,
                           record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with its technology and patient groups as terms (the one place words
    become terms). Other fields are left as they are."""
    if not any(record.get(v) for v in VOCABULARIES):
        return dict(record)
    return (await term_index(session)).canonical_record(record)


async def add_synonym_row(session: AsyncSession, term: VocabularyTerm, text: str) -> bool:
    """Make ``text`` mean ``term`` (False when the word already means a term)."""
    folded = fold_term(text)
    if not folded:
        return False
    taken = await session.scalar(select(VocabularySynonym.id).where(
        VocabularySynonym.vocabulary == term.vocabulary, VocabularySynonym.folded == folded))
    if taken is not None:
        return False
    session.add(VocabularySynonym(term_id=term.id, vocabulary=term.vocabulary,
                                  folded=folded, text=" ".join(text.split())[:200]))
    term.updated_at = dbnow()
    await session.flush()
    return True


__all__ = ["VOCABULARIES", "TermIndex", "TermInfo", "add_synonym_row", "canonical_record",
           "fold_term", "term_index"]
