"""Which links are due for a check, and what the checks found.

One read picks the due links, the network work happens outside any transaction
(:func:`bot.links.checker.check_links`), one write records the results. A link dead on
``failures_to_flag`` checks in a row is *dead*: moderators see it on the entry and the
completeness page, and the next reminder asks the contact for the new address.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.links.checker import LinkResult, LinkTarget
from bot.links.models import LinkCheck
from bot.registry.models import Initiative

CHECKED_FIELDS = ("website", "evaluation_url")


async def due_links(db: Database, *, every: timedelta, limit: int,
                    now: datetime | None = None) -> list[LinkTarget]:
    """Links of published entries never checked, changed since, or last checked before
    ``every`` ago; the oldest checks first, at most ``limit``."""
    now = now or dbnow()
    async with db.read() as session:
        entries = (await session.execute(
            select(Initiative.id, Initiative.website, Initiative.evaluation_url)
            .where(Initiative.merged_into_id.is_(None)))).all()
        checks = {(c.initiative_id, c.field): c for c in await session.scalars(
            select(LinkCheck))}
    due: list[tuple[datetime, LinkTarget]] = []
    for row in entries:
        for name in CHECKED_FIELDS:
            url = getattr(row, name)
            if not url:
                continue
            last = checks.get((row.id, name))
            if last is None or last.url != url:
                due.append((datetime.min, LinkTarget(row.id, name, url)))
            elif last.checked_at <= now - every:
                due.append((last.checked_at, LinkTarget(row.id, name, url)))
    due.sort(key=lambda pair: (pair[0], pair[1].initiative_id, pair[1].field))
    return [t for _, t in due[:limit]]


async def record_results(db: Database, results: Sequence[LinkResult], *,
                         now: datetime | None = None) -> None:
    """Keep each link's latest check; count failures in a row (a new URL starts at 0)."""
    now = now or dbnow()
    async with db.write() as session:
        for r in results:
            t = r.target
            row = await session.get(LinkCheck, (t.initiative_id, t.field))
            if row is None or row.url != t.url:
                if row is not None:
                    await session.delete(row)
                    await session.flush()
                row = LinkCheck(initiative_id=t.initiative_id, field=t.field, url=t.url,
                                failures=0)
                session.add(row)
            row.outcome, row.status, row.error = r.outcome, r.status, r.error
            row.final_url, row.redirects, row.checked_at = r.final_url, list(r.redirects), now
            if r.ok:
                row.failures, row.last_ok_at = 0, now
            else:
                row.failures = (row.failures or 0) + 1


async def dead_links_in(session: AsyncSession, initiative_ids: Sequence[int] | None, *,
                        failures_to_flag: int) -> dict[int, list[LinkCheck]]:
    """The dead links by entry (of ``initiative_ids``, or all) whose URL is still the
    entry's, in the caller's transaction."""
    query = select(LinkCheck).where(LinkCheck.failures >= failures_to_flag)
    if initiative_ids is not None:
        if not initiative_ids:
            return {}
        query = query.where(LinkCheck.initiative_id.in_(list(initiative_ids)))
    rows = list(await session.scalars(query.order_by(LinkCheck.initiative_id,
                                                     LinkCheck.field)))
    if not rows:
        return {}
    current: dict[tuple[int, str], str | None] = {}
    for entry in (await session.execute(
            select(Initiative.id, *(getattr(Initiative, f) for f in CHECKED_FIELDS))
            .where(Initiative.id.in_({row.initiative_id for row in rows})))).all():
        for f in CHECKED_FIELDS:
            current[(entry.id, f)] = getattr(entry, f)
    out: dict[int, list[LinkCheck]] = {}
    for row in rows:
        if current.get((row.initiative_id, row.field)) == row.url:
            out.setdefault(row.initiative_id, []).append(row)
    return out


async def dead_links(db: Database, initiative_ids: Sequence[int] | None = None, *,
                     failures_to_flag: int) -> dict[int, list[LinkCheck]]:
    """:func:`dead_links_in` in a read transaction of its own."""
    async with db.read() as session:
        return await dead_links_in(session, initiative_ids,
                                   failures_to_flag=failures_to_flag)


def link_for_mail(check: LinkCheck) -> dict[str, Any]:
    """What is said of a dead link: which field, the address, and what answered — the
    HTTP status for everyone; the checker's own error text only for moderators
    (``error``: it names internals no contact needs)."""
    return {"field": check.field, "url": check.url,
            "answer": str(check.status) if check.status else "",
            "error": (check.error or "")[:120]}


__all__ = ["CHECKED_FIELDS", "dead_links", "dead_links_in", "due_links", "link_for_mail",
           "record_results"]
