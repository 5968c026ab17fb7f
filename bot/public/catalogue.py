"""Queries over the published registry: search, filters, facets, sorting and paging.

Used by the catalogue page, the JSON API, the CSV export and the map, so they always
agree. Everything is SQL over the search index (:mod:`bot.registry.search_index`:
SQLite FTS5 or PostgreSQL full text for the words, ``search_facets`` for the filters and
their counts); only the page of results is loaded, so a request costs the same at 300
entries as at 10,000 (``benchmarks/public_site.py``). Published means ``merged_into_id IS
NULL``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.registry.models import Initiative, SearchEntry, SearchFacet
from bot.registry.record import FIELD_KEYS, LIST_FIELDS
from bot.registry.search_index import (
    FACETS,
    fold,
    query_terms,
    sort_key,
    text_matches,
)

# The filters (query parameters), the search index's facets.
FILTER_PARAMS: tuple[str, ...] = tuple(FACETS)
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
    evaluation: tuple[str, ...] = ()
    pro: tuple[str, ...] = ()
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



_ROW_COLUMNS = (
    Initiative.id, Initiative.slug, Initiative.title, Initiative.description,
    Initiative.organisation, Initiative.status, Initiative.sector, Initiative.participants,
    Initiative.regions, Initiative.municipalities, Initiative.patient_groups,
    Initiative.technology, Initiative.start_date, Initiative.last_confirmed_at,
    Initiative.updated_at, Initiative.unconfirmed, Initiative.needs_new_contact,
)


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or []))


async def load_rows(session: AsyncSession, ids: Sequence[int]) -> list[CatalogueRow]:
    """The light columns of the entries ``ids``, in that order (one page of results)."""
    if not ids:
        return []
    result = await session.execute(select(*_ROW_COLUMNS).where(Initiative.id.in_(list(ids))))
    by_id: dict[int, CatalogueRow] = {}
    for r in result.all():
        by_id[r.id] = CatalogueRow(
            id=r.id, slug=r.slug, title=r.title or "", description=r.description or "",
            organisation=r.organisation or "", status=r.status, sector=r.sector,
            participants=_tuple(r.participants), regions=_tuple(r.regions),
            municipalities=_tuple(r.municipalities), patient_groups=_tuple(r.patient_groups),
            technology=_tuple(r.technology), start_date=r.start_date,
            last_confirmed_at=r.last_confirmed_at, updated_at=r.updated_at,
            unconfirmed=bool(r.unconfirmed), needs_new_contact=bool(r.needs_new_contact))
    return [by_id[i] for i in ids if i in by_id]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _constraints(dialect: str, filters: Filters, *, skip: str | None = None,
                 driven: bool = False) -> list[ColumnElement[bool]]:
    """What narrows the published entries down to those that match the search and every
    filter (but ``skip``), as conditions on ``search_entries.initiative_id``. The index
    holds exactly the published entries, so no condition means every one of them.

    The first condition (the text search when there is one) is an ``IN`` list that drives
    the query; every further filter is an ``EXISTS`` probe on the facet table's primary
    key (entry, facet, value), so 715 hits of "KOL" are checked against a status in 715
    look-ups instead of intersecting with the 3,663 entries in operation (2× at 10,000
    entries, ``benchmarks/public_site.py``). ``driven``: something else (a join) drives, all
    conditions are probes."""
    out: list[ColumnElement[bool]] = []
    terms = query_terms(filters.q)
    if terms:
        found = text_matches(dialect, terms).subquery()
        out.append(SearchEntry.initiative_id.in_(select(found.c.id)))
    for name in FILTER_PARAMS:
        wanted = filters.values(name)
        if name == skip or not wanted:
            continue
        values = sorted({fold(v) for v in wanted})
        if out or driven:
            out.append(select(SearchFacet.initiative_id).where(
                SearchFacet.initiative_id == SearchEntry.initiative_id,
                SearchFacet.facet == name, SearchFacet.value.in_(values)).exists())
        else:
            out.append(SearchEntry.initiative_id.in_(
                select(SearchFacet.initiative_id).where(
                    SearchFacet.facet == name, SearchFacet.value.in_(values))))
    return out


def _ordered(dialect: str, filters: Filters) -> Select[Any]:
    """The matching ids in the order asked for: title (A–Å, the Danish way), updated or
    confirmed (newest first), start (newest start first; unknown last). With a search
    and the default order, the best fitting first (BM25 / ts_rank), then by title."""
    by_title = (SearchEntry.sort_title, SearchEntry.initiative_id)
    terms = query_terms(filters.q)
    if filters.sort == "title" and terms:
        # The text search runs once: its rank orders, its ids narrow.
        ranked = text_matches(dialect, terms).subquery()
        return (select(SearchEntry.initiative_id)
                .join(ranked, ranked.c.id == SearchEntry.initiative_id)
                .where(*_constraints(dialect, replace(filters, q=""), driven=True))
                .order_by(ranked.c.rank, *by_title))
    query = select(SearchEntry.initiative_id).where(*_constraints(dialect, filters))
    if filters.sort == "title":
        return query.order_by(*by_title)
    column = {"updated": Initiative.updated_at, "confirmed": Initiative.last_confirmed_at,
              "start": Initiative.start_date}[filters.sort]
    return (query.join(Initiative, Initiative.id == SearchEntry.initiative_id)
            .order_by(column.desc().nulls_last(), *by_title))


@dataclass(frozen=True)
class Result:
    """One page of results, the total, and facet counts."""

    rows: list[CatalogueRow]
    total: int
    offset: int
    limit: int
    facets: dict[str, dict[str, int]]

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


async def facet_counts(session: AsyncSession, filters: Filters) -> dict[str, dict[str, int]]:
    """For each filter: how many entries each of its values would give, with every *other*
    filter (and the search) applied — the numbers shown next to the filter choices.
    Values are keyed by :func:`fold`. One grouped query for the filters not in use, one
    for each filter in use; each reads only the facet rows of the matching entries (the
    primary key leads with the entry), or, when nothing narrows, counts the index whole."""
    dialect = _dialect(session)
    out: dict[str, dict[str, int]] = {name: {} for name in FILTER_PARAMS}
    active = [name for name in FILTER_PARAMS if filters.values(name)]
    groups = [([n for n in FILTER_PARAMS if n not in active], None)] + [([n], n) for n in active]
    for names, skip in groups:
        if not names:
            continue
        constraints = _constraints(dialect, filters, skip=skip)
        query = (select(SearchFacet.facet, SearchFacet.value, func.count())
                 .group_by(SearchFacet.facet, SearchFacet.value))
        if constraints:
            matching = select(SearchEntry.initiative_id).where(*constraints).subquery()
            # Start from the matching entries and look their facet rows up by primary
            # key; left to itself SQLite's planner walks the (facet, value) index over
            # every entry instead, 15× slower at 10,000 entries (benchmarks/public_site.py).
            query = (query.select_from(matching)
                     .join(SearchFacet, SearchFacet.initiative_id == matching.c.initiative_id)
                     .where(_unindexed(dialect, SearchFacet.facet).in_(names)))
        elif len(names) < len(FILTER_PARAMS):
            query = query.where(SearchFacet.facet.in_(names))
        for facet, value, count in (await session.execute(query)).all():
            out[facet][value] = int(count)
    return out


def _unindexed(dialect: str, column: Any) -> Any:
    """``column`` such that SQLite will not pick an index on it for this condition: the
    unary ``+`` its query planner documents for exactly this ("Disqualifying WHERE clause
    terms using unary +", https://sqlite.org/optoverview.html). PostgreSQL plans this
    join well by itself: the column unchanged."""
    if dialect == "sqlite":
        return literal_column(f"+{column.table.name}.{column.name}", column.type)
    return column


async def matching_ids(session: AsyncSession, filters: Filters) -> list[int]:
    """Every matching entry's id, in the order asked for (the export)."""
    return list((await session.scalars(_ordered(_dialect(session), filters))).all())


async def search(session: AsyncSession, filters: Filters, *, offset: int = 0,
                 limit: int = 25, facets: bool = False) -> Result:
    """Search the published registry: one page of matching rows, the total, and (when
    asked) facet counts — all from the search index, so the cost follows the page, not
    the registry."""
    dialect = _dialect(session)
    offset = max(0, offset)
    constraints = _constraints(dialect, filters)
    total = int(await session.scalar(
        select(func.count()).select_from(SearchEntry).where(*constraints)) or 0)
    ids = list((await session.scalars(
        _ordered(dialect, filters).offset(offset).limit(limit))).all())
    return Result(rows=await load_rows(session, ids), total=total, offset=offset,
                  limit=limit, facets=await facet_counts(session, filters) if facets else {})


async def published_summary(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many entries are published, and when one last changed."""
    count = await session.scalar(select(func.count()).select_from(SearchEntry))
    updated = await session.scalar(select(func.max(Initiative.updated_at)).where(
        Initiative.merged_into_id.is_(None)))
    return int(count or 0), updated


async def value_counts(session: AsyncSession, facet: str) -> dict[str, int]:
    """Published entries per value of one filter, by the value as written (the map)."""
    rows = await session.execute(
        select(func.min(SearchFacet.label), func.count())
        .where(SearchFacet.facet == facet).group_by(SearchFacet.value))
    return {str(label): int(count) for label, count in rows.all()}


async def free_values(session: AsyncSession) -> dict[str, list[str]]:
    """Every patient group and technology used by a published entry, sorted the Danish
    way (for the filter menus)."""
    rows = await session.execute(
        select(SearchFacet.facet, func.min(SearchFacet.label))
        .where(SearchFacet.facet.in_(("patient_group", "technology")))
        .group_by(SearchFacet.facet, SearchFacet.value))
    out: dict[str, list[str]] = {"patient_group": [], "technology": []}
    for facet, label in rows.all():
        out[facet].append(str(label))
    return {k: sorted(v, key=sort_key) for k, v in out.items()}


_vocabulary_cache: dict[tuple[int, Any], frozenset[str]] = {}


async def _vocabulary(session: AsyncSession) -> frozenset[str]:
    """The words the registry uses (4 letters or more), read once per change of it."""
    count, updated = await published_summary(session)
    key = (count, updated)
    if key not in _vocabulary_cache:
        found: set[str] = set()
        result = await session.stream(select(SearchEntry.title_words,
                                             SearchEntry.organisation_words,
                                             SearchEntry.other_words))
        async for row in result:
            for part in row:
                found.update(w for w in part.split() if len(w) >= 4 and w.isalpha())
        _vocabulary_cache.clear()
        _vocabulary_cache[key] = frozenset(found)
    return _vocabulary_cache[key]


async def did_you_mean(session: AsyncSession, q: str) -> str | None:
    """For a search that found nothing: the query with each unknown word replaced by the
    closest word the registry itself uses ("hjertsvigt" → "hjertesvigt"), or None."""
    vocabulary = await _vocabulary(session)
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


def highlight(text: str, q: str) -> Markup:
    """``text`` escaped, with what the search found marked (``<mark>``)."""
    terms = query_terms(q)
    spans: list[tuple[int, int]] = []
    for term in terms:
        for pattern in term.patterns:
            for m in pattern.finditer(text):
                end = m.end()
                while end < len(text) and text[end].isalnum():  # the whole word
                    end += 1
                spans.append((m.start(), end))
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at:
            continue
        out += [escape(text[at:start]), Markup("<mark>"), escape(text[start:end]),
                Markup("</mark>")]
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


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
