"""Catalogue queries (bot.public.catalogue): search, every filter, facets, sorting and paging,
on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from multidict import MultiDict

from bot.core.db import Database
from bot.public import catalogue
from bot.public.catalogue import Filters
from moderation.decisions import merge_initiatives
from tests.conftest import MakeInitiative


async def _titles(db: Database, filters: Filters) -> list[str]:
    async with db.read() as session:
        result = await catalogue.search(session, filters, limit=100)
    return [r.title for r in result.rows]


async def _three(make_initiative: MakeInitiative) -> None:
    await make_initiative(
        title="Hjemmemonitorering af KOL", description="Måling af iltmætning hjemme.",
        organisation="Aalborg Kommune", status="i_drift", participants=["kommune", "sygehus"],
        regions=["nordjylland"], municipalities=["Aalborg", "Hjørring"],
        patient_groups=["KOL"], technology=["Tablet", "Pulsoximeter"], start_date="2019-03-01")
    await make_initiative(
        title="Videokonsultation i psykiatrien", description="Samtaler over video.",
        organisation="Region Hovedstadens Psykiatri", status="projekt",
        participants=["sygehus"], regions=["hovedstaden"], municipalities=["København"],
        patient_groups=["Psykiatri"], technology=["Videokonsultation"], start_date="2022-01")
    await make_initiative(
        title="Sårbehandling på Ærø", description="Sygeplejersker sender billeder af sår.",
        organisation="ÆRØ KOMMUNE", status="afsluttet",
        participants=["almen_praksis", "kommune"], regions=["syddanmark"],
        municipalities=["Ærø"], patient_groups=["Kroniske sår"], technology=["App"],
        start_date="2015-06-01", end_date="2018-12-31")


@pytest.mark.asyncio
async def test_search_each_text_field_case_insensitive(
        db: Database, make_initiative: MakeInitiative) -> None:
    await _three(make_initiative)
    assert await _titles(db, Filters(q="kol")) == ["Hjemmemonitorering af KOL"]
    assert await _titles(db, Filters(q="ILTMÆTNING")) == ["Hjemmemonitorering af KOL"]
    assert await _titles(db, Filters(q="hovedstadens")) == ["Videokonsultation i psykiatrien"]
    assert await _titles(db, Filters(q="kroniske")) == ["Sårbehandling på Ærø"]
    assert await _titles(db, Filters(q="pulsoximeter")) == ["Hjemmemonitorering af KOL"]
    # Non-ASCII case folding, which SQLite's lower() would not do.
    assert await _titles(db, Filters(q="ærø kommune")) == ["Sårbehandling på Ærø"]
    assert await _titles(db, Filters(q="SÅR")) == ["Sårbehandling på Ærø"]
    # Words match at the start of words: "kol" is not found inside "psykolog".
    assert await _titles(db, Filters(q="iltmæt")) == ["Hjemmemonitorering af KOL"]
    assert await _titles(db, Filters(q="mætning")) == []
    # Every word must occur.
    assert await _titles(db, Filters(q="video kol")) == []
    assert await _titles(db, Filters(q="nothing-like-this")) == []
    assert len(await _titles(db, Filters())) == 3


FILTER_CASES: list[tuple[str, str, list[str]]] = [
    ("status", "projekt", ["Videokonsultation i psykiatrien"]),
    ("region", "nordjylland", ["Hjemmemonitorering af KOL"]),
    ("municipality", "Hjørring", ["Hjemmemonitorering af KOL"]),
    ("municipality", "Ærø", ["Sårbehandling på Ærø"]),
    ("municipality", "Aeroe", []),
    ("participant", "almen_praksis", ["Sårbehandling på Ærø"]),
    ("participant", "sygehus", ["Hjemmemonitorering af KOL", "Videokonsultation i psykiatrien"]),
    ("patient_group", "psykiatri", ["Videokonsultation i psykiatrien"]),
    ("patient_group", "kroniske sår", ["Sårbehandling på Ærø"]),
    # "Video" was stored as the term it means (bot.registry.terms).
    ("technology", "Videokonsultation", ["Videokonsultation i psykiatrien"]),
    ("sector", "sygehus_kommune", ["Hjemmemonitorering af KOL"]),
    ("sector", "monosektoriel", ["Videokonsultation i psykiatrien"]),
    ("sector", "kommune_almen_praksis", ["Sårbehandling på Ærø"]),
]


@pytest.mark.asyncio
async def test_each_filter(db: Database, make_initiative: MakeInitiative) -> None:
    await _three(make_initiative)
    for name, value, expected in FILTER_CASES:
        change: dict[str, Any] = {name: (value,)}
        filters = dataclasses.replace(Filters(), **change)
        assert await _titles(db, filters) == expected, (name, value)


@pytest.mark.asyncio
async def test_filters_combine_and_values_are_alternatives(
        db: Database, make_initiative: MakeInitiative) -> None:
    await _three(make_initiative)
    both = Filters(region=("nordjylland", "syddanmark"))
    assert await _titles(db, both) == ["Hjemmemonitorering af KOL", "Sårbehandling på Ærø"]
    assert await _titles(db, Filters(region=("nordjylland", "syddanmark"),
                                     status=("afsluttet",))) == ["Sårbehandling på Ærø"]
    assert await _titles(db, Filters(q="kol", region=("hovedstaden",))) == []


@pytest.mark.asyncio
async def test_merged_entries_are_not_published(
        db: Database, make_initiative: MakeInitiative) -> None:
    keep = await make_initiative(title="Telecare Nord")
    dup = await make_initiative(title="TeleCare Nord (dublet)")
    await merge_initiatives(db, dup.id, keep.id, actor="mod")
    assert await _titles(db, Filters()) == ["Telecare Nord"]
    assert await _titles(db, Filters(q="dublet")) == []


@pytest.mark.asyncio
async def test_paging_sorting_and_facets(db: Database, make_initiative: MakeInitiative) -> None:
    for n in (3, 1, 10, 2):
        await make_initiative(title=f"Initiativ nr. {n}", regions=["sjaelland"],
                              start_date=f"20{10 + n}-01-01")
    async with db.read() as session:
        first = await catalogue.search(session, Filters(), offset=0, limit=3, facets=True)
        second = await catalogue.search(session, Filters(), offset=3, limit=3)
        newest = await catalogue.search(session, Filters(sort="start"), limit=1)
    assert [r.title for r in first.rows] == ["Initiativ nr. 1", "Initiativ nr. 2",
                                            "Initiativ nr. 3"]
    assert first.total == 4 and first.has_next and not first.has_previous
    assert [r.title for r in second.rows] == ["Initiativ nr. 10"]
    assert not second.has_next and second.has_previous
    assert newest.rows[0].title == "Initiativ nr. 10"
    assert first.facets["region"] == {"sjaelland": 4}
    assert first.facets["status"] == {"i_drift": 4}


@pytest.mark.asyncio
async def test_facets_ignore_their_own_filter(
        db: Database, make_initiative: MakeInitiative) -> None:
    await _three(make_initiative)
    async with db.read() as session:
        facets = await catalogue.facet_counts(session, Filters(status=("projekt",)))
        free = await catalogue.free_values(session)
    # The status menu still shows what other statuses would give …
    assert facets["status"] == {"i_drift": 1, "projekt": 1, "afsluttet": 1}
    # … while the other menus count within the chosen status.
    assert facets["region"] == {"hovedstaden": 1}
    assert free["technology"] == ["App", "Pulsoximeter", "Tablet", "Videokonsultation"]


def test_filters_from_query_and_back() -> None:
    query = MultiDict([("q", "  kol   hjemme "), ("region", "nordjylland"),
                       ("region", "syddanmark"), ("region", ""), ("status", "i_drift"),
                       ("sort", "bogus"), ("unknown", "x")])
    f = Filters.from_query(query)
    assert f.q == "kol hjemme"
    assert f.region == ("nordjylland", "syddanmark")
    assert f.sort == "title" and f.active
    assert Filters.from_query(MultiDict(f.params())) == f
    assert f.without("region", "syddanmark").region == ("nordjylland",)
    assert f.without("region").region == ()
    assert f.without("q").q == ""
    assert not Filters.from_query(MultiDict()).active
    assert len(Filters.from_query(MultiDict([("q", "x" * 1000)])).q) == 200


def test_title_sort_is_danish_and_natural() -> None:
    names = ["Åbenrå", "Ærø", "Zebra", "nr. 10", "nr. 2", "Øst"]
    assert sorted(names, key=catalogue.sort_key) == [
        "nr. 2", "nr. 10", "Zebra", "Ærø", "Øst", "Åbenrå"]


async def _search_fixture(make_initiative: MakeInitiative) -> None:
    await _three(make_initiative)
    await make_initiative(
        title="Telemonitorering af hjertesvigt", description="Patienter med hjertesvigt "
        "vejer sig dagligt.", organisation="Region Midtjylland", status="i_drift",
        participants=["sygehus"], regions=["midtjylland"], municipalities=["Viborg"],
        patient_groups=["Hjertesvigt"], technology=["Vægt"], start_date="2020-01")
    await make_initiative(
        title="Videokonsultation for gravide", description="Jordemødre taler med gravide "
        "med KOL og astma over video.", organisation="Aalborg Universitetshospital",
        status="projekt", participants=["sygehus"], regions=["nordjylland"],
        municipalities=["Aalborg"], patient_groups=["Gravide"], technology=["Video"])


@pytest.mark.asyncio
@pytest.mark.parametrize(("q", "expected"), [
    # places are searched: the KOL entries that cover Aalborg
    ("KOL Aalborg", ["Hjemmemonitorering af KOL", "Videokonsultation for gravide"]),
    ("hjertesvigt Midtjylland", ["Telemonitorering af hjertesvigt"]),
    ("Central Denmark Region", ["Telemonitorering af hjertesvigt"]),
    # English words find Danish entries (data/synonyms.txt)
    ("COPD", ["Hjemmemonitorering af KOL", "Videokonsultation for gravide"]),
    ("heart failure", ["Telemonitorering af hjertesvigt"]),
    ("pregnancy", ["Videokonsultation for gravide"]),
    ("wound", ["Sårbehandling på Ærø"]),
    # a compound finds its head word ("hjertesvigt|s|patienter")
    ("hjertesvigtspatienter", ["Telemonitorering af hjertesvigt"]),
])
async def test_search_finds_what_people_type(db: Database, make_initiative: MakeInitiative,
                                             q: str, expected: list[str]) -> None:
    await _search_fixture(make_initiative)
    assert sorted(await _titles(db, Filters(q=q))) == sorted(expected)


@pytest.mark.asyncio
async def test_a_search_puts_title_matches_first(db: Database,
                                                 make_initiative: MakeInitiative) -> None:
    await _search_fixture(make_initiative)
    # "kol" is in the first entry's title, only in the second one's description
    assert await _titles(db, Filters(q="kol")) == ["Hjemmemonitorering af KOL",
                                                   "Videokonsultation for gravide"]
    # without a search, the order is the title's
    assert (await _titles(db, Filters()))[0] == "Hjemmemonitorering af KOL"


@pytest.mark.asyncio
async def test_a_typo_gets_did_you_mean(db: Database, make_initiative: MakeInitiative) -> None:
    await _search_fixture(make_initiative)
    assert await _titles(db, Filters(q="hjertsvigt")) == []
    async with db.read() as session:
        assert await catalogue.did_you_mean(session, "hjertsvigt") == "hjertesvigt"
        assert await catalogue.did_you_mean(session, "xyzxyz") is None
