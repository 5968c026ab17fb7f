"""Likely duplicates of a proposed or existing entry (scored with rapidfuzz).

Interface used by intake (new submissions), the chat and the moderation UI:
:func:`find_duplicates` returns ``[{"initiative_id", "title", "score"}]`` best first.

How it stays fast with 100,000 entries
--------------------------------------
An in-memory :class:`DuplicateIndex` per database holds, for every published entry, its
normalised title, organisation, regions and contact, plus an inverted index from title
tokens to entries. A check

1. *blocks*: takes the entries that share a rare title token with the record, or two
   of its rarest tokens (set intersections; three when pairs are still too common), or
   the contact's e-mail address; a misspelt token is matched to the index's vocabulary
   with rapidfuzz;
2. cuts those down with ``rapidfuzz.process.extract`` on the title (C speed) to the
   best :data:`FULL_SCORES`;
3. *scores* them with :func:`score_pair` and finally re-reads the winners from the
   database, so a stale index can only cost recall, never show wrong data.

The index picks up new entries (ids above its highest) on every call, re-reads entries
changed since its last refresh (``updated_at``) every :data:`REFRESH_SECONDS`, and is
rebuilt from scratch every :data:`REBUILD_SECONDS`.

Scoring
-------
See :func:`score_pair`: the title (token_set/token_sort ratios on folded text, the
informative words weighted more) gates the score; organisation, region and contact
raise or lower it. A short or generic title ("EMR", "Video", "Telemedicin") is not
enough on its own.
"""
from __future__ import annotations

import asyncio
import re
import time
import unicodedata
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import REGISTRY_UNCHANGED, dbnow
from bot.registry.models import Contact, Initiative

MIN_SCORE = 60.0
REBUILD_SECONDS = 6 * 3600.0
REFRESH_SECONDS = 30.0
REFRESH_MARGIN = timedelta(minutes=2)
RARE_POSTINGS = 200
CANDIDATE_BUDGET = 2_500
FULL_SCORES = 40
WEIGHTS = {"organisation": 0.45, "contact": 0.35, "region": 0.2}

# Words that say little about *which* initiative a title names.
STOPWORDS = frozenset("""
og i af til med for på the and of in for to a an en et den det de om ved fra som
der paa til via with on at by
""".split())
GENERIC_WORDS = frozenset("""
telemedicin telemedicinsk telemedicinske telemedicine telehealth telesundhed
medicin medicinsk medicinske konsultation konsultationer
projekt project pilot pilotprojekt initiativ initiative losning loesning solution
video videokonsultation videokonsultationer emr app digital digitale system platform
hjemmemonitorering monitorering monitoring region kommune hospital sygehus borgere
patienter patients almen praksis sektor sektorer tvaersektoriel
nordjylland midtjylland syddanmark sjaelland hovedstaden danmark fyn jylland sjaeland
""".split())


def _place_words() -> frozenset[str]:
    """Municipality names: where an initiative runs says little about which one it is."""
    from bot.registry.vocabulary import MUNICIPALITIES

    return frozenset(w for name in MUNICIPALITIES for w in fold(name).split())


def fold(text: str | None) -> str:
    """Lower case, Danish letters spelt out (æ→ae, ø→oe, å→aa), accents and punctuation
    removed, spaces collapsed."""
    if not text:
        return ""
    t = text.casefold().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode()
    t = re.sub(r"[^a-z0-9]+", " ", t)
    return " ".join(t.split())


PLACE_WORDS = _place_words()


COMPOUND_PREFIXES = ("tele", "video", "digital")


def title_tokens(folded_title: str) -> list[str]:
    """The title's words without stop words; a compound like "telekol" also gives its
    second half ("kol"), so "TeleKOL" meets "Telemedicinsk KOL"."""
    out: list[str] = []
    for t in folded_title.split():
        if len(t) < 2 or t in STOPWORDS:
            continue
        out.append(t)
        for prefix in COMPOUND_PREFIXES:
            rest = t[len(prefix):]
            if t.startswith(prefix) and len(rest) >= 3 and rest not in GENERIC_WORDS:
                out.append(rest)
    return out


def _informative(folded_title: str) -> str:
    return " ".join(t for t in title_tokens(folded_title)
                    if t not in GENERIC_WORDS and t not in PLACE_WORDS)


def is_weak_title(folded_title: str) -> bool:
    """True for titles that alone say too little to call two entries the same."""
    informative = _informative(folded_title).split()
    return not informative or (len(informative) == 1 and len(informative[0]) < 8)


@dataclass
class IndexedEntry:
    """One entry as the index sees it."""

    id: int
    title: str
    title_f: str
    org_f: str
    regions: frozenset[str]
    email: str
    contact_f: str
    # Derived once: the informative words of the title and whether it is weak.
    informative: str = ""
    weak: bool = True

    def __post_init__(self) -> None:
        self.informative = _informative(self.title_f)
        self.weak = is_weak_title(self.title_f)

    @classmethod
    def of(cls, id: int, title: str | None, organisation: str | None,
           regions: Iterable[str] | None, email: str | None,
           contact_name: str | None) -> IndexedEntry:
        return cls(id=id, title=title or "", title_f=fold(title), org_f=fold(organisation),
                   regions=frozenset(regions or ()), email=(email or "").strip().casefold(),
                   contact_f=fold(contact_name))


def record_entry(record: Mapping[str, Any]) -> IndexedEntry:
    return IndexedEntry.of(0, record.get("title"), record.get("organisation"),
                    record.get("regions"), record.get("contact_email"),
                    record.get("contact_name"))


def title_score(a: str, b: str, ia: str | None = None, ib: str | None = None) -> float:
    """Title likeness of two folded titles, 0–100: the whole titles and, weighted more,
    their informative words (so "… af KOL" and "… af hjertesvigt" stay apart)."""
    full = (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2
    ia = _informative(a) if ia is None else ia
    ib = _informative(b) if ib is None else ib
    if not ia or not ib:
        return full
    return 0.4 * full + 0.6 * fuzz.token_set_ratio(ia, ib)


def score_pair(a: IndexedEntry, b: IndexedEntry) -> float:
    """How alike two entries are, 0–100.

    The title is the gate: ``title × (0.7 + 0.3 × agreement)``, where agreement is the
    weighted mean of organisation (token_set_ratio), region (overlap 100, disjoint 0)
    and contact (same e-mail: 100; a different address is no evidence either way) over
    what both sides have (0.5 when nothing). A short or generic title is capped below
    :data:`MIN_SCORE` unless the organisation or the contact agrees.
    """
    if not a.title_f or not b.title_f:
        return 0.0
    title = title_score(a.title_f, b.title_f, a.informative, b.informative)
    parts: dict[str, float] = {}
    if a.org_f and b.org_f:
        parts["organisation"] = fuzz.token_set_ratio(a.org_f, b.org_f)
    if a.email and b.email and a.email == b.email:
        parts["contact"] = 100.0
    if a.regions and b.regions:
        parts["region"] = 100.0 if a.regions & b.regions else 0.0
    agreement = (sum(WEIGHTS[k] * v for k, v in parts.items())
                 / sum(WEIGHTS[k] for k in parts) / 100) if parts else 0.5
    score = title * (0.7 + 0.3 * agreement)
    if a.weak or b.weak:
        agrees = parts.get("organisation", 0) >= 90 or "contact" in parts
        if not agrees or parts.get("region") == 0.0:
            score = min(score, MIN_SCORE - 10)
    return round(score, 1)


@dataclass
class DuplicateIndex:
    """Published entries in memory with an inverted index on title tokens."""

    entries: dict[int, IndexedEntry] = field(default_factory=dict)
    postings: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_email: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    vocabulary: list[str] = field(default_factory=list)
    max_id: int = 0
    built_at: float = 0.0
    refreshed_at: float = 0.0
    # Database time of the last refresh: rows updated since are re-read.
    db_mark: datetime | None = None
    # Bumped by every add/remove: the work list's pairs are recomputed only after one.
    version: int = 0
    pairs_cache: tuple[int, list[tuple[int, int, float]]] | None = None

    def add(self, entry: IndexedEntry) -> None:
        if self.entries.get(entry.id) == entry:
            return  # re-read but unchanged: the work list's pairs stay valid
        self.remove(entry.id)
        self.version += 1
        self.entries[entry.id] = entry
        for tok in set(title_tokens(entry.title_f)):
            self.postings[tok].add(entry.id)
        if entry.email:
            self.by_email[entry.email].add(entry.id)
        self.max_id = max(self.max_id, entry.id)

    def remove(self, entry_id: int) -> None:
        old = self.entries.pop(entry_id, None)
        if old is None:
            return
        self.version += 1
        for tok in set(title_tokens(old.title_f)):
            self.postings[tok].discard(entry_id)
        if old.email:
            self.by_email[old.email].discard(entry_id)

    def finish(self) -> None:
        self.vocabulary = sorted(t for t, ids in self.postings.items() if ids)

    def candidates(self, probe: IndexedEntry, exclude: int | None = None) -> set[int]:
        """Entry ids worth a look: those sharing a rare title token, or two of the
        query's rarest tokens (set intersections run at C speed), or the e-mail."""
        sets: list[set[int]] = []
        for tok in set(title_tokens(probe.title_f)):
            if self.postings.get(tok):
                sets.append(self.postings[tok])
            elif len(tok) >= 5 and self.vocabulary:
                # A misspelt word: the index's closest words stand in for it.
                for other, _, _ in process.extract(tok, self.vocabulary, scorer=fuzz.ratio,
                                                   score_cutoff=84, limit=3):
                    sets.append(self.postings[other])
        sets.sort(key=len)
        rare_limit = max(RARE_POSTINGS, len(self.entries) // 500)
        found: set[int] = set()
        for ids in sets:
            if len(ids) <= rare_limit:
                found |= ids
        top = sets[:4]
        if len(top) == 1:
            found |= set(list(top[0])[:CANDIDATE_BUDGET])
        # Pairs of the query's rarest words, smallest overlap first, within a budget
        # (words that always go together, like "telemedicinsk hjemmemonitorering",
        # make large pairs and come last).
        for pair in sorted((a & b for a, b in combinations(top, 2)), key=len):
            if found and len(found) + len(pair) > CANDIDATE_BUDGET:
                break
            found |= pair
        if probe.email:
            found |= self.by_email.get(probe.email, set())
        found.discard(exclude if exclude is not None else -1)
        return found

    def search(self, probe: IndexedEntry, *, exclude: int | None = None,
               limit: int = 5) -> list[tuple[int, float]]:
        ids = self.candidates(probe, exclude)
        # A C-speed first cut on the title alone; only the best are scored in full.
        choices = {i: self.entries[i].title_f for i in ids if i in self.entries}
        first = process.extract(probe.title_f, choices, scorer=fuzz.token_set_ratio,
                                score_cutoff=MIN_SCORE * 0.8, limit=FULL_SCORES)
        keep = {key for _, _, key in first}
        if probe.email:
            keep |= self.by_email.get(probe.email, set()) & choices.keys()
        scored = [(i, score_pair(probe, self.entries[i])) for i in keep]
        scored = [s for s in scored if s[1] >= MIN_SCORE]
        scored.sort(key=lambda s: (-s[1], s[0]))
        return scored[:limit]

    def copy(self) -> DuplicateIndex:
        """A private copy another thread may read while this one changes."""
        return DuplicateIndex(
            entries=dict(self.entries),
            postings=defaultdict(set, {t: set(ids) for t, ids in self.postings.items()}),
            by_email=defaultdict(set, {e: set(ids) for e, ids in self.by_email.items()}),
            vocabulary=list(self.vocabulary), max_id=self.max_id, version=self.version)

    def pairs(self, per_entry: int = 3) -> list[tuple[int, int, float]]:
        """Every suspected pair of published entries, (low id, high id, score), best
        first: each entry searched against the others, as a new submission is
        (:func:`suspected_pairs` keeps the result until an entry changes)."""
        best: dict[tuple[int, int], float] = {}
        for entry in self.entries.values():
            for other, score in self.search(entry, exclude=entry.id, limit=per_entry):
                key = (min(entry.id, other), max(entry.id, other))
                best[key] = max(score, best.get(key, 0.0))
        return sorted(((a, b, sc) for (a, b), sc in best.items()),
                      key=lambda p: (-p[2], p[0], p[1]))


_COLUMNS = (Initiative.id, Initiative.title, Initiative.organisation, Initiative.regions,
            Contact.email, Contact.name)
_ROW_QUERY = (select(*_COLUMNS).outerjoin(Contact, Contact.id == Initiative.contact_id)
              .where(Initiative.merged_into_id.is_(None)))
_CHANGED_QUERY = (select(*_COLUMNS, Initiative.merged_into_id)
                  .outerjoin(Contact, Contact.id == Initiative.contact_id))

# One index per database: per engine (dropped with it), except that SQLite's read and
# write engines of one file share theirs (keyed by the file's URL).
_INDEXES: weakref.WeakKeyDictionary[Any, DuplicateIndex] = weakref.WeakKeyDictionary()
_SQLITE_INDEXES: dict[str, DuplicateIndex] = {}


def _sqlite_key(session: AsyncSession) -> str | None:
    bind = session.get_bind()
    return str(bind.engine.url) if bind.dialect.name == "sqlite" else None


def _lookup(session: AsyncSession) -> DuplicateIndex | None:
    key = _sqlite_key(session)
    return _SQLITE_INDEXES.get(key) if key else _INDEXES.get(session.get_bind())


def _store(session: AsyncSession, index: DuplicateIndex | None) -> None:
    bind = session.get_bind()
    key = _sqlite_key(session)
    if key:
        if index is None:
            _SQLITE_INDEXES.pop(key, None)
        else:
            _SQLITE_INDEXES[key] = index
    elif index is None:
        _INDEXES.pop(bind, None)
    else:
        _INDEXES[bind] = index


async def load_index(session: AsyncSession) -> DuplicateIndex:
    """Build the index from every published entry (yielding to the event loop between
    chunks, so a first build does not stall other requests)."""
    index = DuplicateIndex(db_mark=dbnow() - REFRESH_MARGIN)
    rows = (await session.execute(_ROW_QUERY.order_by(Initiative.id))).all()
    for n, row in enumerate(rows, start=1):
        index.add(IndexedEntry.of(*row))
        if n % 2000 == 0:
            await asyncio.sleep(0)
    index.finish()
    index.built_at = index.refreshed_at = time.monotonic()
    return index


async def refresh_index(session: AsyncSession, index: DuplicateIndex) -> None:
    """Re-read entries created or changed since the last refresh (merged ones leave)."""
    mark = dbnow() - REFRESH_MARGIN
    query = _CHANGED_QUERY.where(Initiative.updated_at >= index.db_mark) \
        if index.db_mark is not None else _CHANGED_QUERY
    for row in await session.execute(query):
        values: tuple[Any, ...] = tuple(row)
        if values[-1] is None:
            index.add(IndexedEntry.of(*values[:-1]))
        else:
            index.remove(int(values[0]))
    index.db_mark = mark
    index.refreshed_at = time.monotonic()
    index.finish()


_NEWEST_ID = select(func.max(Initiative.id))  # built once: asked on every lookup


async def get_index(session: AsyncSession) -> DuplicateIndex:
    """The cached index for this session's database, kept fresh: new ids are picked up
    on every call, changed entries every REFRESH_SECONDS, a full rebuild every
    REBUILD_SECONDS."""
    index = _lookup(session)
    if index is None or time.monotonic() - index.built_at > REBUILD_SECONDS:
        index = await load_index(session)
        _store(session, index)
        return index
    if time.monotonic() - index.refreshed_at > REFRESH_SECONDS:
        await refresh_index(session, index)
        return index
    unchanged = session.info.get(REGISTRY_UNCHANGED)
    if unchanged is not None:
        if unchanged.get("duplicates") is index:
            return index  # new entries were looked for once in this transaction
        unchanged["duplicates"] = index
    newest = await session.scalar(_NEWEST_ID)
    if newest is not None and newest > index.max_id:
        for row in await session.execute(_ROW_QUERY.where(Initiative.id > index.max_id)):
            index.add(IndexedEntry.of(*row))
        index.finish()
    return index


def invalidate(session: AsyncSession) -> None:
    """Forget the cached index (tests; after bulk imports)."""
    _store(session, None)


@dataclass(frozen=True)
class SuspectedPair:
    """Two published entries that look like the same initiative."""

    low_id: int
    high_id: int
    low_title: str
    high_title: str
    score: float


async def suspected_pairs(session: AsyncSession, *,
                          dismissed: Iterable[tuple[int, int]] = (),
                          limit: int = 100) -> list[SuspectedPair]:
    """The duplicates work list: pairs of published entries scoring at least
    :data:`MIN_SCORE`, best first, without the pairs in ``dismissed`` (lower id first:
    the ones a moderator said are different). Titles are re-read, so a stale index can
    only cost a pair, never show a wrong title."""
    skip = set(dismissed)
    index = await get_index(session)
    if index.pairs_cache is None or index.pairs_cache[0] != index.version:
        # Every entry against the others: 0.1 s at 300 entries, 1.5 s at 3,000 — in a
        # thread, on a copy, so the event loop keeps serving meanwhile.
        copy = index.copy()
        index.pairs_cache = (copy.version, await asyncio.to_thread(copy.pairs))
    assert index.pairs_cache is not None
    found = [p for p in index.pairs_cache[1] if (p[0], p[1]) not in skip][:limit]
    ids = {i for a, b, _ in found for i in (a, b)}
    titles: dict[int, str] = {}
    if ids:
        titles = dict((await session.execute(
            select(Initiative.id, Initiative.title).where(
                Initiative.id.in_(ids), Initiative.merged_into_id.is_(None)))).all())
    return [SuspectedPair(a, b, titles[a], titles[b], score) for a, b, score in found
            if a in titles and b in titles]


async def find_duplicates(session: AsyncSession, record: Mapping[str, Any], *,
                          exclude_initiative_id: int | None = None,
                          limit: int = 5) -> list[dict[str, Any]]:
    """Published entries that look like ``record`` (canonical keys), best first:
    ``[{"initiative_id": int, "title": str, "score": float (0–100)}]``."""
    probe = record_entry(record)
    if not probe.title_f:
        return []
    index = await get_index(session)
    found = index.search(probe, exclude=exclude_initiative_id, limit=limit * 2)
    if not found:
        return []
    # Re-read and re-score the winners: the index may be minutes old.
    rows = await session.execute(_ROW_QUERY.where(Initiative.id.in_([i for i, _ in found])))
    fresh = {row[0]: IndexedEntry.of(*row) for row in rows}
    results: list[dict[str, Any]] = []
    for initiative_id, _ in found:
        entry = fresh.get(initiative_id)
        if entry is None:
            continue
        score = score_pair(probe, entry)
        if score >= MIN_SCORE:
            results.append({"initiative_id": initiative_id, "title": entry.title,
                            "score": score})
    results.sort(key=lambda r: (-float(r["score"]), int(r["initiative_id"])))
    return results[:limit]
