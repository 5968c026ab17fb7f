"""Controlled vocabularies for technology and patient groups: words become terms on every
way into the registry, administrators rename and merge terms (entries rewritten as new
versions, audited), moderators map proposed words, and migration 0013 turns the free
text already stored into terms."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.registry.models import Initiative, InitiativeVersion, VocabularyTerm
from bot.registry.terms import fold_term, term_index
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from moderation import vocabularies
from moderation.models import AuditEvent, Submission
from tests.conftest import MakeInitiative, MakeSubmission, PgSchema, pg_url, skip_or_fail
from tests.moderation_support import csrf_of, login, moderation_client, use_fast_hashes

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    async with moderation_client(db, settings, ("ada", "admin"), ("anna", "moderator")) as c:
        yield c


async def term_id(db: Database, vocabulary: str, label: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(VocabularyTerm.id).where(
            VocabularyTerm.vocabulary == vocabulary, VocabularyTerm.label_da == label))
    assert found is not None, label
    return found


async def versions(db: Database, entry_id: int) -> list[InitiativeVersion]:
    async with db.read() as session:
        return list(await session.scalars(select(InitiativeVersion).where(
            InitiativeVersion.initiative_id == entry_id).order_by(InitiativeVersion.version)))


def test_words_are_folded_for_comparison() -> None:
    assert fold_term("  Peak   flow-måler ") == fold_term("peak flow måler") == "peak flow måler"
    assert fold_term("VIDEO.") == "video"
    assert fold_term("Ældre") == "ældre"


@pytest.mark.asyncio
async def test_a_mail_maps_synonyms_to_terms_and_keeps_unknown_words_as_proposals(
        db: Database, settings: Settings) -> None:
    raw = ("From: Hanne <hanne@odense.dk>\r\nTo: landkort@example.org\r\n"
           "Subject: Nyt initiativ\r\nMessage-ID: <v1@odense.dk>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Titel: Video til hjemmeboende\r\nTeknologi: video, iPad og robotstøvsuger\r\n"
           "Patientgrupper: COPD, hjerteinsufficiens\r\n").encode()
    await store_message(db, raw, source="cli")
    await process_pending(db, settings)
    async with db.read() as session:
        sub = (await session.scalars(select(Submission))).one()
    assert sub.proposed["technology"] == ["Tablet", "Videokonsultation", "robotstøvsuger"]
    assert sub.proposed["patient_groups"] == ["Hjertesvigt", "KOL"]
    assert "new_terms" in sub.flags  # the unknown word waits for a moderator


@pytest.mark.asyncio
async def test_an_english_page_shows_the_english_name(db: Database) -> None:
    async with db.read() as session:
        index = await term_index(session)
    assert index.label("technology", "Videokonsultation", "en") == "Video consultation"
    assert index.label("patient_groups", "KOL", "en") == "COPD"
    assert index.label("technology", "robotstøvsuger", "en") == "robotstøvsuger"


@pytest.mark.asyncio
async def test_merging_terms_rewrites_entries_as_new_versions_and_is_audited(
        db: Database, make_initiative: MakeInitiative) -> None:
    # Two terms that mean the same: an administrator made "Telekonsultation" a term once.
    added = await vocabularies.add_term(db, "technology", "Telekonsultation", "Teleconsultation",
                                        actor="ada")
    a = await make_initiative(title="A", technology=["Telekonsultation", "Tablet"])
    b = await make_initiative(title="B", technology=["Videokonsultation"])
    c = await make_initiative(title="C", technology=["App"])
    assert (await versions(db, a.id))[-1].data["technology"] == ["Tablet", "Telekonsultation"]
    done = await vocabularies.merge_terms(
        db, added.term_id, await term_id(db, "technology", "Videokonsultation"), actor="ada")
    assert done.entries_rewritten == 1
    async with db.read() as session:
        fresh = {e.title: e for e in await session.scalars(select(Initiative))}
        gone = await session.get(VocabularyTerm, added.term_id)
        events = [(e.actor, e.action, e.detail) for e in await session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("vocabulary.%"))
            .order_by(AuditEvent.id))]
    assert gone is None
    assert fresh["A"].technology == ["Tablet", "Videokonsultation"]
    assert fresh["B"].technology == ["Videokonsultation"]  # untouched: no new version
    assert len(await versions(db, b.id)) == 1 and len(await versions(db, c.id)) == 1
    history = await versions(db, a.id)
    assert len(history) == 2
    assert history[-1].actor == "ada" and history[-1].changed == ["technology"]
    assert history[-1].data["technology"] == ["Tablet", "Videokonsultation"]
    assert "Telekonsultation → Videokonsultation" in (history[-1].note or "")
    assert events[-1] == ("ada", "vocabulary.terms_merged", {
        "vocabulary": "technology", "term": "Videokonsultation", "merged": "Telekonsultation",
        "entries_rewritten": 1})
    # The merged term's words keep working: new mail saying "telekonsultation" maps.
    async with db.read() as session:
        index = await term_index(session)
    assert index.canonical("technology", ["telekonsultation"]) == ["Videokonsultation"]


@pytest.mark.asyncio
async def test_renaming_a_term_rewrites_entries_and_keeps_the_old_name_as_a_word(
        db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(patient_groups=["Kroniske sår"])
    done = await vocabularies.rename_term(
        db, await term_id(db, "patient_groups", "Kroniske sår"), "Kroniske og svære sår",
        "Chronic and hard-to-heal wounds", actor="ada")
    assert done.entries_rewritten == 1
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
        index = await term_index(session)
    assert fresh is not None and fresh.patient_groups == ["Kroniske og svære sår"]
    assert index.canonical("patient_groups", ["kroniske sår"]) == ["Kroniske og svære sår"]
    with pytest.raises(vocabularies.VocabularyError):  # a word means one term only
        await vocabularies.add_word(db, await term_id(db, "patient_groups", "KOL"),
                                    "Kroniske sår", actor="ada")


@pytest.mark.asyncio
async def test_a_moderator_maps_a_proposed_word_from_the_case_page(
        client: Client, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    stored = await make_initiative(title="Gammelt opslag", technology=["Robotarm"])
    sub = await make_submission(kind="new", proposed={
        "title": "Nyt", "technology": ["robotarm", "Tablet"]})
    assert "new_terms" in sub.flags
    await login(client, "anna")
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    assert "Nye ord, der venter" in html and "<strong>robotarm</strong>" in html
    resp = await client.post("/moderation/vocabularies/map", data={
        "csrf_token": csrf_of(html), "vocabulary": "technology", "word": "robotarm",
        "term": str(await term_id(db, "technology", "Tablet")),
        "back": f"/moderation/item/{sub.id}"})
    assert resp.status == 200
    assert str(resp.url).endswith(f"/moderation/item/{sub.id}?done=word_mapped")
    async with db.read() as session:
        case = await session.get(Submission, sub.id)
        entry = await session.get(Initiative, stored.id)
    assert case is not None and case.proposed["technology"] == ["Tablet"]
    assert "new_terms" not in case.flags
    assert entry is not None and entry.technology == ["Tablet"]  # a new version
    assert len(await versions(db, stored.id)) == 2
    # The vocabulary page itself is the administrators'.
    assert (await client.get("/moderation/vocabularies")).status == 403


@pytest.mark.asyncio
async def test_the_vocabulary_page_adds_renames_and_lists_proposals(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    await make_initiative(technology=["Hjemmerobot"])
    await login(client, "ada")
    html = await (await client.get("/moderation/vocabularies")).text()
    assert "Videokonsultation</strong> / Video consultation" in html
    assert "<strong>Hjemmerobot</strong>" in html  # a proposal: no term covers it
    resp = await client.post("/moderation/vocabularies/add", data={
        "csrf_token": csrf_of(html), "vocabulary": "technology", "label_da": "Hjemmerobot",
        "label_en": "Home robot", "words": "robot i hjemmet, plejerobot"})
    html = await resp.text()
    assert resp.status == 200 and "Termen er tilføjet." in html
    assert "<strong>Hjemmerobot</strong> / Home robot" in html
    resp = await client.post("/moderation/vocabularies/add", data={
        "csrf_token": csrf_of(html), "vocabulary": "technology", "label_da": "Plejerobot"})
    assert resp.status == 400 and "betyder allerede en anden term" in await resp.text()
    audit = await (await client.get("/moderation/audit")).text()
    assert "ada tilføjede termen Hjemmerobot" in audit


@asynccontextmanager
async def database_at(kind: str, tmp_path: Path, revision: str) -> AsyncIterator[Database]:
    """A database of ``kind`` migrated only up to ``revision``."""
    from bot.core.migrate import upgrade

    if kind == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        await upgrade(db, revision)
        try:
            yield db
        finally:
            await db.dispose()
        return
    url = pg_url()
    if url is None:
        skip_or_fail("LANDKORT_TEST_DATABASE_URL is not set")
    async with PgSchema(url, revision) as db:
        yield db


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres",
                                                         marks=pytest.mark.postgres)])
async def test_migration_turns_stored_free_text_into_terms(kind: str, tmp_path: Path) -> None:
    """Migration 0013 on a registry with free text: known words become their terms (a new
    version by "system", filter values re-indexed), other values become terms of their
    own (their most common spelling), and it is logged."""
    async with database_at(kind, tmp_path, "0012") as db:
        await _migrate_free_text_on(db)


async def _migrate_free_text_on(db: Database) -> None:
    from bot.core.migrate import upgrade
    from bot.public.catalogue import Filters, search

    values = {1: (["video", "Tablet", "Robotstøvsuger"], ["COPD"]),
              2: (["robotstøvsuger"], ["Hjemmeboende ældre"]),
              3: (["Robotstøvsuger"], [])}
    async with db.write() as s:
        for i, (tech, groups) in values.items():
            await s.execute(text(
                "INSERT INTO initiatives (id, slug, version, title, status, participants, "
                "regions, municipalities, patient_groups, technology, unconfirmed, "
                "needs_new_contact, created_at, updated_at) VALUES (:i, :slug, 1, :t, "
                "'i_drift', '[]', '[]', '[]', :g, :tech, false, false, '2025-01-01', "
                "'2025-01-01')"),
                {"i": i, "slug": f"e{i}", "t": f"Opslag {i}", "g": json.dumps(groups),
                 "tech": json.dumps(tech)})
            await s.execute(text(
                "INSERT INTO initiative_versions (initiative_id, version, data, changed, "
                "actor, channel, created_at) VALUES (:i, 1, :d, '[]', 'import', 'import', "
                "'2025-01-01')"), {"i": i, "d": json.dumps({
                    "title": f"Opslag {i}", "technology": tech, "patient_groups": groups})})
        await s.execute(text(
            "INSERT INTO search_entries (initiative_id, sort_title, title_words, "
            "organisation_words, other_words) SELECT id, title, title, '', '' "
            "FROM initiatives"))
    await upgrade(db)
    async with db.read() as s:
        entries = {e.id: e for e in await s.scalars(select(Initiative))}
        robot = await s.scalar(select(VocabularyTerm).where(
            VocabularyTerm.label_da == "Robotstøvsuger"))
        event = await s.scalar(select(AuditEvent).where(
            AuditEvent.action == "vocabulary.migrated"))
        found = await search(s, Filters(technology=("videokonsultation",)))
    assert entries[1].technology == ["Robotstøvsuger", "Tablet", "Videokonsultation"]
    assert entries[1].patient_groups == ["KOL"] and entries[1].version == 2
    assert entries[2].technology == ["Robotstøvsuger"] and entries[2].version == 2
    assert entries[3].version == 1  # already the term's spelling: untouched
    assert robot is not None  # "Robotstøvsuger" (2 of 3 spellings) is now a term
    history = await versions(db, 1)
    assert [v.actor for v in history] == ["import", "system"]
    assert history[-1].data["technology"] == ["Robotstøvsuger", "Tablet",
                                              "Videokonsultation"]
    assert history[-1].data["title"] == "Opslag 1"
    assert event is not None and event.detail == {"terms_created": 1,
                                                   "entries_rewritten": 2}
    assert [r.title for r in found.rows] == ["Opslag 1"]


@pytest.mark.asyncio
async def test_public_pages_name_terms_in_the_readers_language(
        db: Database, settings: Settings, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(title="Video til KOL", technology=["video"],
                                  patient_groups=["COPD"])
    assert entry.technology == ["Videokonsultation"] and entry.patient_groups == ["KOL"]
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        en = await (await c.get(f"/initiativ/{entry.slug}?lang=en")).text()
        da = await (await c.get(f"/initiativ/{entry.slug}?lang=da")).text()
        menu = await (await c.get("/?lang=en")).text()
    assert ">Video consultation</a>" in en and ">COPD</a>" in en
    assert ">Videokonsultation</a>" in da and ">KOL</a>" in da
    assert "Video consultation" in menu


@pytest.mark.asyncio
async def test_an_open_case_stays_approvable_after_a_term_rewrote_its_entry(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    from moderation.decisions import approve

    entry = await make_initiative(technology=["Hjemmerobot"])
    case = await make_submission(initiative=entry, kind="update",
                                 proposed={"status": "afsluttet"})
    assert case.base_version == 1
    done = await vocabularies.add_term(db, "technology", "Hjemmerobot", "Home robot",
                                       actor="ada", words=["plejerobot"])
    assert done.entries_rewritten == 0  # the value already was the new term's name
    await vocabularies.rename_term(db, done.term_id, "Plejerobot", "Care robot",
                                   actor="ada")
    async with db.read() as session:
        moved = await session.get(Submission, case.id)
    assert moved is not None and moved.base_version == 2
    decision = await approve(db, case.id, actor="anna", thank=False)
    assert decision.state == "approved"
    async with db.read() as session:
        fresh = await session.get(Initiative, entry.id)
    assert fresh is not None and fresh.status == "afsluttet"
    assert fresh.technology == ["Plejerobot"]
    # A word of one list never becomes a term of the other.
    with pytest.raises(vocabularies.VocabularyError):
        await vocabularies.add_word(db, await term_id(db, "patient_groups", "KOL"),
                                    "lungerobot", actor="anna", vocabulary="technology")
