"""The catalogue's search index (bot.registry.search_index) stays in step with the
registry — after creation, edits, approvals, merges and a rebuild — on SQLite and
PostgreSQL, and nothing a searcher types reaches the database as query syntax."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.core.db import Database
from bot.public import catalogue
from bot.public.catalogue import Filters
from bot.registry import search_index
from bot.registry.models import Initiative, SearchEntry, SearchFacet
from bot.registry.repository import apply_changes
from moderation.decisions import approve, merge_initiatives
from tests.clihelp import isolate_env, run_cli
from tests.conftest import MakeInitiative, MakeSubmission


async def _snapshot(db: Database) -> tuple[list[Any], list[Any], list[Any]]:
    async with db.read() as session:
        entries = (await session.execute(select(
            SearchEntry.initiative_id, SearchEntry.sort_title, SearchEntry.title_words,
            SearchEntry.organisation_words, SearchEntry.other_words)
            .order_by(SearchEntry.initiative_id))).all()
        facets = (await session.execute(select(
            SearchFacet.initiative_id, SearchFacet.facet, SearchFacet.value, SearchFacet.label)
            .order_by(SearchFacet.initiative_id, SearchFacet.facet, SearchFacet.value))).all()
        fts: list[Any] = []
        if session.get_bind().dialect.name == "sqlite":
            fts = (await session.execute(text(
                "SELECT rowid, title_words, organisation_words, other_words FROM search_fts "
                "ORDER BY rowid"))).all()
        return [tuple(r) for r in entries], [tuple(r) for r in facets], [tuple(r) for r in fts]


async def _expected(db: Database) -> tuple[list[Any], list[Any]]:
    """What the index should hold, computed from the registry independently."""
    async with db.read() as session:
        items = (await session.scalars(select(Initiative)
                                       .where(Initiative.merged_into_id.is_(None))
                                       .order_by(Initiative.id))).all()
    entries, facets = [], []
    for item in items:
        row, item_facets = search_index.document({
            "id": item.id, "title": item.title, "description": item.description,
            "organisation": item.organisation,
            **{a: getattr(item, a) for a in set(search_index.FACETS.values())}})
        entries.append(tuple(row.values()))
        facets += [tuple(f.values()) for f in item_facets]
    return entries, sorted(facets)


async def _assert_in_step(db: Database) -> None:
    entries, facets, fts = await _snapshot(db)
    want_entries, want_facets = await _expected(db)
    assert entries == want_entries
    assert facets == want_facets
    if fts:  # SQLite's FTS5 copy holds the same words under the entry's id
        assert fts == [(e[0], e[2], e[3], e[4]) for e in entries]
    async with db.read() as session:
        assert await search_index.in_step(session)


async def _titles(db: Database, **filters: Any) -> list[str]:
    async with db.read() as session:
        result = await catalogue.search(session, Filters(**filters), limit=100)
    return [r.title for r in result.rows]


@pytest.mark.asyncio
async def test_the_index_follows_every_change(db: Database, make_initiative: MakeInitiative,
                                              make_submission: MakeSubmission) -> None:
    plain = {"description": "", "organisation": "Et sted", "patient_groups": [],
             "technology": [], "municipalities": [], "regions": [], "status": "i_drift"}
    a = await make_initiative(**{**plain, "title": "Hjemmemonitorering af KOL",
                                 "municipalities": ["Aalborg"], "patient_groups": ["KOL"]})
    b = await make_initiative(**{**plain, "title": "KOL-rehabilitering",
                                 "technology": ["Video"]})
    c = await make_initiative(**{**plain, "title": "Sår i hjemmeplejen"})
    await _assert_in_step(db)
    assert sorted(await _titles(db, q="kol")) == ["Hjemmemonitorering af KOL",
                                                  "KOL-rehabilitering"]

    # An edit through the repository.
    async with db.write() as session:
        entry = await session.get(Initiative, c.id)
        assert entry is not None
        await apply_changes(session, entry, {"title": "Telemedicinsk sårvurdering",
                                             "status": "projekt"}, actor="t", channel="web")
    await _assert_in_step(db)
    assert await _titles(db, q="sårvurdering") == ["Telemedicinsk sårvurdering"]
    assert await _titles(db, q="sår", status=("projekt",)) == ["Telemedicinsk sårvurdering"]

    # An approved update from a submission.
    sub = await make_submission(initiative=a, kind="update",
                                proposed={"municipalities": ["Aalborg", "Hjørring"]})
    await approve(db, sub.id, actor="anna", thank=False)
    await _assert_in_step(db)
    assert await _titles(db, municipality=("Hjørring",)) == ["Hjemmemonitorering af KOL"]

    # A merge takes the source out of the index.
    await merge_initiatives(db, b.id, a.id, actor="anna", take_fields=["technology"])
    await _assert_in_step(db)
    assert await _titles(db, q="kol") == ["Hjemmemonitorering af KOL"]
    # ("Video" is stored as the term it means, "Videokonsultation".)
    assert await _titles(db, technology=("videokonsultation",)) == \
        ["Hjemmemonitorering af KOL"]

    # A rebuild gives exactly what the write path kept.
    before = await _snapshot(db)
    async with db.write() as session:
        assert await search_index.rebuild(session) == 2
    assert await _snapshot(db) == before


@pytest.mark.asyncio
async def test_a_stale_index_is_found(db: Database, make_initiative: MakeInitiative) -> None:
    await make_initiative(title="Video til gravide")
    async with db.write() as session:  # as after restoring the entries alone
        await session.execute(SearchFacet.__table__.delete())
        await session.execute(SearchEntry.__table__.delete())
    async with db.read() as session:
        assert not await search_index.in_step(session)
    async with db.write() as session:
        assert await search_index.rebuild(session) == 1
    await _assert_in_step(db)


def test_the_reindex_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("Titel;Status;Regioner\nEt;I drift;Sjælland\nTo;Projekt;Sjælland\n",
                        encoding="utf-8")
    assert run_cli(capsys, "import", str(csv_file)).code == 0
    database = next((tmp_path / "var").glob("*.db"))
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM search_fts")
        conn.execute("DELETE FROM search_facets")
        conn.execute("DELETE FROM search_entries")
    result = run_cli(capsys, "reindex")
    assert result.code == 0 and "2 published entries" in result.out
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM search_fts WHERE search_fts MATCH "
                            "'\"sjælland\"*'").fetchone() == (2,)


HOSTILE = ['"', '*', 'kol"*', '") OR 1=1 --', "NEAR(a b)", "a:*", "a & b | !c", "<->",
           "kol^", "\\", "'", "(((", "AND", "OR NOT", "æøå*", "x" * 200, "\x00kol"]


@pytest.mark.asyncio
@pytest.mark.parametrize("q", HOSTILE)
async def test_what_a_searcher_types_is_never_query_syntax(
        db: Database, make_initiative: MakeInitiative, q: str) -> None:
    await make_initiative(title="Hjemmemonitorering af KOL")
    async with db.read() as session:
        result = await catalogue.search(session, Filters(q=q[:200]), facets=True)
    assert result.total >= 0


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_postgresql_searches_through_the_gin_index(
        db: Database, make_initiative: MakeInitiative) -> None:
    if not db.is_postgres:
        pytest.skip("PostgreSQL only")
    await make_initiative(title="Hjemmemonitorering af KOL")
    terms = search_index.query_terms("kol")
    query = search_index.text_matches("postgresql", terms)
    async with db.read() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in await session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_search_entries_document" in plan, plan
