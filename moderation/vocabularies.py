"""Managing the controlled vocabularies (technology, patient groups): add, rename and
merge terms, give a term another word, and map a proposed word to a term.

Every change is one write transaction with its audit row. A change that alters what an
entry's values mean (a rename, a merge, a word mapped) rewrites the entries that hold
them through :func:`bot.registry.repository.apply_changes`, so each gets a new version,
its search index row and its place in the history; open cases are brought in line too.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.registry.models import Initiative, VocabularySynonym, VocabularyTerm
from bot.registry.repository import apply_changes
from bot.registry.terms import (
    VOCABULARIES,
    TermIndex,
    add_synonym_row,
    fold_term,
    term_index,
)
from moderation.audit import record_event
from moderation.models import Submission
from moderation.states import UNDECIDED_STATES


class VocabularyError(Exception):
    """A vocabulary change that cannot be made; the message is a catalogue key."""


def _vocabulary(name: str) -> str:
    if name not in VOCABULARIES:
        raise VocabularyError("err.no_vocabulary")
    return name


def _label(text: str) -> str:
    label = " ".join(text.split())[:200]
    if not label:
        raise VocabularyError("err.term_needs_label")
    return label


async def _term(session: AsyncSession, term_id: int) -> VocabularyTerm:
    term = await session.get(VocabularyTerm, term_id, populate_existing=True)
    if term is None:
        raise VocabularyError("err.no_term")
    return term


async def _free_word(session: AsyncSession, vocabulary: str, text: str,
                     mine: int | None = None) -> None:
    """Refuse a word that already means another term."""
    taken = await session.scalar(select(VocabularySynonym.term_id).where(
        VocabularySynonym.vocabulary == vocabulary,
        VocabularySynonym.folded == fold_term(text)))
    if taken is not None and taken != mine:
        raise VocabularyError("err.word_taken")


async def _realign(session: AsyncSession, vocabulary: str, words: Iterable[str], *,
                   actor: str, note: str) -> int:
    """Rewrite the published entries and open cases holding any of ``words`` so their
    values are the terms those words now mean; returns how many entries got a new
    version."""
    folded = {fold_term(w) for w in words if w}
    if not folded:
        return 0
    column = getattr(Initiative, vocabulary)
    rewritten = 0
    entries = (await session.scalars(
        select(Initiative).where(Initiative.merged_into_id.is_(None),
                                 column.is_not(None)))).all()
    for entry in entries:
        values = list(getattr(entry, vocabulary) or [])
        if any(fold_term(v) in folded for v in values):
            before = entry.version
            written = await apply_changes(session, entry, {vocabulary: values}, actor=actor,
                                          channel="web", note=note)
            if written is None:
                continue
            rewritten += 1
            # Only the names of the values changed: an open case based on the version
            # before is based on this one too, so approving it is no conflict.
            await session.execute(
                update(Submission).where(Submission.initiative_id == entry.id,
                                         Submission.base_version == before,
                                         Submission.state.in_(UNDECIDED_STATES))
                .values(base_version=written.version)
                .execution_options(synchronize_session=False))
    index = await term_index(session)
    for sub in (await session.scalars(
            select(Submission).where(Submission.state.in_(UNDECIDED_STATES))
    )).all():
        proposed = dict(sub.proposed or {})
        values = list(proposed.get(vocabulary) or [])
        if not any(fold_term(v) in folded for v in values):
            continue
        proposed[vocabulary] = index.canonical(vocabulary, values)
        sub.proposed = proposed
        if not any(index.unknown(v, proposed.get(v) or []) for v in VOCABULARIES):
            sub.flags = [f for f in (sub.flags or []) if f != "new_terms"]
    return rewritten


@dataclass(frozen=True)
class Done:
    term_id: int
    entries_rewritten: int = 0


async def add_term(db: Database, vocabulary: str, label_da: str, label_en: str = "", *,
                   actor: str, words: Iterable[str] = ()) -> Done:
    """A new term (its labels and ``words`` become its synonyms); entries and open
    cases holding those words as free text become the term."""
    vocabulary = _vocabulary(vocabulary)
    da = _label(label_da)
    en = " ".join(label_en.split())[:200] or da
    extra = [" ".join(w.split()) for w in words if w.strip()]
    async with db.write() as session:
        for text in (da, en, *extra):
            await _free_word(session, vocabulary, text)
        term = VocabularyTerm(vocabulary=vocabulary, label_da=da, label_en=en)
        session.add(term)
        await session.flush()
        for text in (da, en, *extra):
            await add_synonym_row(session, term, text)
        rewritten = await _realign(session, vocabulary, (da, en, *extra), actor=actor,
                                   note=f"vocabulary: {da}")
        await record_event(session, actor=actor, action="vocabulary.term_added", detail={
            "vocabulary": vocabulary, "term": da, "words": extra,
            "entries_rewritten": rewritten})
        return Done(term.id, rewritten)


async def rename_term(db: Database, term_id: int, label_da: str, label_en: str, *,
                      actor: str) -> Done:
    """New labels for a term; the old ones stay its synonyms (mail that uses them still
    maps), and entries holding the old Danish label get the new one."""
    async with db.write() as session:
        term = await _term(session, term_id)
        da = _label(label_da)
        en = " ".join(label_en.split())[:200] or da
        for text in (da, en):
            await _free_word(session, term.vocabulary, text, mine=term.id)
        old_da, old_en = term.label_da, term.label_en
        term.label_da, term.label_en, term.updated_at = da, en, dbnow()
        await session.flush()
        for text in (da, en):
            await add_synonym_row(session, term, text)
        rewritten = 0
        if da != old_da:
            rewritten = await _realign(session, term.vocabulary, (old_da,), actor=actor,
                                       note=f"vocabulary: {old_da} → {da}")
        await record_event(session, actor=actor, action="vocabulary.term_renamed", detail={
            "vocabulary": term.vocabulary, "term": da, "before": old_da,
            "before_en": old_en, "entries_rewritten": rewritten})
        return Done(term.id, rewritten)


async def add_word(db: Database, term_id: int, word: str, *, actor: str,
                   vocabulary: str | None = None) -> Done:
    """Let ``word`` mean the term; entries and open cases holding it become the term.
    ``vocabulary``, when given, must be the term's (a word of one list never becomes a
    term of the other)."""
    text = _label(word)
    async with db.write() as session:
        term = await _term(session, term_id)
        if vocabulary is not None and term.vocabulary != vocabulary:
            raise VocabularyError("err.merge_other_vocabulary")
        await _free_word(session, term.vocabulary, text)
        await add_synonym_row(session, term, text)
        rewritten = await _realign(session, term.vocabulary, (text,), actor=actor,
                                   note=f"vocabulary: {text} → {term.label_da}")
        await record_event(session, actor=actor, action="vocabulary.word_added", detail={
            "vocabulary": term.vocabulary, "term": term.label_da, "word": text,
            "entries_rewritten": rewritten})
        return Done(term.id, rewritten)


async def merge_terms(db: Database, source_id: int, target_id: int, *, actor: str) -> Done:
    """Merge one term into another: its words move over, the term goes, and every entry
    that held it holds the other one (a new version each)."""
    if source_id == target_id:
        raise VocabularyError("err.merge_same_term")
    async with db.write() as session:
        source = await _term(session, source_id)
        target = await _term(session, target_id)
        if source.vocabulary != target.vocabulary:
            raise VocabularyError("err.merge_other_vocabulary")
        words = list(await session.scalars(select(VocabularySynonym.text).where(
            VocabularySynonym.term_id == source.id)))
        await session.execute(update(VocabularySynonym)
                              .where(VocabularySynonym.term_id == source.id)
                              .values(term_id=target.id)
                              .execution_options(synchronize_session=False))
        label = source.label_da
        await session.execute(delete(VocabularyTerm).where(VocabularyTerm.id == source.id)
                              .execution_options(synchronize_session=False))
        target.updated_at = dbnow()
        await session.flush()
        rewritten = await _realign(session, target.vocabulary, (label, *words), actor=actor,
                                   note=f"vocabulary: {label} → {target.label_da}")
        await record_event(session, actor=actor, action="vocabulary.terms_merged", detail={
            "vocabulary": target.vocabulary, "term": target.label_da, "merged": label,
            "entries_rewritten": rewritten})
        return Done(target.id, rewritten)


@dataclass(frozen=True)
class UnknownWord:
    """A value in the registry or an open case that is no term yet (a proposal)."""

    vocabulary: str
    word: str
    entries: int
    cases: int


@dataclass(frozen=True)
class Overview:
    """What the vocabulary page shows, read in one pass over the registry."""

    index: TermIndex
    words: dict[int, list[str]]  # term id → its words (synonyms), alphabetically
    usage: dict[tuple[str, str], int]  # (vocabulary, value) → published entries using it
    unknown: list[UnknownWord]  # proposals, most used first


async def overview(db: Database) -> Overview:
    """Every term with its words and how many entries use it, and every proposal: values
    no term covers, in published entries and open cases."""
    usage: dict[tuple[str, str], int] = {}
    found: dict[tuple[str, str], list[int]] = {}
    words: dict[int, list[str]] = {}
    async with db.read() as session:
        index = await term_index(session)
        for term_id, text in await session.execute(
                select(VocabularySynonym.term_id, VocabularySynonym.text)
                .order_by(VocabularySynonym.text)):
            words.setdefault(term_id, []).append(text)
        for row in (await session.execute(
                select(Initiative.technology, Initiative.patient_groups)
                .where(Initiative.merged_into_id.is_(None)))).all():
            for vocabulary in VOCABULARIES:
                values = getattr(row, vocabulary) or []
                for value in values:
                    usage[(vocabulary, value)] = usage.get((vocabulary, value), 0) + 1
                for word in index.unknown(vocabulary, values):
                    found.setdefault((vocabulary, word), [0, 0])[0] += 1
        for (proposed,) in (await session.execute(
                select(Submission.proposed).where(
                    Submission.state.in_(UNDECIDED_STATES)))).all():
            for vocabulary in VOCABULARIES:
                for word in index.unknown(vocabulary, (proposed or {}).get(vocabulary) or []):
                    found.setdefault((vocabulary, word), [0, 0])[1] += 1
    unknown = sorted((UnknownWord(v, w, n[0], n[1]) for (v, w), n in found.items()),
                     key=lambda u: (-(u.entries + u.cases), u.vocabulary, u.word.casefold()))
    return Overview(index, words, usage, unknown)


__all__ = ["Done", "Overview", "UnknownWord", "VocabularyError", "add_term", "add_word",
           "merge_terms", "overview", "rename_term"]
