"""Queries over the published registry: search, filters, facets, sorting and paging.

Used by the catalogue page, the JSON API and the CSV export, so the three always agree.

How filtering works (and why). Published means ``merged_into_id IS NULL``; that is done
in SQL. Everything else — the free-text search and the filters on the JSON list columns
(regions, municipalities, participants, patient groups, technology) as well as status and
sector — is done in Python over one query that loads the light columns of all published
entries. The registry holds hundreds to a few thousand entries, so this costs
milliseconds, and it buys:

* identical behaviour on SQLite and PostgreSQL (JSON operators differ; ``LIKE`` on JSON
  text would have to deal with escaped non-ASCII characters and partial matches);
* real case-insensitive matching of Danish text (``str.casefold``; SQLite's ``lower()``
  only folds ASCII, so "Ærø" would not match "ærø");
* facet counts (how many results each filter value would give) from the same pass.

Should the registry ever grow by orders of magnitude, move search to SQL (PostgreSQL
full text, SQLite FTS5) behind :func:`search`; callers would not change.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import snowballstemmer
from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.registry.models import Initiative
from bot.registry.record import FIELD_KEYS, LIST_FIELDS
from bot.registry.vocabulary import PARTICIPANTS, REGIONS

# Query parameter → the list (or scalar) attribute it filters on.
FILTER_PARAMS: tuple[str, ...] = ("status", "region", "municipality", "participant",
                                  "patient_group", "technology", "sector")
FILTER_COLUMNS: dict[str, str] = {
    "status": "status", "region": "regions", "municipality": "municipalities",
    "participant": "participants", "patient_group": "patient_groups",
    "technology": "technology", "sector": "sector",
}
SORTS: tuple[str, ...] = ("title", "updated", "confirmed", "start")
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class Filters:
    """What the user asked for. Each filter holds zero or more values: an entry matches a
    filter when it has *any* of them; it must match *every* filter given."""

    q: str = ""
    status: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    municipality: tuple[str, ...] = ()
    participant: tuple[str, ...] = ()
    patient_group: tuple[str, ...] = ()
    technology: tuple[str, ...] = ()
    sector: tuple[str, ...] = ()
    sort: str = "title"

    @classmethod
    def from_query(cls, query: Mapping[str, str] | Any) -> Filters:
        """From request query parameters (a MultiDict: ``?region=a&region=b`` is allowed).
        Unknown sort values fall back to title; empty values are ignored."""
        def values(name: str) -> tuple[str, ...]:
            getall = getattr(query, "getall", None)
            raw = getall(name, []) if getall else ([query[name]] if name in query else [])
            seen: list[str] = []
            for v in raw:
                v = v.strip()[:MAX_QUERY_CHARS]
                if v and v not in seen:
                    seen.append(v)
            return tuple(seen)

        q = " ".join((query.get("q") or "").split())[:MAX_QUERY_CHARS]
        sort = query.get("sort") or "title"
        return cls(q=q, sort=sort if sort in SORTS else "title",
                   **{name: values(name) for name in FILTER_PARAMS})

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(getattr(self, name))

    @property
    def active(self) -> bool:
        return bool(self.q or any(self.values(n) for n in FILTER_PARAMS))

    def params(self, **override: Any) -> list[tuple[str, str]]:
        """The query parameters that reproduce these filters (for links and paging)."""
        data = replace(self, **override) if override else self
        out: list[tuple[str, str]] = []
        if data.q:
            out.append(("q", data.q))
        for name in FILTER_PARAMS:
            out += [(name, v) for v in data.values(name)]
        if data.sort != "title":
            out.append(("sort", data.sort))
        return out

    def query_string(self, **override: Any) -> str:
        return urlencode(self.params(**override))

    def without(self, name: str, value: str | None = None) -> Filters:
        """These filters minus one value (or all values) of one filter."""
        if name == "q":
            return replace(self, q="")
        kept = tuple(v for v in self.values(name) if value is not None and v != value)
        changes: dict[str, Any] = {name: kept}
        return replace(self, **changes)


@dataclass(frozen=True)
class CatalogueRow:
    """The light columns of one published entry: enough to filter, sort and list it."""

    id: int
    slug: str
    title: str
    description: str
    organisation: str
    status: str | None
    sector: str | None
    participants: tuple[str, ...]
    regions: tuple[str, ...]
    municipalities: tuple[str, ...]
    patient_groups: tuple[str, ...]
    technology: tuple[str, ...]
    start_date: str | None
    last_confirmed_at: datetime | None
    updated_at: datetime | None
    unconfirmed: bool
    needs_new_contact: bool
    haystack: str = field(repr=False, compare=False, default="")
    # The folded title and organisation, for relevance (a word in the title counts most).
    title_f: str = field(repr=False, compare=False, default="")
    org_f: str = field(repr=False, compare=False, default="")

    def column(self, name: str) -> tuple[str, ...]:
        """A filter's values on this row (scalars as a one-element tuple)."""
        value = getattr(self, FILTER_COLUMNS[name])
        if isinstance(value, tuple):
            return value
        return (value,) if value else ()


def fold(text: str) -> str:
    """Case-fold for search: "ÆRØ" and "ærø" match; so do "aa"/"å" spellings of towns."""
    return " ".join(text.casefold().replace("aa", "å").split())


_ROW_COLUMNS = (
    Initiative.id, Initiative.slug, Initiative.title, Initiative.description,
    Initiative.organisation, Initiative.status, Initiative.sector, Initiative.participants,
    Initiative.regions, Initiative.municipalities, Initiative.patient_groups,
    Initiative.technology, Initiative.start_date, Initiative.last_confirmed_at,
    Initiative.updated_at, Initiative.unconfirmed, Initiative.needs_new_contact,
)


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or []))


async def load_rows(session: AsyncSession) -> list[CatalogueRow]:
    """The light columns of every published entry (merged duplicates left out)."""
    result = await session.execute(select(*_ROW_COLUMNS)
                                   .where(Initiative.merged_into_id.is_(None)))
    rows: list[CatalogueRow] = []
    for r in result.all():
        patient_groups, technology = _tuple(r.patient_groups), _tuple(r.technology)
        regions, participants = _tuple(r.regions), _tuple(r.participants)
        # Places and sectors are searched too ("KOL Aalborg", "hjertesvigt Midtjylland").
        haystack = fold(" ".join([r.title or "", r.description or "", r.organisation or "",
                                  *patient_groups, *technology, *_tuple(r.municipalities),
                                  *(_PLACE_WORDS.get(k, k) for k in regions),
                                  *(_PLACE_WORDS.get(k, k) for k in participants)]))
        rows.append(CatalogueRow(
            id=r.id, slug=r.slug, title=r.title or "", description=r.description or "",
            organisation=r.organisation or "", status=r.status, sector=r.sector,
            participants=participants, regions=regions,
            municipalities=_tuple(r.municipalities), patient_groups=patient_groups,
            technology=technology, start_date=r.start_date,
            last_confirmed_at=r.last_confirmed_at, updated_at=r.updated_at,
            unconfirmed=bool(r.unconfirmed), needs_new_contact=bool(r.needs_new_contact),
            haystack=haystack, title_f=fold(r.title or ""), org_f=fold(r.organisation or "")))
    return rows


# Region and participant keys as people write them, in both languages.
_PLACE_WORDS: dict[str, str] = {
    t.key: f"{t.da} {t.en}" for t in (*REGIONS, *PARTICIPANTS)}
SYNONYMS_FILE = Path(__file__).resolve().parent / "data" / "synonyms.txt"
_STEMMER = snowballstemmer.stemmer("danish")


@lru_cache(maxsize=1)
def synonyms() -> dict[str, frozenset[str]]:
    """Folded word or phrase → its group (``data/synonyms.txt``: KOL ↔ COPD, …)."""
    groups: dict[str, frozenset[str]] = {}
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        group = frozenset(fold(w) for w in line.split(",") if w.strip())
        for word in group:
            groups[word] = groups.get(word, frozenset()) | group
    return groups


def _word_pattern(text: str) -> re.Pattern[str]:
    """``text`` at the start of a word (its words separated by any white space)."""
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in text.split()))


@dataclass(frozen=True)
class SearchTerm:
    """One thing the searcher asked for: the word or phrase as typed, and every form that
    counts as finding it (its synonyms, its Danish stem)."""

    text: str
    patterns: tuple[re.Pattern[str], ...]


def query_terms(q: str) -> list[SearchTerm]:
    """The terms of a query. A phrase of the synonym list ("heart failure") is one term;
    every other word is one. A term is found by any of its forms at the start of a word:
    itself ("kol" finds "KOL-patienter", not "psykolog"), its synonyms ("copd" finds
    "KOL"), and its Danish stem ("hjertesvigtspatienter" finds "hjertesvigt…")."""
    words = fold(q).split()
    groups = synonyms()
    terms: list[SearchTerm] = []
    i = 0
    while i < len(words):
        for n in (4, 3, 2, 1):
            phrase = " ".join(words[i:i + n])
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
        terms.append(SearchTerm(phrase, tuple(_word_pattern(f) for f in sorted(forms))))
        i += n
    return terms


def _compound_head(word: str) -> str | None:
    """The first part of a Danish compound joined by "s" ("hjertesvigt|s|patienter"), when
    both parts are long enough to mean something on their own."""
    for k in range(len(word) - 5, 5, -1):
        if word[k] == "s" and word[:k].isalpha():
            return word[:k]
    return None


def matches_text(row: CatalogueRow, q: str | Sequence[SearchTerm]) -> bool:
    """Every term of ``q`` is found (itself, a synonym or its stem at the start of a word)
    in the title, description, organisation, patient groups, technology, municipalities,
    regions or participants (case-insensitive)."""
    terms = query_terms(q) if isinstance(q, str) else q
    return all(any(p.search(row.haystack) for p in t.patterns) for t in terms)


def relevance(row: CatalogueRow, terms: Sequence[SearchTerm]) -> int:
    """How well a matching row fits: a term in the title counts 3, in the organisation 2,
    elsewhere 1."""
    score = 0
    for t in terms:
        if any(p.search(row.title_f) for p in t.patterns):
            score += 3
        elif any(p.search(row.org_f) for p in t.patterns):
            score += 2
        else:
            score += 1
    return score


def matches_filter(row: CatalogueRow, name: str, wanted: Sequence[str]) -> bool:
    """The row has any of the wanted values (case-insensitive for free-text lists)."""
    if not wanted:
        return True
    have = {fold(v) for v in row.column(name)}
    return any(fold(w) in have for w in wanted)


def _predicate(filters: Filters, skip: str | None = None) -> Callable[[CatalogueRow], bool]:
    active = [(n, filters.values(n)) for n in FILTER_PARAMS if n != skip and filters.values(n)]
    patterns = query_terms(filters.q)

    def ok(row: CatalogueRow) -> bool:
        if patterns and not matches_text(row, patterns):
            return False
        return all(matches_filter(row, n, w) for n, w in active)
    return ok


_DANISH = {ord("æ"): "{a", ord("ø"): "{b", ord("å"): "{c"}


def _title_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for titles and names: Danish alphabet order (… z, æ, ø, å; Unicode puts
    å before æ) and numbers by value ("nr. 2" before "nr. 10")."""
    parts = re.split(r"(\d+)", text.casefold().translate(_DANISH))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def sort_rows(rows: list[CatalogueRow], sort: str) -> list[CatalogueRow]:
    """Order results: title (A–Å), updated (newest first), confirmed (newest first; never
    confirmed last), start (newest start date first; unknown last)."""
    by_title = sorted(rows, key=lambda r: (_title_key(r.title), r.id))
    if sort == "updated":
        return sorted(by_title, key=lambda r: r.updated_at or datetime.min, reverse=True)
    if sort == "confirmed":
        return sorted(by_title, key=lambda r: r.last_confirmed_at or datetime.min,
                      reverse=True)
    if sort == "start":
        return sorted(by_title, key=lambda r: r.start_date or "", reverse=True)
    return by_title


@dataclass(frozen=True)
class Result:
    """One page of results, the total, and facet counts."""

    rows: list[CatalogueRow]
    total: int
    offset: int
    limit: int
    facets: dict[str, dict[str, int]]
    matched_ids: list[int]

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


def facet_counts(rows: Iterable[CatalogueRow], filters: Filters) -> dict[str, dict[str, int]]:
    """For each filter: how many entries each of its values would give, with every *other*
    filter (and the search) applied — the numbers shown next to the filter choices.
    Values are keyed by :func:`fold`."""
    rows = list(rows)
    out: dict[str, dict[str, int]] = {}
    for name in FILTER_PARAMS:
        pred = _predicate(filters, skip=name)
        counts: Counter[str] = Counter()
        for row in rows:
            if pred(row):
                counts.update({fold(v) for v in row.column(name)})
        out[name] = dict(counts)
    return out


def filter_rows(rows: Iterable[CatalogueRow], filters: Filters) -> list[CatalogueRow]:
    """The rows matching the search and every filter, sorted as asked; with a search,
    the default order (title) puts the best-fitting entries first."""
    pred = _predicate(filters)
    found = sort_rows([r for r in rows if pred(r)], filters.sort)
    if filters.q and filters.sort == "title":
        terms = query_terms(filters.q)
        found.sort(key=lambda r: -relevance(r, terms))  # stable: title order within
    return found


def did_you_mean(rows: Iterable[CatalogueRow], q: str) -> str | None:
    """For a search that found nothing: the query with each unknown word replaced by the
    closest word the registry itself uses ("hjertsvigt" → "hjertesvigt"), or None."""
    vocabulary: set[str] = set()
    for row in rows:
        vocabulary.update(w for w in re.findall(r"[^\W\d_]{4,}", row.haystack))
    if not vocabulary:
        return None
    out, changed = [], False
    for word in fold(q).split():
        if word in vocabulary or len(word) < 4:
            out.append(word)
            continue
        best = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=80)
        if best is None:
            out.append(word)
        else:
            out.append(str(best[0]))
            changed = True
    return " ".join(out) if changed else None


async def search(session: AsyncSession, filters: Filters, *, offset: int = 0,
                 limit: int = 25, facets: bool = False) -> Result:
    """Search the published registry: one page of matching rows, the total, and (when
    asked) facet counts."""
    rows = await load_rows(session)
    matched = filter_rows(rows, filters)
    offset = max(0, offset)
    return Result(rows=matched[offset:offset + limit], total=len(matched), offset=offset,
                  limit=limit, facets=facet_counts(rows, filters) if facets else {},
                  matched_ids=[r.id for r in matched])


async def load_initiatives(session: AsyncSession, ids: Sequence[int]) -> list[Initiative]:
    """Full entries (with their contact) for ``ids``, in the order given."""
    if not ids:
        return []
    found: dict[int, Initiative] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for item in (await session.scalars(select(Initiative)
                                           .where(Initiative.id.in_(chunk)))).unique():
            found[item.id] = item
    return [found[i] for i in ids if i in found]


async def distinct_values(session: AsyncSession) -> dict[str, list[str]]:
    """Every patient group and technology used by a published entry, sorted (for the
    filter menus)."""
    rows = await load_rows(session)
    return values_of(rows)


def values_of(rows: Iterable[CatalogueRow]) -> dict[str, list[str]]:
    groups: dict[str, str] = {}
    techs: dict[str, str] = {}
    for r in rows:
        for v in r.patient_groups:
            groups.setdefault(fold(v), v)
        for v in r.technology:
            techs.setdefault(fold(v), v)
    return {"patient_group": sorted(groups.values(), key=_title_key),
            "technology": sorted(techs.values(), key=_title_key)}


# ---------------------------------------------------------------------------------------
# The public record (API and CSV)

# The record's fields (bot.registry.record, in its order) between the entry's address and
# what is derived or kept about it.
API_FIELDS: tuple[str, ...] = (
    "id", "slug", "url", *FIELD_KEYS, "sector", "last_confirmed_at", "updated_at")
LIST_API_FIELDS: frozenset[str] = LIST_FIELDS


def _iso(value: datetime | None) -> str | None:
    """Naive UTC from the database → ISO 8601 with a Z."""
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def public_record(initiative: Initiative, base_url: str) -> dict[str, Any]:
    """An entry as the API and the CSV give it: the contract's canonical keys plus id,
    slug, url, sector, last_confirmed_at and updated_at (always all keys, ``None`` or
    ``[]`` when empty)."""
    record = initiative.public_record()
    data: dict[str, Any] = {
        "id": initiative.id, "slug": initiative.slug,
        "url": f"{base_url.rstrip('/')}/initiativ/{initiative.slug}",
    }
    for key in API_FIELDS:
        if key in data:
            continue
        if key == "sector":
            data[key] = initiative.sector
        elif key == "last_confirmed_at":
            data[key] = _iso(initiative.last_confirmed_at)
        elif key == "updated_at":
            data[key] = _iso(initiative.updated_at)
        elif key in LIST_API_FIELDS:
            data[key] = list(record.get(key) or [])
        else:
            data[key] = record.get(key)
    return data
