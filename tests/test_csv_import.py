"""CSV import: per-row errors, all-or-nothing, --skip-invalid, re-import, encodings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.registry import csv_import
from bot.registry.csv_import import CsvFormatError, ImportRow, import_rows, parse_csv
from bot.registry.models import Initiative, InitiativeVersion
from bot.registry.repository import history
from tests.clihelp import isolate_env, run_cli
from tests.conftest import FIXTURES, MakeInitiative, sample_record

CSV_DIR = FIXTURES / "csv"


def fixture(name: str) -> bytes:
    return (CSV_DIR / name).read_bytes()


# --- parsing (pure) -----------------------------------------------------------------------

def test_bad_rows_are_reported_with_line_field_reason_and_suggestion() -> None:
    parsed = parse_csv(fixture("bad_rows.csv"))
    messages = [str(e) for e in parsed.errors]
    assert 'line 4, municipalities: Ukendt kommune "Nordby". Mente du Nordfyns?' in messages
    assert any(m.startswith("line 5, title: Titel mangler") for m in messages)
    line6 = [e for e in parsed.errors if e.line == 6]
    assert {e.field for e in line6} == {"status", "regions", "contact_email"}
    assert any("Mente du Region Midtjylland?" in e.message for e in line6)
    assert parsed.invalid_lines == [4, 5, 6]
    assert [r.line for r in parsed.rows] == [2, 3, 7]


def test_quoted_multiline_values_keep_line_numbers_and_paragraphs() -> None:
    parsed = parse_csv(fixture("valid_comma.csv"))
    assert parsed.errors == []
    assert parsed.delimiter == ","
    assert [r.line for r in parsed.rows] == [2, 5, 6]
    first = parsed.rows[0].record
    assert first["description"] == ('Gravide måler blodtryk hjemme.\n\nJordemødre følger '
                                    'målingerne, og "fremmøder" halveres.')
    assert first["municipalities"] == ["Aarhus", "Skanderborg"]
    assert first["contact_phone"] == "+4512345678"
    assert first["start_date"] == "2022-08"
    assert parsed.rows[1].language == "en"
    assert parsed.rows[1].record["status"] == "i_drift"
    assert parsed.rows[2].record["participants"] == ["almen_praksis", "kommune", "sygehus"]
    assert parsed.rows[2].record["end_date"] == "2022-12-31"


def test_danish_headers_semicolon_and_bom() -> None:
    parsed = parse_csv(fixture("danish_bom_semicolon.csv"))
    assert (parsed.encoding, parsed.delimiter, parsed.errors) == ("UTF-8", ";", [])
    record = parsed.rows[0].record
    assert record["organisation"] == "Sjællands Universitetshospital"
    assert record["municipalities"] == ["Køge", "Roskilde"]
    assert record["contact_email"] == "camilla@example.dk"
    assert record["contact_phone"] == "+4523456701"


def test_excel_windows_1252_file() -> None:
    parsed = parse_csv(fixture("excel_windows1252.csv"))
    assert (parsed.encoding, parsed.delimiter, parsed.errors) == ("windows-1252", ";", [])
    assert parsed.rows[0].record["title"] == "Sårvurdering i Ærø Kommune"
    assert parsed.rows[0].record["municipalities"] == ["Ærø"]
    assert parsed.rows[0].record["start_date"] == "2019-03-01"
    assert parsed.rows[1].record["contact_name"] == "Åse Mølgaard"


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty"),
    (b"description;status\nx;Projekt\n", "no title column"),
    (b"Titel;Kommunr\nx;Aalborg\n", 'unknown column "Kommunr". Did you mean "Kommuner"?'),
    (b"title;Titel\nx;y\n", "both title"),
])
def test_unusable_files_are_refused_as_a_whole(content: bytes, expected: str) -> None:
    with pytest.raises(CsvFormatError, match=None) as info:
        parse_csv(content)
    assert expected in str(info.value)


def test_end_date_before_start_date_is_an_error() -> None:
    parsed = parse_csv(b"Titel;Startdato;Slutdato\nA;2022-05-01;2022-04\n"
                       b"B;2022-05;2022-05-31\n")
    assert [str(e) for e in parsed.errors] == [
        "line 2, end_date: Slutdatoen 2022-04 ligger før startdatoen 2022-05-01."]
    assert [r.line for r in parsed.rows] == [3]


def test_row_with_too_many_values_and_export_columns_ignored() -> None:
    parsed = parse_csv(b"id;slug;title;sector\n1;a;Eet;Monosektoriel\n2;b;To;x;extra\n")
    assert parsed.ignored_columns == ["id", "slug", "sector"]
    assert [r.record for r in parsed.rows] == [{"title": "Eet"}]
    assert "5 values but the header has 4 columns" in str(parsed.errors[0])


# --- writing ------------------------------------------------------------------------------

def _rows(*titles: str) -> list[ImportRow]:
    return [ImportRow(n, sample_record(title=t, contact_email=f"k{n}@example.dk"))
            for n, t in enumerate(titles, start=2)]


@pytest.mark.asyncio
async def test_import_is_all_or_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    real = csv_import.create_initiative
    calls = {"n": 0}

    async def failing(*args: object, **kwargs: object) -> Initiative:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(csv_import, "create_initiative", failing)
    with pytest.raises(RuntimeError):
        await import_rows(db, _rows("A", "B", "C", "D"))
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Initiative)) == 0
        assert await session.scalar(select(func.count()).select_from(InitiativeVersion)) == 0


@pytest.mark.asyncio
async def test_reimport_skips_existing_and_in_file_duplicates(
        db: Database, make_initiative: MakeInitiative) -> None:
    existing = await make_initiative(title="Telemedicinsk KOL", organisation="Region Nordjylland")
    rows = _rows("Telemedicinsk  kol", "Ny ting", "Ny ting")  # case/spacing folded
    seen: list[tuple[int, int]] = []
    plan = await import_rows(db, rows, source="import of x.csv",
                             progress=lambda done, total: seen.append((done, total)))
    assert [r.title for r in plan.create] == ["Ny ting"]
    assert [s.reason for s in plan.skipped] == [
        f"already in the registry (entry #{existing.id})", "same title and organisation as line 3"]
    assert seen == [(0, 1), (1, 1)]
    async with db.read() as session:
        entry = await session.get(Initiative, plan.created_ids[0])
        assert entry is not None
        versions = await history(session, entry.id)
    assert (versions[0].actor, versions[0].channel) == ("import", "import")
    assert versions[0].note == "import of x.csv, line 3"
    again = await import_rows(db, rows)
    assert again.create == [] and len(again.skipped) == 3


@pytest.mark.asyncio
async def test_dry_run_writes_nothing(db: Database) -> None:
    plan = await import_rows(db, _rows("A", "B"), dry_run=True)
    assert len(plan.create) == 2 and plan.created_ids == []
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Initiative)) == 0


# --- the command --------------------------------------------------------------------------

def _titles(capsys: pytest.CaptureFixture[str]) -> list[str]:
    result = run_cli(capsys, "export", "--format", "json")
    assert result.code == 0, result.err
    return sorted(r["title"] for r in json.loads(result.out))


def test_import_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))
    bad = str(CSV_DIR / "bad_rows.csv")

    result = run_cli(capsys, "import", bad)
    assert result.code == 1
    assert 'line 4, municipalities: Ukendt kommune "Nordby". Mente du Nordfyns?' in result.err
    assert "3 invalid row(s)" in result.err and "nothing imported" in result.err
    assert _titles(capsys) == []

    result = run_cli(capsys, "import", bad, "--skip-invalid", "--dry-run")
    assert result.code == 0 and "would import 3 entries" in result.out
    assert _titles(capsys) == []

    result = run_cli(capsys, "import", bad, "--skip-invalid")
    assert result.code == 0, result.err
    assert "imported 3 entries" in result.out and "left out 3 invalid row(s)" in result.out
    assert _titles(capsys) == ["Telemedicinsk KOL i Aalborg", "Telepsykiatri for unge",
                               "Videokonsultation på Fyn"]

    result = run_cli(capsys, "import", bad, "--skip-invalid")
    assert result.code == 0
    assert "imported 0 entries, skipped 3 that already exist" in result.out
    assert 'line 2: skipped "Telemedicinsk KOL i Aalborg": already in the registry' in result.out
    assert len(_titles(capsys)) == 3

    result = run_cli(capsys, "import", str(CSV_DIR / "excel_windows1252.csv"))
    assert result.code == 0 and "imported 2 entries" in result.out
    assert "windows-1252" in result.err
    assert "Sårvurdering i Ærø Kommune" in _titles(capsys)

    result = run_cli(capsys, "import", str(tmp_path / "missing.csv"))
    assert result.code == 1 and "cannot read" in result.err


@pytest.mark.asyncio
async def test_two_imports_at_once_create_each_entry_once(db: Database) -> None:
    import asyncio

    rows = _rows("A", "B", "C")
    first, second = await asyncio.gather(import_rows(db, rows), import_rows(db, rows))
    assert sorted([len(first.create), len(second.create)]) == [0, 3]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Initiative)) == 3


@pytest.mark.asyncio
async def test_rows_that_look_like_other_entries_are_pointed_out(
        db: Database, make_initiative: MakeInitiative) -> None:
    from bot.registry.csv_import import likely_duplicates

    existing = await make_initiative(title="Telemedicinsk hjertesvigtsklinik i Region Sjælland",
                                     regions=["sjaelland"], municipalities=["Roskilde"])
    rows = [
        ImportRow(2, sample_record(title="Telemedicinsk hjertesvigtklinik Region Sjælland",
                                   regions=["sjaelland"], municipalities=["Roskilde"],
                                   contact_email="a@example.dk")),
        ImportRow(3, sample_record(title="Digital genoptræning efter hofteoperation",
                                   organisation="Aalborg Kommune",
                                   contact_email="b@example.dk")),
        ImportRow(4, sample_record(title="Digital genoptræning efter hofteoperationer",
                                   organisation="Aalborg Kommune",
                                   contact_email="b@example.dk")),
    ]
    planned = await likely_duplicates(db, await import_rows(db, rows, dry_run=True))
    assert [(d.row.line, d.initiative_id) for d in planned] == [(2, existing.id)]

    plan = await import_rows(db, rows)
    found = await likely_duplicates(db, plan)
    assert [(d.row.line, d.initiative_id) for d in found] == [
        (2, existing.id), (3, plan.created_ids[2])]  # the alike new pair is listed once
    assert found[0].title == existing.title and found[0].score >= 60
