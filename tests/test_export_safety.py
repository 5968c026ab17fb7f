"""No export lets a spreadsheet run text from mail as a formula, with either delimiter
(the CLI's ``landkort export --delimiter ';'`` and the public ``/export.csv``)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.spreadsheet import FORMULA_START, csv_document, read_cell, safe_cell
from bot.registry.csv_import import parse_csv
from bot.registry.export import published_records, to_csv
from tests.conftest import MakeInitiative

HOSTILE = ["=HYPERLINK(\"http://evil.example\";\"x\")", "+1+1", "-2+3", "@SUM(A1)",
           " =1+1", "\t=1", "＝1+1", "a;b", "a,b", "say \"hi\"", "line\nbreak"]


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_every_cell_is_safe_and_quoted_with_either_delimiter(delimiter: str) -> None:
    text = csv_document(["title", "note"], [[h, h] for h in HOSTILE], delimiter=delimiter)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert len(rows) == len(HOSTILE) + 1
    for (title, note), hostile in zip(rows[1:], HOSTILE, strict=True):
        assert title == note == safe_cell(hostile)
        assert not title.lstrip(" \t\r\n").startswith(FORMULA_START)
        assert read_cell(title) == hostile
    # Both delimiters are quoted whatever the file's own is (Danish Excel splits on ;).
    other = ";" if delimiter == "," else ","
    for line in text.splitlines():
        if "a" + other + "b" in line:
            assert f'"a{other}b"' in line


@pytest.mark.asyncio
async def test_cli_export_and_public_csv_neutralise_formulas(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        tmp_path: Path) -> None:
    await make_initiative(title="=cmd|' /C calc'!A0", organisation="+Region; Syd",
                          contact_name="@Anna", description="-1; =2")
    records = await published_records(db)
    for delimiter in (",", ";"):
        text = to_csv(records, delimiter=delimiter)
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            assert all(not c.lstrip(" \t\r\n").startswith(FORMULA_START) for c in row), row
        assert parse_csv(text.encode()).errors == []  # and it reads back in
    app = create_app(settings, db, start_workers=False)
    client: TestClient[Any, Any]
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/export.csv")
        assert resp.status == 200
        body = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert any("=cmd" in c for row in rows for c in row)  # the entry is in the export
    for row in rows:
        assert all(not c.lstrip(" \t\r\n").startswith(FORMULA_START) for c in row), row
    assert '"\'+Region; Syd"' in body  # ; quoted in a comma file, + neutralised
