"""Open data: JSON API (paging, filters, one entry, merged and unknown entries),
statistics, CSV export, and the OpenAPI description (every documented path answers and
matches its documented keys)."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.contacts import record_consent
from bot.public.catalogue import API_FIELDS
from bot.public.web import csv_cell
from moderation.decisions import merge_initiatives
from tests.conftest import MakeInitiative
from tests.public_seed import seed_sample


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.asyncio
async def test_list_paging_and_filters(db: Database, client: TestClient[Any, Any]) -> None:
    await seed_sample(db, 12)
    resp = await client.get("/api/initiatives", params={"limit": "5"})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    page = await resp.json()
    assert page["total"] == 12 and page["limit"] == 5 and page["offset"] == 0
    assert len(page["items"]) == 5 and page["previous"] is None
    assert page["next"].endswith("/api/initiatives?limit=5&offset=5")
    assert all(list(item) == list(API_FIELDS) for item in page["items"])
    seen = [i["id"] for i in page["items"]]
    offset = 5
    while page["next"]:
        page = await (await client.get("/api/initiatives",
                                       params={"limit": "5", "offset": str(offset)})).json()
        seen += [i["id"] for i in page["items"]]
        offset += 5
    assert len(seen) == len(set(seen)) == 12

    page = await (await client.get("/api/initiatives?region=nordjylland&status=i_drift")).json()
    assert page["total"] >= 1
    for item in page["items"]:
        assert "nordjylland" in item["regions"] and item["status"] == "i_drift"
    page = await (await client.get("/api/initiatives", params={"q": "KOL"})).json()
    assert page["total"] >= 2
    assert all("kol" in (i["title"] + i["description"]).lower() for i in page["items"])

    for bad in ("0", "201", "x"):
        resp = await client.get("/api/initiatives", params={"limit": bad})
        assert resp.status == 400 and "error" in await resp.json()
    assert (await client.get("/api/initiatives?offset=-1")).status == 400


@pytest.mark.asyncio
async def test_one_entry_merged_and_missing(db: Database, client: TestClient[Any, Any],
                                            make_initiative: MakeInitiative,
                                            settings: Settings) -> None:
    keep = await make_initiative(title="Telecare Nord")
    dup = await make_initiative(title="Telecare Nord kopi")
    async with db.write() as session:  # the contact agreed to be shown
        await record_consent(session, keep.contact_id, True, source="link")
    await merge_initiatives(db, dup.id, keep.id, actor="mod")
    data = await (await client.get(f"/api/initiatives/{keep.slug}")).json()
    assert data["id"] == keep.id and data["url"] == f"{settings.base_url}/initiativ/{keep.slug}"
    assert data["contact_name"] == "Mette Jensen" and data["sector"] == "sygehus_kommune"
    assert data["last_confirmed_at"] is None and data["updated_at"].endswith("Z")
    resp = await client.get(f"/api/initiatives/{dup.slug}", allow_redirects=False)
    assert resp.status == 301 and resp.headers["Location"] == f"/api/initiatives/{keep.slug}"
    resp = await client.get("/api/initiatives/findes-ikke")
    assert resp.status == 404 and (await resp.json()) == {"error": "not found"}
    page = await (await client.get("/api/initiatives")).json()
    assert [i["slug"] for i in page["items"]] == [keep.slug]


@pytest.mark.asyncio
async def test_statistics(db: Database, client: TestClient[Any, Any]) -> None:
    await seed_sample(db, 8)
    data = await (await client.get("/api/statistics")).json()
    assert data["total"] == 8
    assert sum(data["by_status"].values()) == 8
    assert data["ongoing"] + data["ended"] == 8
    assert data["percent"]["by_status"]["projekt"] == 25.0


@pytest.mark.asyncio
async def test_csv_export(db: Database, client: TestClient[Any, Any],
                          make_initiative: MakeInitiative) -> None:
    await make_initiative(title="=HYPERLINK(\"http://evil\")", regions=["nordjylland",
                                                                      "syddanmark"])
    await make_initiative(title="Anden", regions=["hovedstaden"], status="projekt")
    resp = await client.get("/export.csv", params={"region": "nordjylland", "lang": "da"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == list(API_FIELDS)
    assert len(rows) == 1
    row = rows[0]
    assert row["title"].startswith("'=")  # never a live formula in a spreadsheet
    assert row["regions"] == "Region Nordjylland; Region Syddanmark"
    assert row["municipalities"] == "Aalborg; Hjørring"
    assert row["status"] == "I drift" and row["participants"] == "Kommune; Sygehus"
    english = await (await client.get("/export.csv", params={"lang": "en"})).read()
    assert "In operation" in english.decode("utf-8-sig")


def test_csv_cell() -> None:
    assert csv_cell("title", "+45 1234", "da") == "'+45 1234"
    assert csv_cell("title", "@SUM(A1)", "da") == "'@SUM(A1)"
    assert csv_cell("technology", ["App", "Video"], "da") == "App; Video"
    assert csv_cell("sector", "alle_tre", "en") == "Hospital–municipality–general practice"
    assert csv_cell("end_date", None, "da") == ""


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[1]
        return spec["components"]["schemas"][name]
    return schema


def _check(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """A small JSON-schema check: types, required keys, no undocumented keys, enums."""
    schema = _resolve(spec, schema)
    types = schema.get("type")
    allowed = types if isinstance(types, list) else [types] if types else []
    pytypes: dict[str, Any] = {"object": dict, "array": list, "string": str, "integer": int,
               "number": (int, float), "null": type(None), "boolean": bool}
    if allowed:
        assert any(isinstance(value, pytypes[t]) for t in allowed), (where, value, allowed)
    if "enum" in schema:
        assert value in schema["enum"], (where, value)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, (where, key)
        props = schema.get("properties")
        if props is not None and schema.get("additionalProperties") is False:
            assert set(value) <= set(props), (where, set(value) - set(props))
        for key, sub in (props or {}).items():
            if key in value:
                _check(spec, sub, value[key], f"{where}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, v in value.items():
                if key not in (props or {}):
                    _check(spec, extra, v, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _check(spec, schema["items"], v, f"{where}[{i}]")


@pytest.mark.asyncio
async def test_openapi_paths_answer_and_match(db: Database, client: TestClient[Any, Any],
                                              make_initiative: MakeInitiative) -> None:
    first = await make_initiative(title="Første")
    await make_initiative(title="Anden", evaluation_url=None, end_date="2023-05")
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["components"]["schemas"]["Initiative"]["required"]) == set(API_FIELDS)
    for path, ops in spec["paths"].items():
        url = path.replace("{slug}", first.slug)
        op = ops["get"]
        resp = await client.get(url)
        assert resp.status == 200, path
        content = op["responses"]["200"].get("content", {})
        if "application/json" in content:
            body = await resp.json()
            _check(spec, content["application/json"]["schema"], body, path)
        elif "text/csv" in content:
            header = (await resp.read()).decode("utf-8-sig").splitlines()[0]
            assert header.split(",") == list(API_FIELDS)
        else:
            await resp.read()
        for param in op.get("parameters", []):
            assert param["in"] in ("query", "path")


@pytest.mark.asyncio
async def test_the_excel_csv_has_semicolons_danish_names_and_safe_cells(
        client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    await make_initiative(title="=HYPERLINK(\"http://evil\")", status="i_drift",
                          regions=["nordjylland"], municipalities=["Aalborg", "Hjørring"])
    resp = await client.get("/export.csv", params={"format": "excel", "lang": "da"})
    assert resp.status == 200
    assert "excel" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode())  # UTF-8 with BOM: Excel reads æøå
    text = raw.decode("utf-8-sig")
    header, first = text.split("\r\n")[:2]
    assert header.startswith("Id;Kortnavn;Link;Titel;Beskrivelse;Status;")
    assert "Slutdato" in header and "Sidst ændret" in header
    assert "'=HYPERLINK" in first  # the formula is text, not a formula
    assert "I drift" in first and "Region Nordjylland" in first
    assert '"Aalborg; Hjørring"' in first  # a cell holding the delimiter is quoted
    english = await client.get("/export.csv", params={"format": "excel", "lang": "en"})
    assert (await english.read()).decode("utf-8-sig").startswith("Id;Slug;Link;Title;")


@pytest.mark.asyncio
async def test_the_data_licence_is_stated(client: TestClient[Any, Any]) -> None:
    for path in ("/api/initiatives", "/export.csv", "/api/openapi.json"):
        resp = await client.get(path)
        assert 'rel="license"' in resp.headers["Link"]
        assert "creativecommons.org/licenses/by/4.0" in resp.headers["Link"]
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["info"]["license"] == {"name": "CC BY 4.0",
                                       "url": "https://creativecommons.org/licenses/by/4.0/"}


@pytest.mark.asyncio
async def test_an_atom_feed_of_new_and_changed_initiatives(
        client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    from xml.etree import ElementTree as ET

    first = await make_initiative(title="Første <initiativ> & co")
    await make_initiative(title="Andet initiativ")
    resp = await client.get("/feed.atom")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(await resp.read())  # well-formed, escaped
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert set(titles) == {"Første <initiativ> & co", "Andet initiativ"}
    ids = [e.findtext("a:id", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert any(i.endswith(f"/initiativ/{first.slug}") for i in ids if i)
    assert "CC BY 4.0" in (feed.findtext("a:rights", namespaces=ns) or "")


@pytest.mark.asyncio
async def test_downloads_say_when_the_registry_last_changed(
        client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    await make_initiative()
    resp = await client.get("/export.csv")
    assert resp.headers["Last-Modified"].endswith(" GMT")
    html = await (await client.get("/")).text()
    assert "Landkortet er sidst opdateret" in html and "<time datetime=" in html
