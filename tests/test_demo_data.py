"""The demo registry: coverage of the vocabulary, the awkward cases, validity, seeding."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.db import Database, dbnow
from bot.demo.data import CONTACTS, DEMO_INITIATIVES, NEAR_DUPLICATES, demo_records, seed_registry
from bot.registry.fields import FIELD_KEYS, LIST_FIELDS, form_lines, key_for_label, normalise
from bot.registry.models import Contact, Initiative, InitiativeVersion
from bot.registry.vocabulary import (
    MUNICIPALITY_REGION,
    REGION_KEYS,
    SECTOR_KEYS,
    STATUS_KEYS,
    sector_of,
)


def test_about_forty_entries_covering_regions_statuses_and_sectors() -> None:
    assert 38 <= len(DEMO_INITIATIVES) <= 45
    statuses = Counter(e["status"] for e in DEMO_INITIATIVES)
    assert set(STATUS_KEYS) <= set(statuses) and statuses[None] >= 1
    assert set(REGION_KEYS) == {r for e in DEMO_INITIATIVES for r in e["regions"]}
    for region in REGION_KEYS:  # every region has its own entries, not only national ones
        assert any(e["regions"] == [region] for e in DEMO_INITIATIVES), region
    sectors = Counter(sector_of(e["participants"]) for e in DEMO_INITIATIVES)
    assert set(SECTOR_KEYS) == set(sectors)
    assert {p for e in DEMO_INITIATIVES if len(e["participants"]) == 1
            for p in e["participants"]} == {"almen_praksis", "kommune", "sygehus"}
    assert len({e["title"] for e in DEMO_INITIATIVES}) == len(DEMO_INITIATIVES)


def test_awkward_cases_are_present() -> None:
    titles = {e["title"] for e in DEMO_INITIATIVES}
    assert len(NEAR_DUPLICATES) >= 3
    for copy, original in NEAR_DUPLICATES:
        assert copy in titles and original in titles
    stale = [e for e in DEMO_INITIATIVES
             if e["confirmed_days_ago"] is None or e["confirmed_days_ago"] > 365]
    assert 6 <= len(stale) <= 10
    assert any(e["confirmed_days_ago"] is None for e in stale)
    assert any(e["status"] is None for e in DEMO_INITIATIVES)
    assert any(not e["contact_email"] for e in DEMO_INITIATIVES)
    assert any(not e["municipalities"] for e in DEMO_INITIATIVES)
    per_contact = Counter(e["contact_email"] for e in DEMO_INITIATIVES if e["contact_email"])
    assert sum(1 for n in per_contact.values() if n > 1) >= 3
    assert any(e["language"] == "en" for e in DEMO_INITIATIVES)


def test_contacts_and_links_use_example_domains_only() -> None:
    for person in CONTACTS.values():
        if person.email:
            assert person.email.endswith(("@example.dk", "@example.org")), person.email
    for e in DEMO_INITIATIVES:
        for key in ("evaluation_url", "website"):
            if e[key]:
                assert e[key].startswith("https://example.dk/"), e[key]


def test_municipalities_lie_in_the_entry_regions() -> None:
    for e in DEMO_INITIATIVES:
        for name in e["municipalities"]:
            assert MUNICIPALITY_REGION[name] in e["regions"], (e["title"], name)


def _canonical(value: Any) -> Any:
    return None if value in ([], "") else value


@pytest.mark.parametrize("entry", DEMO_INITIATIVES, ids=lambda e: e["title"][:40])
def test_every_value_is_valid_and_round_trips_through_the_reminder_form(
        entry: dict[str, Any]) -> None:
    for key in FIELD_KEYS:
        value = entry[key]
        if key in LIST_FIELDS:
            assert value == sorted(set(value)), (key, value)
    for lang in {"da", entry["language"]}:
        seen: dict[str, Any] = {}
        for line in form_lines(entry, lang):
            label, _, raw = line.partition(":")
            found = key_for_label(label)
            assert found is not None, line
            result = normalise(found, raw, lang)
            assert result.problem is None, (lang, line, result.problem)
            seen[found] = result.value
        assert seen == {k: _canonical(entry[k]) for k in FIELD_KEYS}


@pytest.mark.asyncio
async def test_seed_loads_once_and_is_idempotent(db: Database) -> None:
    assert await seed_registry(db) == len(DEMO_INITIATIVES)
    assert await seed_registry(db) == 0
    async with db.read() as session:
        entries = list(await session.scalars(select(Initiative).order_by(Initiative.id)))
        versions = await session.scalar(select(func.count()).select_from(InitiativeVersion))
        # The entries in operation for years began as projects: a second version, a year
        # after the first, is the history the yearly report counts from.
        grown = list(await session.scalars(select(InitiativeVersion).where(
            InitiativeVersion.version == 2)))
        contacts = list(await session.scalars(select(Contact)))
        records = [e.record() for e in entries]
    assert len(entries) == len(DEMO_INITIATIVES) == versions - len(grown)
    assert grown and all(v.changed == ["status"] and v.data["status"] != "projekt"
                         for v in grown)
    expected = demo_records()
    for record in expected:  # the registry keeps lists sorted and empty values as [] / None
        for key in LIST_FIELDS:
            record[key] = sorted(record[key] or [])
    assert records == expected
    year_ago = dbnow() - timedelta(days=365)
    stale = [e for e in entries if e.last_confirmed_at is None or e.last_confirmed_at < year_ago]
    assert len(stale) == sum(1 for e in DEMO_INITIATIVES if e["confirmed_days_ago"] is None
                             or e["confirmed_days_ago"] > 365)
    by_email = {c.email: c for c in contacts if c.email}
    assert by_email["james.carter@example.org"].language == "en"
    assert by_email["mette.kjaer@example.dk"].language == "da"
    assert len(by_email) == len({e["contact_email"] for e in DEMO_INITIATIVES
                                 if e["contact_email"]})
    assert all(e.sector == sector_of(e.participants) for e in entries)


@pytest.mark.asyncio
async def test_the_demo_address_book_has_uncovered_areas_to_write_to(db: Database) -> None:
    from bot.demo.data import seed_address_book
    from moderation.outreach import create_campaign, targets

    await seed_registry(db)
    assert await seed_address_book(db) == 8
    assert await seed_address_book(db) == 0
    campaign = await create_campaign(db, name="Demo", max_initiatives=0, kinds=[],
                                     note="", actor="demo")
    chosen = await targets(db, campaign.id)
    # Some organisations are covered by the demo entries, some are not.
    assert 0 < len(chosen) < 8
    assert all(t.email.endswith(".example") for t in chosen)


@pytest.mark.asyncio
async def test_concurrent_seeding_loads_the_data_once(db: Database) -> None:
    import asyncio

    counts = await asyncio.gather(seed_registry(db), seed_registry(db))
    assert sorted(counts) == [0, len(DEMO_INITIATIVES)]
    async with db.read() as session:
        total = await session.scalar(select(func.count()).select_from(Initiative))
    assert total == len(DEMO_INITIATIVES)
