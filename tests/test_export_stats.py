"""Export (CSV, JSON) and MedCom's yearly figures on a known set of entries."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.core.db import Database, dbnow
from bot.registry.csv_import import parse_csv
from bot.registry.export import EXPORT_COLUMNS, published_records, to_csv, to_json
from bot.registry.models import Initiative
from bot.registry.stats import compute_stats, format_stats, registry_stats, stats_json
from tests.clihelp import isolate_env, run_cli
from tests.conftest import MakeInitiative, sample_record


async def _known_set(make_initiative: MakeInitiative, db: Database) -> list[Initiative]:
    """Eight entries: 4 statuses + one unknown, every sector combination, 3 regions."""
    entries = [
        await make_initiative(title="A", status="i_drift", participants=["kommune", "sygehus"],
                              regions=["nordjylland"], start_date="2019-03-01"),
        await make_initiative(title="B", status="i_drift", participants=["sygehus"],
                              regions=["nordjylland", "midtjylland"], municipalities=[],
                              start_date="2020-01"),
        await make_initiative(title="C", status="projekt", participants=["almen_praksis"],
                              regions=["midtjylland"], municipalities=[],
                              start_date="2020-06"),
        await make_initiative(title="D", status="afsluttet",
                              participants=["sygehus", "almen_praksis"],
                              regions=["syddanmark"], municipalities=[], start_date=None,
                              end_date="2022-01"),
        await make_initiative(title="E", status="under_udbredelse",
                              participants=["kommune", "almen_praksis"],
                              regions=["syddanmark"], municipalities=[], start_date=None),
        await make_initiative(title="F", status=None,
                              participants=["kommune", "sygehus", "almen_praksis"],
                              regions=["syddanmark"], municipalities=[], start_date=None),
        await make_initiative(title="G", status="projekt", participants=["kommune"],
                              regions=["syddanmark"], municipalities=[], start_date=None),
        # H is a duplicate merged into A: kept for history, not published, not counted.
        await make_initiative(title="H", status="i_drift", participants=["sygehus"],
                              regions=["hovedstaden"], municipalities=[]),
    ]
    async with db.write() as session:
        await session.execute(update(Initiative).where(Initiative.id == entries[-1].id)
                              .values(merged_into_id=entries[0].id))
        await session.execute(update(Initiative).where(Initiative.id == entries[0].id)
                              .values(last_confirmed_at=dbnow().replace(microsecond=0)))
    return entries


@pytest.mark.asyncio
async def test_stats_on_a_known_set(db: Database, make_initiative: MakeInitiative) -> None:
    await _known_set(make_initiative, db)
    stats = await registry_stats(db)
    assert stats.total == 7
    assert stats.by_status == {"projekt": 2, "under_udbredelse": 1, "i_drift": 2,
                               "afsluttet": 1, "ukendt": 1}
    assert (stats.ongoing, stats.ended) == (5, 1)
    assert (stats.monosectoral, stats.cross_sectoral) == (3, 4)
    assert stats.by_sector == {"monosektoriel": 3, "sygehus_kommune": 1,
                               "sygehus_almen_praksis": 1, "kommune_almen_praksis": 1,
                               "alle_tre": 1}
    assert stats.by_participant == {"almen_praksis": 4, "kommune": 4, "sygehus": 4}
    assert stats.by_region == {"hovedstaden": 0, "midtjylland": 2, "nordjylland": 2,
                               "sjaelland": 0, "syddanmark": 4}
    assert stats.by_start_year == {2019: 1, 2020: 2}
    assert stats.share(stats.monosectoral) == 42.9
    assert stats.share(stats.by_region["syddanmark"]) == 57.1

    data = stats_json(stats)
    assert data["percent"]["cross_sectoral"] == 57.1
    assert data["percent"]["by_status"]["ukendt"] == 14.3

    table = format_stats(stats)
    assert "7 offentliggjorte initiativer" in table
    lines: dict[str, str] = {}
    for ln in table.splitlines():
        lines.setdefault(ln.strip().split("  ")[0], ln)  # first occurrence
    assert lines["Monosektorielle"].split()[-3:] == ["3", "42,9", "%"]
    assert lines["Tværsektorielle"].split()[-3:] == ["4", "57,1", "%"]
    assert lines["Region Syddanmark"].split()[-3:] == ["4", "57,1", "%"]
    assert lines["Ikke oplyst"].split()[-3:] == ["1", "14,3", "%"]  # status unknown


def test_stats_of_an_empty_registry_print_zeros() -> None:
    stats = compute_stats([])
    assert stats.total == 0 and stats.share(0) == 0.0
    assert "0 offentliggjorte initiativer" in format_stats(stats)


@pytest.mark.asyncio
async def test_export_json_and_csv(db: Database, make_initiative: MakeInitiative) -> None:
    entries = await _known_set(make_initiative, db)
    records = await published_records(db, with_contacts=True)  # a backup: all contacts
    assert [r["title"] for r in records] == ["A", "B", "C", "D", "E", "F", "G"]
    first = records[0]
    assert list(first) == list(EXPORT_COLUMNS)
    assert first["id"] == entries[0].id and first["slug"] == "a"
    assert first["sector"] == "sygehus_kommune" and first["language"] == "da"
    assert first["last_confirmed_at"].endswith("Z")
    assert records[1]["last_confirmed_at"] is None
    assert first["municipalities"] == ["Aalborg", "Hjørring"]

    assert json.loads(to_json(records)) == records
    text = to_csv(records)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["title"] for r in rows] == ["A", "B", "C", "D", "E", "F", "G"]
    assert rows[0]["municipalities"] == "Aalborg; Hjørring"
    assert rows[0]["technology"] == "Pulsoximeter; Tablet"
    assert rows[0]["participants"] == "Kommune; Sygehus"
    assert rows[0]["status"] == "I drift"
    assert rows[5]["status"] == ""

    # The CSV reads back through the import unchanged.
    parsed = parse_csv(text.encode())
    assert parsed.errors == []
    expected = {k: sorted(v) if isinstance(v, list) else v
                for k, v in sample_record(title="A", participants=["kommune", "sygehus"],
                                          contact_email="kontakt1@example.dk").items()
                if v not in (None, [])}
    assert parsed.rows[0].record == expected
    assert parsed.rows[0].confirmed_at is not None


def test_export_and_stats_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("Titel;Status;Deltagere;Regioner\nEt;I drift;Sygehus;Sjælland\n"
                        "To;Projekt;Kommune, sygehus;Sjælland\n", encoding="utf-8")
    assert run_cli(capsys, "import", str(csv_file)).code == 0

    out = tmp_path / "out.csv"
    result = run_cli(capsys, "export", "--format", "csv", "--out", str(out))
    assert result.code == 0 and "exported 2 entries" in result.err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    assert "Region Sjælland" in raw.decode("utf-8-sig")

    result = run_cli(capsys, "export", "--format", "json")
    assert [r["sector"] for r in json.loads(result.out)] == ["monosektoriel", "sygehus_kommune"]

    result = run_cli(capsys, "export", "--delimiter", ";")
    assert result.out.startswith("id;slug;title;")
    assert parse_csv(result.out.encode()).rows[1].record["participants"] == ["kommune",
                                                                             "sygehus"]

    result = run_cli(capsys, "stats", "--json")
    data = json.loads(result.out)
    assert (data["total"], data["monosectoral"], data["cross_sectoral"]) == (2, 1, 1)
    assert data["by_region"]["sjaelland"] == 2

    result = run_cli(capsys, "stats")
    assert result.code == 0 and "Region Sjælland" in result.out and "100,0\xa0%" in result.out

    result = run_cli(capsys, "export", "--format", "xml")
    assert result.code == 2 and "invalid choice" in result.err


@pytest.mark.asyncio
async def test_the_years_side_by_side_from_the_version_history(
        db: Database, make_initiative: Any) -> None:
    """Figures as they stood on each year's counting day (1 October), from the versions:
    an entry started in 2023 as a project, ended in 2025; another added in 2024."""
    from datetime import date, datetime

    from sqlalchemy import update

    from bot.registry.models import Initiative, InitiativeVersion
    from bot.registry.repository import apply_changes
    from bot.registry.stats import stats_as_of, years_side_by_side

    a = await make_initiative(status="projekt", participants=["kommune"])
    async with db.write() as s:
        entry = await s.get(Initiative, a.id)
        assert entry is not None
        await apply_changes(s, entry, {"status": "afsluttet"}, actor="t", channel="email")
    b = await make_initiative(status="i_drift", participants=["kommune", "sygehus"])
    async with db.write() as s:
        for iid, version, when in ((a.id, 1, datetime(2023, 5, 1)),
                                   (a.id, 2, datetime(2025, 3, 1)),
                                   (b.id, 1, datetime(2024, 9, 30))):
            await s.execute(update(InitiativeVersion).where(
                InitiativeVersion.initiative_id == iid, InitiativeVersion.version == version)
                .values(created_at=when))
    then = await stats_as_of(db, datetime(2024, 10, 1))
    assert then.total == 2 and then.by_status["projekt"] == 1 and then.by_status["i_drift"] == 1
    years = await years_side_by_side(db, "10-01", today=date(2026, 12, 2))
    assert [(y.year, y.stats.total, y.stats.ended, y.new, y.ended) for y in years] == [
        (2023, 1, 0, 1, 0), (2024, 2, 0, 1, 0), (2025, 2, 1, 0, 1), (2026, 2, 1, 0, 0)]
    assert years[0].counted_at == date(2023, 10, 1)
    assert years[2].stats.cross_sectoral == 1


@pytest.mark.asyncio
async def test_statistics_of_a_year_say_when_they_were_counted(
        db: Database, settings: Any, make_initiative: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import create_app

    await make_initiative()
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        now = await (await c.get("/api/statistics")).json()
        assert now["total"] == 1 and now["counted_at"]
        old = await (await c.get("/api/statistics", params={"aar": "2020"})).json()
        assert old["counted_at"] == "2020-10-01" and old["total"] == 0
        html = await (await c.get("/statistik")).text()
        assert "Opgjort pr." in html and "Årene side om side" in html
        csv_body = await (await c.get("/api/statistics/years",
                                      params={"format": "csv"})).text()
        assert csv_body.lstrip("\ufeff").startswith("year,counted_at,total,")
