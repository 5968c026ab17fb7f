"""Named, expiring leases: "only one instance does this at a time".

Several ``landkort run`` processes may share one database. Work that must have a single
owner — fetching one IMAP mailbox, planning a campaign tick — takes a lease row first.
A lease is held for ``ttl`` and must be renewed well before it runs out; a process that
dies simply stops renewing, and another takes over when the lease has expired. Every
operation is one short write transaction (never held across network I/O), and the
conditional UPDATE/INSERT makes two concurrent acquirers agree on one owner on SQLite
(BEGIN IMMEDIATE serialises them) and PostgreSQL (the row lock and the unique key do).

Holders re-check (:meth:`LeaseKeeper.held`) before each unit of work, so a process that
was paused past its lease (a long GC, a stopped VM) notices it lost the lease instead of
working on as a second owner.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, Database, dbnow


class Lease(Base):
    """A named, expiring claim: one IMAP fetcher per mailbox, one digest per day…"""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


log = logging.getLogger(__name__)


async def try_acquire(db: Database, name: str, owner: str, ttl: timedelta) -> bool:
    """Take or renew lease ``name`` for ``owner``; True if ``owner`` holds it now."""
    now = dbnow()
    until = now + ttl
    async with db.write() as session:
        result = await session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.owner == owner) | (Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        exists = await session.scalar(select(Lease.name).where(Lease.name == name))
        if exists is not None:
            return False
        try:
            async with session.begin_nested():
                session.add(Lease(name=name, owner=owner, expires_at=until))
        except IntegrityError:
            return False  # another instance inserted it first
        return True


async def release(db: Database, name: str, owner: str) -> None:
    """Give the lease up (only if ``owner`` holds it)."""
    async with db.write() as session:
        await session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


async def holder(db: Database, name: str) -> str | None:
    """Who holds a live lease ``name`` now (None when free or expired)."""
    async with db.read() as session:
        row = await session.get(Lease, name)
        if row is None or row.expires_at < dbnow():
            return None
        return row.owner


class LeaseKeeper:
    """Holds a lease while work runs: acquire, renew every ttl/3, re-check, release.

    Use ``await keeper.wait_acquired()`` to block until this instance owns the lease,
    ``keeper.held`` before each unit of work, and ``await keeper.close()`` to give it up.
    """

    def __init__(self, db: Database, name: str, owner: str, *,
                 ttl: timedelta = timedelta(seconds=60)) -> None:
        self.db = db
        self.name = name
        self.owner = owner
        self.ttl = ttl
        self._held_until: float = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """True while the last successful renewal is still inside the lease time, with a
        margin (renewals happen every ttl/3, so this only turns False when renewing has
        failed for a while)."""
        return asyncio.get_running_loop().time() < self._held_until

    async def renew_once(self) -> bool:
        start = asyncio.get_running_loop().time()
        try:
            ok = await try_acquire(self.db, self.name, self.owner, self.ttl)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be away; we keep what we had until it lapses
            log.exception("lease %s: renewal failed", self.name)
            return self.held
        # Count from *before* the call: the row's expiry is at least this far away.
        self._held_until = start + self.ttl.total_seconds() * 0.8 if ok else 0.0
        return ok

    async def wait_acquired(self, poll: float | None = None) -> None:
        """Block until this instance holds the lease, then keep renewing it."""
        interval = poll if poll is not None else max(self.ttl.total_seconds() / 3, 0.05)
        while not await self.renew_once():
            await asyncio.sleep(interval)
        if self._task is None:
            self._task = asyncio.create_task(self._renew_loop(interval),
                                             name=f"lease:{self.name}")

    async def _renew_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not await self.renew_once():
                log.warning("lease %s: lost to another instance", self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._held_until = 0.0
        try:
            await release(self.db, self.name, self.owner)
        except Exception:  # noqa: BLE001 - it expires by itself anyway
            log.warning("lease %s: release failed; it will expire", self.name)
