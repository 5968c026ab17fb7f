"""The yearly report (#19): its figures against counts made independently from the
version history for two years, the frozen copy, the four files of ``landkort report``
and the public pages ``/rapport/<year>``.

The history: entry A began in 2024 as a project and went into operation in 2025; B was in
operation from 2024 and ended in November 2025 (after the 2025 count); C was registered in
December 2025 (new in 2026), evaluated, with PRO questionnaires, lacking a description; D
was registered in 2024 and later merged into C (counted nowhere, as merged duplicates).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.core.db import Database
from bot.registry.models import Initiative, InitiativeVersion
from bot.registry.record import MANDATORY_FIELDS
from bot.registry.repository import apply_changes
from bot.report.files import report_csv, report_json, report_pdf
from bot.report.store import compute_report, frozen_report, report_for
from moderation.models import AuditEvent
from tests.clihelp import isolate_env, run_cli
from tests.conftest import MakeInitiative

TODAY = date(2026, 12, 3)


async def _backdate(db: Database, entry_id: int, version: int, when: datetime) -> None:
    async with db.write() as s:
        await s.execute(update(InitiativeVersion).where(
            InitiativeVersion.initiative_id == entry_id, InitiativeVersion.version == version)
            .values(created_at=when))


async def _change(db: Database, entry_id: int, changes: dict[str, Any], when: datetime
                  ) -> None:
    async with db.write() as s:
        entry = await s.get(Initiative, entry_id)
        assert entry is not None
        version = await apply_changes(s, entry, changes, actor="t", channel="email")
        assert version is not None
        version.created_at = when


async def history_of_four(db: Database, make_initiative: MakeInitiative) -> dict[str, int]:
    a = await make_initiative(title="A", status="projekt", participants=["kommune"],
                              regions=["nordjylland"], municipalities=["Aalborg"], pro=None,
                              evaluation_url=None)
    await _backdate(db, a.id, 1, datetime(2024, 3, 1))
    await _change(db, a.id, {"status": "i_drift",
                             "participants": ["almen_praksis", "kommune"]},
                  datetime(2025, 6, 1))
    b = await make_initiative(title="B", status="i_drift", participants=["sygehus"],
                              regions=["syddanmark"], municipalities=["Odense"],
                              pro=["hjemmemaaling"], evaluation_url=None)
    await _backdate(db, b.id, 1, datetime(2024, 5, 1))
    await _change(db, b.id, {"status": "afsluttet"}, datetime(2025, 11, 15))
    c = await make_initiative(title="C", status="under_udbredelse", description=None,
                              participants=["kommune", "sygehus"], regions=["hovedstaden"],
                              municipalities=["København"], pro=["spoergeskema"],
                              evaluation_status="evalueret", evaluation_url=None)
    await _backdate(db, c.id, 1, datetime(2025, 12, 1))
    d = await make_initiative(title="D", status="projekt", participants=["kommune"])
    await _backdate(db, d.id, 1, datetime(2024, 2, 1))
    async with db.write() as s:
        await s.execute(update(Initiative).where(Initiative.id == d.id)
                        .values(merged_into_id=c.id))
    return {"A": a.id, "B": b.id, "C": c.id, "D": d.id}


async def expected_counts(db: Database, counted: datetime, before: datetime
                          ) -> dict[str, Any]:
    """The figures for a count at ``counted`` computed here, independently of the report's
    code: the rows of the version table, read plainly and counted by hand."""
    async with db.read() as s:
        merged = set(await s.scalars(select(Initiative.id)
                                     .where(Initiative.merged_into_id.is_not(None))))
        rows = (await s.execute(select(InitiativeVersion.initiative_id,
                                       InitiativeVersion.version,
                                       InitiativeVersion.created_at,
                                       InitiativeVersion.data))).all()

    def at(moment: datetime) -> dict[int, Mapping[str, Any]]:
        best: dict[int, tuple[int, Mapping[str, Any]]] = {}
        for r in rows:
            if r.initiative_id in merged or r.created_at > moment:
                continue
            if r.initiative_id not in best or r.version > best[r.initiative_id][0]:
                best[r.initiative_id] = (r.version, r.data)
        return {k: v[1] for k, v in best.items()}

    now, then = at(counted), at(before)
    statuses = [r.get("status") for r in now.values()]
    return {
        "total": len(now),
        "projekt": statuses.count("projekt"), "i_drift": statuses.count("i_drift"),
        "under_udbredelse": statuses.count("under_udbredelse"),
        "afsluttet": statuses.count("afsluttet"),
        "new": len([k for k in now if k not in then]),
        "newly_ended": len([k for k, r in now.items() if r.get("status") == "afsluttet"
                            and (then.get(k) or {}).get("status") != "afsluttet"]),
        "cross": len([r for r in now.values() if len(set(r.get("participants") or [])) > 1]),
        "gp": len([r for r in now.values() if "almen_praksis" in (r.get("participants") or [])]),
        "pro": len([r for r in now.values() if set(r.get("pro") or []) - {"ingen"}]),
        "evaluated": len([r for r in now.values()
                          if r.get("evaluation_status") == "evalueret"
                          or (not r.get("evaluation_status") and r.get("evaluation_url"))]),
        "complete": len([r for r in now.values()
                         if all(r.get(k) not in (None, "", []) for k in MANDATORY_FIELDS)]),
        "municipalities": sorted({m for r in now.values() for m in r.get("municipalities") or []}),
    }


def figures_of(report: Mapping[str, Any]) -> dict[str, Any]:
    s = report["by_status"]
    covered = sorted(m for m, n in report["by_municipality"].items() if n)
    return {
        "total": report["totals"]["total"], "projekt": s["projekt"], "i_drift": s["i_drift"],
        "under_udbredelse": s["under_udbredelse"], "afsluttet": s["afsluttet"],
        "new": report["totals"]["new"], "newly_ended": report["totals"]["newly_ended"],
        "cross": report["cross_sectoral"], "gp": report["by_participant"]["almen_praksis"],
        "pro": report["pro"]["with_pro"], "evaluated": report["evaluation"]["evalueret"],
        "complete": report["completeness"]["complete"], "municipalities": covered,
    }


@pytest.mark.asyncio
async def test_two_years_match_counts_made_from_the_version_history(
        db: Database, make_initiative: MakeInitiative) -> None:
    await history_of_four(db, make_initiative)
    for year in (2025, 2026):
        report = await compute_report(db, year, reference_day="10-01", today=TODAY)
        expected = await expected_counts(db, datetime(year, 10, 1), datetime(year - 1, 10, 1))
        assert figures_of(report) == expected, year
    y2025 = await compute_report(db, 2025, reference_day="10-01", today=TODAY)
    y2026 = await compute_report(db, 2026, reference_day="10-01", today=TODAY)
    # The entry that changed status between the years: a project in 2024, in operation
    # by the 2025 count; B is still in operation at the 2025 count and ended by 2026.
    assert (y2025["by_status"]["i_drift"], y2025["by_status"]["afsluttet"]) == (2, 0)
    assert (y2026["by_status"]["i_drift"], y2026["by_status"]["afsluttet"]) == (1, 1)
    assert (y2026["totals"]["new"], y2026["totals"]["newly_ended"]) == (1, 1)
    assert y2026["pilot_vs_rollout"] == {"projekt": 0, "udbredelse_drift": 2}
    # The trend: each year at its count, the merged duplicate D nowhere.
    assert [(t["year"], t["total"], t["by_status"]["projekt"]) for t in y2026["trend"]] == [
        (2024, 2, 1), (2025, 2, 0), (2026, 3, 0)]
    assert y2026["municipalities_without"]["nordjylland"].count("Aalborg") == 0
    assert y2026["regions_without"] == ["midtjylland", "sjaelland"]
    # Only B's answer by mail (Nov 2025) is a confirmation within 12 months: C was
    # imported (Dec 2025), which says nothing about whether anyone checked it, and A's
    # answer is older.
    assert y2026["freshness"]["confirmed_12m"] == 1
    assert y2026["campaign"] is None and y2026["preliminary"] is False


@pytest.mark.asyncio
async def test_a_frozen_report_stays_as_it_was(db: Database,
                                               make_initiative: MakeInitiative) -> None:
    ids = await history_of_four(db, make_initiative)
    # Made, not published: a visit never freezes (a crawler would publish it).
    seen = await report_for(db, 2025, reference_day="10-01", today=TODAY)
    assert "frozen_at" not in seen and await frozen_report(db, 2025) is None
    first = await report_for(db, 2025, reference_day="10-01", today=TODAY, freeze=True,
                             actor="ada")
    assert first["frozen_at"] and first["totals"] == seen["totals"]
    # A later merge changes what a fresh count says about 2025, not the published report.
    async with db.write() as s:
        await s.execute(update(Initiative).where(Initiative.id == ids["B"])
                        .values(merged_into_id=ids["A"]))
    fresh = await compute_report(db, 2025, reference_day="10-01", today=TODAY)
    assert fresh["totals"]["total"] == first["totals"]["total"] - 1
    again = await report_for(db, 2025, reference_day="10-01", today=TODAY)
    assert again == first
    # This year's report stays preliminary until it is frozen on purpose, once.
    now = await report_for(db, 2026, reference_day="10-01", today=TODAY)
    assert "frozen_at" not in now and await frozen_report(db, 2026) is None
    # A report counted before its day is never frozen (it would freeze half a year).
    early = await report_for(db, 2026, reference_day="12-24", today=TODAY, freeze=True)
    assert early["preliminary"] and await frozen_report(db, 2026) is None
    kept = await report_for(db, 2026, reference_day="10-01", today=TODAY, freeze=True,
                            actor="ada")
    assert kept["frozen_at"] and kept["totals"] == now["totals"]
    async with db.read() as s:
        years = [e.detail["year"] for e in await s.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.freeze"))]
    assert sorted(years) == [2025, 2026]
    # This year's trend takes last year's row from its published copy, so the two agree
    # although B was merged since (a fresh count of 2025 now says one less).
    trend = {row["year"]: row for row in kept["trend"]}
    assert trend[2025]["total"] == first["totals"]["total"] and trend[2025]["published"]


@pytest.mark.asyncio
async def test_the_files_say_the_same_in_both_languages(
        db: Database, make_initiative: MakeInitiative) -> None:
    await history_of_four(db, make_initiative)
    data = await compute_report(db, 2026, reference_day="10-01", today=TODAY)
    assert json.loads(report_json(data)) == data
    da = report_csv(data, "da")
    assert da.startswith("Afsnit,Kategori,Antal,Ud af,Andel (%)\r\n")
    assert "Status,I drift,1,3,33.3\r\n" in da
    assert "Patientrapporterede oplysninger (PRO),PRO-spørgeskemaer,1,3,33.3" in da
    en = report_csv(data, "en")
    assert "Status,In operation,1,3,33.3\r\n" in en
    for lang in ("da", "en"):
        pdf = report_pdf(data, lang)
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
        assert b"/Type /Pages" in pdf and b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4


def test_landkort_report_writes_four_files_from_the_demo_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.core.commandline import open_database
    from bot.core.settings import load_settings
    from bot.demo.data import DEMO_INITIATIVES, seed_registry

    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))

    async def seed() -> None:
        db = await open_database(load_settings())
        try:
            await seed_registry(db)
        finally:
            await db.dispose()

    asyncio.run(seed())
    year = date.today().year - 1  # a year whose count has passed
    out = tmp_path / "rapport"
    result = run_cli(capsys, "report", "--year", str(year), "--out", str(out))
    assert result.code == 0 and "preliminary report" in result.err
    result = run_cli(capsys, "report", "--year", str(year), "--out", str(out), "--freeze")
    assert result.code == 0, result.err
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"landkort-rapport-{year}.{ext}" for ext in ("csv", "html", "json", "pdf")]
    data = json.loads((out / f"landkort-rapport-{year}.json").read_text("utf-8"))
    assert 0 < data["totals"]["total"] < len(DEMO_INITIATIVES) and data["frozen_at"]
    html = (out / f"landkort-rapport-{year}.html").read_text("utf-8")
    assert f"Det telemedicinske landkort {year}" in html and "<style>" in html
    assert 'href="/static' not in html  # self-contained
    assert (out / f"landkort-rapport-{year}.pdf").read_bytes().startswith(b"%PDF-")
    assert "frozen report" in result.err
    # Bad input gets a clear answer.
    result = run_cli(capsys, "report", "--year", "1999", "--out", str(out))
    assert result.code != 0 and "--year" in result.err


@pytest.mark.asyncio
async def test_the_report_pages(db: Database, settings: Any,
                                make_initiative: MakeInitiative) -> None:
    from bot.app import create_app

    await history_of_four(db, make_initiative)
    await report_for(db, 2025, reference_day="10-01", today=TODAY, freeze=True)
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        latest = await c.get("/rapport", allow_redirects=False)
        assert latest.status == 302 and latest.headers["Location"].startswith("/rapport/")
        chosen = await c.get("/rapport", params={"aar": "2025", "lang": "en"},
                             allow_redirects=False)
        assert chosen.headers["Location"] == "/rapport/2025?lang=en"
        page = await c.get("/rapport/2025")
        html = await page.text()
        assert page.status == 200 and "Det telemedicinske landkort 2025" in html
        assert "Endelig udgave" in html and "Hvad tallene kan og ikke kan sige" in html
        pdf = await c.get("/rapport/2025.pdf")
        assert pdf.content_type == "application/pdf"
        assert (await pdf.read()).startswith(b"%PDF-")
        csv = await c.get("/rapport/2025.csv", params={"lang": "en"})
        assert (await csv.text()).startswith("Section,Category")
        data = await (await c.get("/rapport/2025.json")).json()
        assert data["year"] == 2025 and data["totals"]["total"] == 2
        assert (await c.get("/rapport/1999")).status == 404
        assert (await c.get(f"/rapport/{date.today().year + 1}")).status == 404
