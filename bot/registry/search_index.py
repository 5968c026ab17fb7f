"""The catalogue's search index: full text and filter values of every published entry,
kept in the database and in step with the registry.

Why in the database: the catalogue, the API and the export must answer from an index, not
by loading every entry on every request (at 10,000 entries that took 0.5 s on the event
loop). SQLite searches with FTS5 (``search_fts``), PostgreSQL with its full-text search
(a GIN index over the same words); filters and their counts are SQL over
``search_facets``. Both databases see the same words: the text is folded and split here,
in Python (Danish case folding and "aa" = "å" that SQLite's own functions lack), so a
search finds the same entries on either.

What a search term finds (:func:`query_terms`): the word at the start of a word
("kol" finds "KOL-patienter", not "psykolog"), its synonyms from ``data/synonyms.txt``
("copd" finds "KOL"), its Danish Snowball stem and the head of a compound
("hjertesvigtspatienter" finds "hjertesvigt"). Every term must be found; a term in the
title counts most, then the organisation, then the rest (BM25 / ts_rank weights).

Kept in step: :func:`refresh` runs in the transaction that writes an entry's version
(``bot.registry.repository``) and :func:`remove` in the one that merges it away, so the
index never disagrees with a committed registry; ``landkort registry reindex`` rebuilds
it (:func:`rebuild`), and migration 0010 filled it for existing databases.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import snowballstemmer
from sqlalchemy import ColumnElement, Select, delete, func, insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.registry.models import Initiative, SearchEntry, SearchFacet
from bot.registry.vocabulary import PARTICIPANTS, REGIONS

SYNONYMS_FILE = Path(__file__).resolve().parent / "data" / "synonyms.txt"
# Filter (query parameter) → the entry's attribute it filters on.
FACETS: dict[str, str] = {
    "status": "status", "region": "regions", "municipality": "municipalities",
    "participant": "participants", "patient_group": "patient_groups",
    "technology": "technology", "sector": "sector", "evaluation": "evaluation_status",
    "pro": "pro",
}
# BM25 (SQLite) and ts_rank weights (PostgreSQL): title, organisation, the rest.
_WEIGHTS = (10.0, 5.0, 1.0)
_STEMMER = snowballstemmer.stemmer("danish")
_WORD = re.compile(r"[^\W_]+")
# Region and participant keys as people write them, in both languages.
PLACE_WORDS: dict[str, str] = {t.key: f"{t.da} {t.en}" for t in (*REGIONS, *PARTICIPANTS)}


def fold(value: str) -> str:
    """Case-fold for search: "ÆRØ" and "ærø" match; so do "aa"/"å" spellings of towns."""
    return " ".join(value.casefold().replace("aa", "å").split())


def words(value: str) -> str:
    """The folded words of ``value``, separated by single spaces (what is indexed)."""
    return " ".join(_WORD.findall(fold(value)))


@lru_cache(maxsize=1)
def synonyms() -> dict[str, frozenset[str]]:
    """Folded word or phrase → its group (``data/synonyms.txt``: KOL ↔ COPD, …)."""
    groups: dict[str, frozenset[str]] = {}
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        group = frozenset(words(w) for w in line.split(",") if words(w))
        for word in group:
            groups[word] = groups.get(word, frozenset()) | group
    return groups


@dataclass(frozen=True)
class SearchTerm:
    """One thing the searcher asked for: the word or phrase as typed, and every form that
    counts as finding it (itself, its synonyms, its stem), each as folded words."""

    text: str
    forms: tuple[str, ...]

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """Each form at the start of a word, for highlighting it in shown text."""
        return tuple(re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in f.split()),
                                re.IGNORECASE) for f in self.forms)


@lru_cache(maxsize=512)
def query_terms(q: str) -> tuple[SearchTerm, ...]:
    """The terms of a query. A phrase of the synonym list ("heart failure") is one term;
    every other word is one. Cached: a catalogue page asks for them once per query and
    once per highlighted title and snippet, and stemming is the costly part."""
    found = words(q).split()
    groups = synonyms()
    terms: list[SearchTerm] = []
    i = 0
    while i < len(found):
        for n in (4, 3, 2, 1):
            phrase = " ".join(found[i:i + n])
            if n == 1 or phrase in groups:
                break
        forms = {phrase} | set(groups.get(phrase, ()))
        if n == 1:
            stem = _STEMMER.stemWord(phrase)
            if len(stem) >= 4:
                forms.add(stem)
            head = _compound_head(phrase)
            if head:
                forms.add(head)
        # A form that another form is a prefix of adds nothing (prefix search).
        kept = sorted(f for f in forms
                      if not any(o != f and f.startswith(o) and " " not in o for o in forms))
        terms.append(SearchTerm(phrase, tuple(kept)))
        i += n
    return tuple(terms)


def _compound_head(word: str) -> str | None:
    """The first part of a Danish compound joined by "s" ("hjertesvigt|s|patienter"), when
    both parts are long enough to mean something on their own."""
    for k in range(len(word) - 5, 5, -1):
        if word[k] == "s" and word[:k].isalpha():
            return word[:k]
    return None


# ---------------------------------------------------------------------------------------
# What is indexed

def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


_DANISH_ORDER = {ord("æ"): "{a", ord("ø"): "{b", ord("å"): "{c"}


def sort_key(title: str) -> str:
    """A key that sorts titles the Danish way in any database's byte order: … z, æ, ø, å
    (Unicode puts å before æ) and numbers by value ("nr. 2" before "nr. 10")."""
    folded = title.casefold().translate(_DANISH_ORDER)
    return re.sub(r"\d+", lambda m: f"{len(m[0]):02d}{m[0]}", folded)[:500]


def document(entry: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index rows of one entry (a mapping with the entry's attributes and ``id``):
    its words by place, and one facet row per filter value. Pure."""
    other = [entry.get("description") or "", entry.get("experiences") or "",
             *_values(entry.get("patient_groups")),
             *_values(entry.get("technology")), *_values(entry.get("municipalities")),
             *(PLACE_WORDS.get(k, k) for k in _values(entry.get("regions"))),
             *(PLACE_WORDS.get(k, k) for k in _values(entry.get("participants")))]
    row = {"initiative_id": entry["id"], "sort_title": sort_key(entry.get("title") or ""),
           "title_words": words(entry.get("title") or ""),
           "organisation_words": words(entry.get("organisation") or ""),
           "other_words": words(" ".join(other))}
    facets: dict[tuple[str, str], str] = {}
    for facet, attr in FACETS.items():
        for label in _values(entry.get(attr)):
            value = fold(label)[:200]
            facets.setdefault((facet, value), label[:200])
    return row, [{"initiative_id": entry["id"], "facet": f, "value": v, "label": label}
                 for (f, v), label in facets.items()]


def _entry_values(initiative: Initiative) -> dict[str, Any]:
    return {"id": initiative.id, "title": initiative.title,
            "description": initiative.description, "organisation": initiative.organisation,
            "experiences": initiative.experiences,
            **{attr: getattr(initiative, attr) for attr in set(FACETS.values())}}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def remove(session: AsyncSession, initiative_id: int) -> None:
    """Take an entry out of the index (it was merged into another)."""
    await session.execute(delete(SearchFacet).where(SearchFacet.initiative_id == initiative_id))
    await session.execute(delete(SearchEntry).where(SearchEntry.initiative_id == initiative_id))
    if _dialect(session) == "sqlite":
        await session.execute(text("DELETE FROM search_fts WHERE rowid = :id"),
                              {"id": initiative_id})


async def refresh(session: AsyncSession, initiative: Initiative) -> None:
    """Index an entry as it is now, in the caller's transaction (or take it out when it
    is no longer published)."""
    await remove(session, initiative.id)
    if initiative.merged_into_id is None:
        await _insert(session, [_entry_values(initiative)])


async def _insert(session: AsyncSession, entries: Sequence[Mapping[str, Any]]) -> None:
    rows, facets = [], []
    for entry in entries:
        row, entry_facets = document(entry)
        rows.append(row)
        facets += entry_facets
    if not rows:
        return
    await session.execute(insert(SearchEntry), rows)
    if facets:
        await session.execute(insert(SearchFacet), facets)
    if _dialect(session) == "sqlite":
        await session.execute(
            text("INSERT INTO search_fts (rowid, title_words, organisation_words, other_words)"
                 " VALUES (:initiative_id, :title_words, :organisation_words, :other_words)"),
            rows)


async def rebuild(session: AsyncSession, *, batch: int = 500) -> int:
    """Index every published entry afresh (``landkort registry reindex``); returns how
    many. Runs in the caller's transaction."""
    await session.execute(delete(SearchFacet))
    await session.execute(delete(SearchEntry))
    if _dialect(session) == "sqlite":
        await session.execute(text("DELETE FROM search_fts"))
    columns = [Initiative.id, Initiative.title, Initiative.description, Initiative.experiences,
               Initiative.organisation,
               *(getattr(Initiative, attr) for attr in sorted(set(FACETS.values())))]
    result = await session.stream(select(*columns).where(Initiative.merged_into_id.is_(None))
                                  .order_by(Initiative.id))
    count = 0
    async for chunk in result.mappings().partitions(batch):
        await _insert(session, [dict(r) for r in chunk])
        count += len(chunk)
    return count


async def in_step(session: AsyncSession) -> bool:
    """Whether the index holds exactly the published entries (a cheap check)."""
    indexed = await session.scalar(select(func.count()).select_from(SearchEntry))
    published = await session.scalar(select(func.count()).select_from(Initiative)
                                      .where(Initiative.merged_into_id.is_(None)))
    return indexed == published


# ---------------------------------------------------------------------------------------
# Searching

def _fts5_query(terms: Iterable[SearchTerm]) -> str:
    """``("kol"* OR "copd"*) AND ("aalborg"*)``: every term, any of its forms, each at
    the start of a word (a phrase's last word as a prefix). Forms are folded words only,
    so nothing a searcher types can become FTS5 syntax."""
    return " AND ".join(
        "(" + " OR ".join(f'"{form}"*' for form in t.forms) + ")" for t in terms)


def _tsquery(terms: Iterable[SearchTerm]) -> str:
    """The same for PostgreSQL: ``(kol:* | copd:*) & (aalborg:*)``; a phrase's words
    follow each other (``<->``)."""
    def form(f: str) -> str:
        parts = f.split()
        return " <-> ".join([*parts[:-1], parts[-1] + ":*"])
    return " & ".join("(" + " | ".join(form(f) for f in t.forms) + ")" for t in terms)


def _pg_document() -> ColumnElement[Any]:
    # The same expression as the GIN index of migration 0010, so the planner uses it.
    return literal_column(
        "(setweight(to_tsvector('simple'::regconfig, search_entries.title_words), 'A') || "
        "setweight(to_tsvector('simple'::regconfig, search_entries.organisation_words), 'B')"
        " || setweight(to_tsvector('simple'::regconfig, search_entries.other_words), 'C'))")


def text_matches(dialect: str, terms: Sequence[SearchTerm]) -> Select[Any]:
    """``(id, rank)`` of the entries every term is found in; a lower rank fits better."""
    if dialect == "sqlite":
        weights = ", ".join(str(w) for w in _WEIGHTS)
        fts = cast("Select[Any]", (
            select(literal_column("search_fts.rowid").label("id"),
                   literal_column(f"bm25(search_fts, {weights})").label("rank"))
            .select_from(text("search_fts"))
            .where(text("search_fts MATCH :fts").bindparams(fts=_fts5_query(terms)))))
        return fts
    query = func.to_tsquery(literal_column("'simple'::regconfig"), _tsquery(terms))
    # ts_rank's weights are {D, C, B, A}: unused, the rest, organisation, title.
    weights = "'{0, " + ", ".join(str(w / _WEIGHTS[0]) for w in reversed(_WEIGHTS)) + "}'"
    pg: Select[Any] = (select(SearchEntry.initiative_id.label("id"),
                   (-func.ts_rank(literal_column(weights + "::float4[]"), _pg_document(),
                                  query)).label("rank"))
            .where(_pg_document().op("@@")(query)))
    return pg


__all__ = ["FACETS", "PLACE_WORDS", "SYNONYMS_FILE", "SearchTerm", "document", "fold",
           "in_step", "query_terms", "rebuild", "refresh", "remove", "sort_key",
           "synonyms", "text_matches", "words"]
