"""Queries behind the queue page: filtered, keyset-paginated open items and counts.

The queue is read oldest first on ``(created_at, id)``. Each open state is read on its
own through ``ix_submissions_queue (state, created_at, id)`` and the two short lists are
merged, so a page costs the same with 1,000 or 100,000 open items (no sort of the whole
queue). Counts per filter come from one aggregate pass; for queues above
:data:`EXACT_COUNT_LIMIT` items the result is cached for :data:`COUNT_CACHE_SECONDS`
and shown as approximate (recounted in the background).
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, case, cast, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.core.db import Database
from bot.registry.models import Initiative
from bot.registry.vocabulary import REGION_KEYS
from moderation.models import Submission
from moderation.states import OPEN_STATES, SUBMISSION_CHANNELS, SUBMISSION_KINDS

log = logging.getLogger(__name__)
FLAGS = ("sender_differs", "likely_duplicate", "problems", "missing_fields", "nothing_read",
         "new_terms")
PAGE_SIZE = 50
EXACT_COUNT_LIMIT = 5_000
COUNT_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class QueueFilters:
    """What the moderator asked to see. Unknown values are dropped, never trusted."""

    state: str = ""
    kind: str = ""
    channel: str = ""
    region: str = ""
    flag: str = ""
    mine: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> QueueFilters:
        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = query.get(name, "")
            return value if value in allowed else ""
        return cls(state=pick("state", OPEN_STATES), kind=pick("kind", SUBMISSION_KINDS),
                   channel=pick("channel", SUBMISSION_CHANNELS),
                   region=pick("region", REGION_KEYS), flag=pick("flag", FLAGS),
                   mine=query.get("mine") == "1")

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (with some changed), empty ones left out."""
        f = replace(self, **changes)
        out = {k: v for k, v in (("state", f.state), ("kind", f.kind),
                                 ("channel", f.channel), ("region", f.region),
                                 ("flag", f.flag)) if v}
        if f.mine:
            out["mine"] = "1"
        return out

    @property
    def active(self) -> bool:
        return bool(self.query())


@dataclass(frozen=True)
class QueueRow:
    id: int
    kind: str
    channel: str
    state: str
    title: str
    sender_email: str | None
    sender_name: str | None
    flags: list[str]
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    initiative_id: int | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


def encode_cursor(created_at: datetime, sid: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{sid}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        at, sid = text.split("|")
        return datetime.fromisoformat(at), int(sid)
    except (ValueError, UnicodeDecodeError):
        return None


def _conditions(filters: QueueFilters, actor: str | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.kind:
        conds.append(Submission.kind == filters.kind)
    if filters.channel:
        conds.append(Submission.channel == filters.channel)
    if filters.region:
        conds.append(Submission.filter_regions.like(f"%,{filters.region},%"))
    if filters.flag:
        conds.append(func.coalesce(_flags_text(), "").like(f'%"{filters.flag}"%'))
    if filters.mine and actor:
        conds.append(Submission.claimed_by == actor)
    return conds


def _flags_text() -> ColumnElement[str]:
    return cast(Submission.flags, String)


async def fetch_queue(session: AsyncSession, filters: QueueFilters, *,
                      actor: str | None = None, cursor: str | None = None,
                      limit: int = PAGE_SIZE) -> QueuePage:
    """One page of open items, oldest first, after ``cursor``."""
    after = decode_cursor(cursor)
    states = (filters.state,) if filters.state else OPEN_STATES
    conds = _conditions(filters, actor)
    found: list[Any] = []
    title = func.coalesce(Initiative.title, literal(None))
    for state in states:
        q = (select(Submission.id, Submission.kind, Submission.channel, Submission.state,
                    Submission.proposed, title, Submission.sender_email,
                    Submission.sender_name, Submission.flags, Submission.created_at,
                    Submission.claimed_by, Submission.claimed_at, Submission.initiative_id)
             .outerjoin(Initiative, Initiative.id == Submission.initiative_id)
             .where(Submission.state == state, *conds))
        if after is not None:
            q = q.where(tuple_(Submission.created_at, Submission.id) > tuple_(*after))
        q = q.order_by(Submission.state, Submission.created_at, Submission.id).limit(limit + 1)
        found.extend((await session.execute(q)).all())
    found.sort(key=lambda r: (r.created_at, r.id))
    page = found[:limit]
    rows = [QueueRow(id=r.id, kind=r.kind, channel=r.channel, state=r.state,
                     title=str((r.proposed or {}).get("title") or r[5] or ""),
                     sender_email=r.sender_email, sender_name=r.sender_name,
                     flags=list(r.flags or []), created_at=r.created_at,
                     claimed_by=r.claimed_by, claimed_at=r.claimed_at,
                     initiative_id=r.initiative_id) for r in page]
    next_cursor = (encode_cursor(page[-1].created_at, page[-1].id)
                   if len(found) > limit and page else None)
    return QueuePage(rows, next_cursor)


@dataclass(frozen=True)
class QueueCounts:
    total: int
    by: dict[str, int]
    approximate: bool

    def get(self, key: str) -> int:
        return self.by.get(key, 0)


_count_cache: dict[tuple[int, str], tuple[float, QueueCounts]] = {}


def forget_counts() -> None:
    """Drop cached counts (after a decision in this process)."""
    _count_cache.clear()


def _counts_statement() -> Any:
    """Open items grouped by everything the filters look at (a few hundred groups at
    most), so one indexed pass counts every filter; the totals are summed in Python."""
    mine = case((Submission.claimed_by == bindparam("actor"), 1), else_=0)
    flags = func.coalesce(_flags_text(), "")
    return (select(Submission.state, Submission.kind, Submission.channel,
                   Submission.filter_regions, flags, mine, func.count())
            .where(Submission.state.in_(OPEN_STATES))
            .group_by(Submission.state, Submission.kind, Submission.channel,
                      Submission.filter_regions, flags, mine))


_COUNTS: Any = None
_count_lock = asyncio.Lock()


def _tally(rows: Any) -> dict[str, int]:
    by: dict[str, int] = {"total": 0}

    def add(key: str, n: int) -> None:
        by[key] = by.get(key, 0) + n
    for state, kind, channel, regions, flags, mine, n in rows:
        n = int(n)
        add("total", n)
        add(f"state:{state}", n)
        add(f"kind:{kind}", n)
        add(f"channel:{channel}", n)
        for region in (regions or "").strip(",").split(","):
            if region:
                add(f"region:{region}", n)
        for flag in FLAGS:
            if f'"{flag}"' in (flags or ""):
                add(f"flag:{flag}", n)
        if mine:
            add("mine", n)
    return by


_refreshing: set[asyncio.Task[None]] = set()


async def _count(db: Database, actor: str) -> QueueCounts:
    global _COUNTS
    if _COUNTS is None:
        _COUNTS = _counts_statement()
    async with db.read() as session:
        rows = (await session.execute(_COUNTS, {"actor": actor})).all()
    values = _tally(rows)
    total = values.pop("total")
    return QueueCounts(total, values, total > EXACT_COUNT_LIMIT)


async def queue_counts(db: Database, *, actor: str | None = None) -> QueueCounts:
    """Open items per state, kind, channel, region and flag (and claimed by ``actor``).

    Small queues are counted on every call. Above EXACT_COUNT_LIMIT the counts are shown
    as approximate: a cached result is served and, once older than
    COUNT_CACHE_SECONDS, recounted in the background (one recount at a time), so no
    page waits for a full pass over a huge queue after the first.
    """
    key = (id(db), actor or "")
    hit = _count_cache.get(key)
    if hit is not None:
        age = time.monotonic() - hit[0]
        if age >= COUNT_CACHE_SECONDS and not _refreshing:
            task = asyncio.create_task(_recount(db, actor or "", key))
            _refreshing.add(task)
            task.add_done_callback(_refreshing.discard)
        return hit[1]
    async with _count_lock:
        hit = _count_cache.get(key)
        if hit is not None:
            return hit[1]
        counts = await _count(db, actor or "")
    if counts.approximate:
        _count_cache[key] = (time.monotonic(), counts)
    return counts


async def _recount(db: Database, actor: str, key: tuple[int, str]) -> None:
    try:
        counts = await _count(db, actor)
    except Exception:  # noqa: BLE001 - a failed recount keeps the old numbers
        log.exception("recounting the queue failed")
        return
    if counts.approximate:
        _count_cache[key] = (time.monotonic(), counts)
    else:
        _count_cache.pop(key, None)
