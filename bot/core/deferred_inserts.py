"""Inserts a transaction collects and writes at its end, one ``executemany`` per table.

Intake writes the same five rows for most mails (queue item, audit event, reply token,
outbox row and its body). Executed one by one, each statement costs the ORM session's
execution machinery (about 0.3 ms) for a row SQLite stores in microseconds (#18). A
transaction that turns many mails into outcomes can instead put :data:`DEFERRED` in its
``session.info``; the hot writers then hand their rows to :func:`insert_later`, and
:func:`flush_deferred` writes them in table order (parents before children) before the
commit.

What keeps this invisible to the code that writes and reads:

* **Ids are known at once.** A row that others refer to gets its primary key from
  :func:`new_id` when it is collected: ``max(id) + 1`` under SQLite's write lock (what
  SQLite itself would pick; the tables have no ``AUTOINCREMENT``), ``nextval`` of the
  column's sequence on PostgreSQL, fetched sixteen at a time (gaps are harmless).
* **Read your writes.** Any other statement run through the session that touches a table
  with collected rows, or a table referring to one (a foreign key), first writes those
  rows — and every ORM flush first writes them all. Whatever reads or refers to them sees
  them, as if they had been executed at once.
* **No silent "done before".** Collected inserts are plain ``INSERT``: where the
  immediate path would say "this key exists" (``ON CONFLICT DO NOTHING``), the deferred
  write raises at the flush and the whole transaction rolls back. The caller then does
  the work again the careful way (:class:`intake.mail.processor.Processor` does it a
  savepoint per message).

Statements run on ``session.connection()`` directly are not seen; nothing that runs with
rows deferred does that. A savepoint cannot be opened while inserts are deferred (rows
collected inside it would outlive its rollback): :func:`Session.begin_nested` raises, and
the caller falls back to its careful path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.util import find_tables

from bot.core.db import Base, execute_prebuilt

DEFERRED = "landkort.deferred_inserts"

# PostgreSQL ids fetched per round trip.
_ID_BLOCK = 16
# Marks the statements this module runs for itself (no flush before them).
_OWN = {"landkort_deferred_own": True}


@dataclass
class DeferredInserts:
    """The rows one transaction has collected, by table, in the order they came."""

    # table name → [(statement, rows)], one entry per statement and set of keys (an
    # executemany needs the same keys in every row)
    rows: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    # table name → ids handed out next (SQLite: one counter; PostgreSQL: a block)
    ids: dict[str, list[int]] = field(default_factory=dict)
    flushing: bool = False

    def add(self, table: Table, stmt: Any, params: dict[str, Any]) -> None:
        self.tables[table.name] = table
        groups = self.rows.setdefault(table.name, [])
        for known, rows in groups:
            if known is stmt and rows[0].keys() == params.keys():
                rows.append(params)
                return
        groups.append((stmt, [params]))


def deferring(session: AsyncSession | Session) -> DeferredInserts | None:
    """The collected rows of the session's transaction, if it defers inserts."""
    return session.info.get(DEFERRED)


async def insert_later(session: AsyncSession, table: Table, stmt: Any,
                       params: dict[str, Any]) -> None:
    """Insert one row into ``table`` with the prebuilt ``stmt``: now, or at the
    transaction's :func:`flush_deferred` when it defers inserts."""
    pending = deferring(session)
    if pending is None:
        await execute_prebuilt(session, stmt, params)
        return
    if session.new or session.dirty or session.deleted:
        await session.flush()  # ORM changes made before come first (before_flush below)
    pending.add(table, stmt, params)


async def new_id(session: AsyncSession, table: Table) -> int:
    """A primary key for a row of ``table`` collected in this transaction."""
    pending = deferring(session)
    assert pending is not None, "new_id is for transactions that defer inserts"
    block = pending.ids.get(table.name)
    if not block:
        if session.get_bind().dialect.name == "postgresql":
            block = list((await session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                     "FROM generate_series(1, :n)").execution_options(**_OWN),
                {"t": table.name, "n": _ID_BLOCK})).all())
        else:  # under BEGIN IMMEDIATE nobody else inserts until we commit
            top = await session.scalar(text(
                f'SELECT max(id) FROM "{table.name}"').execution_options(**_OWN))
            block = [int(top or 0) + 1]
        pending.ids[table.name] = block
    value = block.pop(0)
    if not block and session.get_bind().dialect.name != "postgresql":
        block.append(value + 1)
    return int(value)


async def flush_deferred(session: AsyncSession) -> None:
    """Write every collected row now (the caller's transaction, before its commit)."""
    await session.run_sync(_flush_sync)


@cache
def _needs(table: Table) -> frozenset[str]:
    """The tables whose rows must exist before a statement on ``table``: itself, every
    table it refers to, directly or not, and the tables an ORM select of its class loads
    in the same statement (``lazy="joined"`` relationships)."""
    out: set[str] = set()
    todo = [table]
    while todo:
        t = todo.pop()
        if t.name in out:
            continue
        out.add(t.name)
        todo += [fk.column.table for fk in t.foreign_keys]
        todo += _joined_tables(t)
    return frozenset(out)


def _joined_tables(table: Table) -> list[Table]:
    return [cast(Table, rel.mapper.local_table)
            for mapper in Base.registry.mappers if mapper.local_table is table
            for rel in mapper.relationships if rel.lazy == "joined"]


@cache
def _order(table: Table) -> int:
    return [t.name for t in table.metadata.sorted_tables].index(table.name)


def _flush_sync(session: Session, only: frozenset[str] | None = None) -> None:
    pending = deferring(session)
    if pending is None or pending.flushing:
        return
    names = [n for n in pending.rows if only is None or n in only]
    if not names:
        return
    pending.flushing = True
    try:
        connection = session.connection()
        for name in sorted(names, key=lambda n: _order(pending.tables[n])):
            groups = pending.rows[name]
            while groups:
                stmt, rows = groups[0]
                connection.execute(stmt, rows)
                groups.pop(0)  # (only once written: a failed write keeps its rows)
            del pending.rows[name]
    finally:
        pending.flushing = False


def _touched(statement: Any) -> frozenset[str] | None:
    """The tables a statement needs written first; None when it cannot be told."""
    out: set[str] = set()
    if isinstance(statement, UpdateBase) and isinstance(statement.table, Table):
        out |= _needs(Base.metadata.tables.get(statement.table.name, statement.table))
    try:
        # (Tables inside aliases, joins and subqueries are found as well.)
        tables = [t for t in find_tables(statement, check_columns=True, include_crud=True)
                  if isinstance(t, Table)]
    except Exception:  # an unusual construct: write everything first
        return None
    if not tables and not out:
        return None
    for t in tables:
        # An ORM statement names its tables annotated: the metadata's own object is the
        # one _needs knows the relationships of.
        out |= _needs(Base.metadata.tables.get(t.name, t))
    return frozenset(out)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    pending = deferring(state.session)
    if pending is None or pending.flushing or state.execution_options.get(
            "landkort_deferred_own"):
        return
    needs = _touched(state.statement)
    if pending.rows:
        _flush_sync(state.session, needs)
    # SQLite ids are max(id) + 1: a statement that may insert into a table makes its
    # counter stale (PostgreSQL's sequence values stay unique whoever takes them).
    if (pending.ids and not state.is_select
            and state.session.get_bind().dialect.name != "postgresql"):
        for name in (needs if needs is not None else list(pending.ids)):
            pending.ids.pop(name, None)


@event.listens_for(Session, "after_transaction_create")
def _no_savepoints(session: Session, transaction: Any) -> None:
    # Rows collected inside a savepoint would outlive its rollback: the two do not mix.
    # Failing here makes a deferring caller fall back to its careful path.
    if transaction.nested and deferring(session) is not None:
        raise RuntimeError("a savepoint in a transaction that defers its inserts")


@event.listens_for(Session, "before_flush")
def _before_orm_flush(session: Session, _context: Any, _instances: Any) -> None:
    pending = deferring(session)
    if pending is None or pending.flushing:
        return
    _flush_sync(session)
    if session.get_bind().dialect.name != "postgresql":
        pending.ids.clear()


__all__ = ["DEFERRED", "DeferredInserts", "deferring", "flush_deferred", "insert_later",
           "new_id"]
