"""The public HTML pages: catalogue, initiative page, statistics, map, open-data page,
404 and merged entries; language; and that text from mail or chat never becomes markup."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.contacts import record_consent
from bot.public.web import safe_url
from bot.registry.models import Initiative
from bot.registry.repository import apply_changes
from moderation.decisions import merge_initiatives
from tests.conftest import MakeInitiative
from tests.public_seed import seed_sample

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def _html(client: TestClient[Any, Any], url: str, status: int = 200, **kw: Any) -> str:
    resp = await client.get(url, **kw)
    assert resp.status == status, url
    assert resp.headers["Content-Type"].startswith("text/html")
    return await resp.text()


@pytest.mark.asyncio
async def test_catalogue_lists_filters_and_pages(db: Database,
                                                 client: TestClient[Any, Any]) -> None:
    await seed_sample(db, 25)
    html = await _html(client, "/")
    assert "<strong>25</strong> initiativer fundet" in html
    assert html.count('class="result"') == 20
    assert 'href="/?page=2"' in html and 'rel="next"' in html
    assert 'lang="da"' in html
    page2 = await _html(client, "/?page=2")
    assert page2.count('class="result"') == 5 and 'aria-current="page">2<' in page2
    # Every filter has a labelled menu with counts.
    for name in ("status", "region", "municipality", "participant", "patient_group",
                 "technology", "sector"):
        assert f'<label for="f-{name}">' in html and f'id="f-{name}" name="{name}"' in html
    assert re.search(r'<option value="nordjylland">Region Nordjylland \(\d+\)</option>', html)

    html = await _html(client, "/?region=nordjylland&status=i_drift")
    assert re.search(r"<strong>\d+</strong> initiativ", html)
    assert '<option value="nordjylland" selected>' in html
    assert "Region:</span> Region Nordjylland" in html  # removable filter chip
    assert 'href="/export.csv?status=i_drift&amp;region=nordjylland&amp;lang=da"' in html
    for title in re.findall(r'<h2 class="result-title"><a [^>]*>([^<]+)</a>', html):
        assert title
    nothing = await _html(client, "/?q=findes-slet-ikke")
    assert "Ingen initiativer passer til søgningen." in nothing
    assert "<strong>0</strong>" in nothing


@pytest.mark.asyncio
async def test_catalogue_result_shows_the_essentials(
        db: Database, client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    item = await make_initiative(title="Hjemmemonitorering af KOL")
    async with db.write() as session:
        entry = await session.get(Initiative, item.id)
        assert entry is not None
        await apply_changes(session, entry, {}, actor="mod", channel="web", confirm=True)
    html = await _html(client, "/?q=kol")
    assert f'href="/initiativ/{item.slug}"' in html
    assert '<span class="badge ok">I drift</span>' in html
    assert "Region Nordjylland" in html and "<span class=\"org\">Region Nordjylland</span>" in html
    assert "Sidst bekræftet: <time" in html


@pytest.mark.asyncio
async def test_initiative_page(db: Database, client: TestClient[Any, Any],
                               make_initiative: MakeInitiative) -> None:
    item = await make_initiative(title="Telemedicinsk sårvurdering", status="projekt",
                                 website="javascript:alert(1)", end_date="2025-06")
    async with db.write() as session:
        entry = await session.get(Initiative, item.id)
        assert entry is not None
        await apply_changes(session, entry, {"technology": ["App"], "contact_phone": "+4599"},
                            actor="moderator@example.dk", channel="web")
        entry.unconfirmed = True
        entry.needs_new_contact = True
        assert entry.contact_id is not None  # the contact agreed to be shown
        await record_consent(session, entry.contact_id, True, source="link")
    html = await _html(client, f"/initiativ/{item.slug}")
    assert "<h1>Telemedicinsk sårvurdering</h1>" in html
    assert "Afprøves med et defineret formål" in html  # status help text
    assert ">Kommune</a>, <a href=\"/?participant=sygehus\">Sygehus</a>" in html
    assert 'href="/?region=nordjylland">Region Nordjylland</a>' in html
    assert 'href="/?municipality=Hj%C3%B8rring">Hjørring</a>' in html
    assert "1. marts 2019" in html and "juni 2025" in html
    assert "Mette Jensen" in html and 'href="mailto:kontakt1@example.dk"' in html
    assert 'href="tel:+4599"' in html
    assert ('<a href="https://example.dk/evaluering-kol.pdf" rel="noopener nofollow"'
            in html)
    assert 'href="javascript:' not in html
    assert '<span class="unsafe-link">javascript:alert(1)</span>' in html
    assert "ikke bekræftet ved seneste årlige opfølgning" in html
    assert "mangler en ny kontaktperson" in html
    assert f'href="/chat?initiative={item.slug}"' in html
    assert "Ikke bekræftet endnu" in html
    # History: dates and fields, never who.
    assert "Ændret: Teknologi, Telefon" in html and "Oprettet i landkortet" in html
    assert "moderator@example.dk" not in html

    english = await _html(client, f"/initiativ/{item.slug}?lang=en")
    assert 'lang="en"' in english and "Being tried out" in english
    assert "Changed: Technology, Phone" in english and "1 March 2019" in english


@pytest.mark.asyncio
async def test_merged_entry_redirects_and_unknown_is_404(
        db: Database, client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    keep = await make_initiative(title="Telecare Nord")
    dup = await make_initiative(title="Telecare Nord igen")
    await merge_initiatives(db, dup.id, keep.id, actor="mod")
    resp = await client.get(f"/initiativ/{dup.slug}", allow_redirects=False)
    assert resp.status == 301 and resp.headers["Location"] == f"/initiativ/{keep.slug}"
    html = await _html(client, "/initiativ/findes-ikke", status=404)
    assert "Siden findes ikke" in html


@pytest.mark.asyncio
async def test_statistics_page(db: Database, client: TestClient[Any, Any]) -> None:
    empty = await _html(client, "/statistik")
    assert "ingen offentliggjorte initiativer" in empty
    await seed_sample(db, 20)
    html = await _html(client, "/statistik")
    assert len(re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="chart" '
                          r'role="(?:img|group)" [^>]*aria-labelledby=', html)) == 7
    for fig in ("status", "ongoing_ended", "participants", "sectors", "sector_combos",
                "regions", "years"):
        assert f'id="fig-{fig}"' in html
    assert html.count("<table>") == 7 and "<th scope=\"col\" class=\"num\">Andel</th>" in html
    assert ">20</span> <span class=\"what\">initiativer i alt" in html
    assert "5 (25,0\xa0%)" in html  # Babel: no break before %


@pytest.mark.asyncio
async def test_map_page(db: Database, client: TestClient[Any, Any],
                        make_initiative: MakeInitiative) -> None:
    await make_initiative(regions=["nordjylland"], municipalities=["Aalborg", "Læsø"])
    html = await _html(client, "/kort")
    assert html.count('class="region-link"') == 5
    assert html.count('class="municipality-link"') == 98
    assert 'href="/?region=nordjylland"' in html
    assert 'href="/?municipality=L%C3%A6s%C3%B8"' in html
    assert "<title>Læsø Kommune: 1 initiativ</title>" in html
    assert "<title>Region Nordjylland: 1 initiativ</title>" in html
    english = await _html(client, "/kort?lang=en")
    assert "North Denmark Region: 1 initiative" in english
    assert 'href="/?region=nordjylland&amp;lang=en"' in english


@pytest.mark.asyncio
async def test_language_is_remembered_and_switch_keeps_filters(
        client: TestClient[Any, Any]) -> None:
    resp = await client.get("/?region=nordjylland&lang=en")
    html = await resp.text()
    assert 'lang="en"' in html and resp.cookies["lang"].value == "en"
    assert 'href="/?region=nordjylland&amp;lang=da"' in html  # the language switch
    html = await _html(client, "/statistik")  # the cookie carries the choice
    assert 'lang="en"' in html


def test_safe_url() -> None:
    assert safe_url("https://example.dk/a?b=1") == "https://example.dk/a?b=1"
    assert safe_url(" http://x.dk ") == "http://x.dk"
    for bad in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "//x.dk",
                "ftp://x.dk", "https://", "https://x.dk/\"onmouseover=alert(1)", "", None):
        assert safe_url(bad) is None, bad


@pytest.mark.asyncio
async def test_text_from_mail_never_becomes_markup(
        db: Database, client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    evil = await make_initiative(
        title=f"Evil {SCRIPT}{IMG}", description=f"Beskrivelse {SCRIPT} og {IMG}",
        organisation=f"Org {IMG}{SCRIPT}", patient_groups=[SCRIPT, IMG], technology=[IMG],
        contact_name=f"Navn {SCRIPT}", website=f"https://x.dk/{IMG}",
        evaluation_url=f"javascript:{SCRIPT}", regions=["hovedstaden"],
        municipalities=["København"])
    pages = ["/", "/?q=evil", f"/?patient_group={SCRIPT}", f"/?technology={IMG}",
             f"/initiativ/{evil.slug}", "/statistik", "/kort", "/api", "/?lang=en",
             f"/initiativ/{evil.slug}?lang=en"]
    for url in pages:
        html = await _html(client, url)
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", ""), url
        # Only our own script tag is on the page.
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/public.js" defer>']
    html = await _html(client, f"/initiativ/{evil.slug}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    api = await (await client.get(f"/api/initiatives/{evil.slug}")).json()
    assert api["title"] == f"Evil {SCRIPT}{IMG}"  # JSON keeps the text, as text


@pytest.mark.asyncio
async def test_links_keep_the_chosen_language(db: Database, client: TestClient[Any, Any],
                                              make_initiative: MakeInitiative) -> None:
    item = await make_initiative(title="Sprogtest")
    for lang in ("da", "en"):
        html = await _html(client, f"/?lang={lang}")
        assert f'href="/initiativ/{item.slug}?lang={lang}"' in html
        page = await _html(client, f"/initiativ/{item.slug}?lang={lang}")
        assert f'<a href="/?lang={lang}">' in page


def test_dates_and_counts_for_people() -> None:
    from datetime import date, datetime

    from bot.core.i18n import format_date, ngettext

    def count_text(n: int, lang: str = "da") -> str:
        return ngettext(lang)("pub.count", "pub.count.plural", n)
    assert format_date("2019-03-01") == "1. marts 2019"
    assert format_date("2019-03-01", "en") == "1 March 2019"
    assert format_date("2021-11") == "november 2021"
    assert format_date("2021") == "2021"
    assert format_date("engang i 2019") == "engang i 2019"
    assert format_date("2021-13-01") == "2021-13-01"
    assert format_date(datetime(2026, 5, 4, 12, 0)) == "4. maj 2026"
    assert format_date(date(2026, 5, 4), "en") == "4 May 2026"
    assert format_date(None) == "" and format_date("") == ""
    assert count_text(1) == "1 initiativ" and count_text(2) == "2 initiativer"
    assert count_text(1, "en") == "1 initiative" and count_text(0, "en") == "0 initiatives"


@pytest.mark.asyncio
async def test_a_misspelt_search_suggests_the_registrys_word(
        db: Database, client: TestClient[Any, Any], make_initiative: MakeInitiative) -> None:
    await make_initiative(title="Telemonitorering af hjertesvigt")
    html = await _html(client, "/?q=hjertsvigt")
    assert "Ingen initiativer passer til søgningen." in html
    assert 'Mente du <a href="/?q=hjertesvigt">hjertesvigt</a>?' in html
    assert "Mente du" not in await _html(client, "/?q=hjertesvigt")


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "lang", "title"), [
    ("/kort/", "da", "Siden findes ikke"), ("/map", "da", "Siden findes ikke"),
    ("/statistics?lang=en", "en", "Page not found")])
async def test_unknown_addresses_get_a_page_in_the_visitors_language(
        client: TestClient[Any, Any], path: str, lang: str, title: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    html = await resp.text()
    assert f'<html lang="{lang}">' in html and f"<h1>{title}</h1>" in html
    assert 'role="search"' in html and 'name="q"' in html  # a search box
    assert "404: Not Found" not in html


@pytest.mark.asyncio
async def test_programs_and_handlers_keep_their_own_errors(
        client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404 and "<html" not in await resp.text()
    resp = await client.get("/initiativ/findes-ikke")
    assert resp.status == 404  # the entry page's own not-found


@pytest.mark.asyncio
async def test_an_unexpected_error_gets_a_page_not_a_traceback(
        db: Database, settings: Settings) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from bot.app import create_app

    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    app.router.add_get("/boom", boom)
    async with TestClient(TestServer(app)) as c:
        resp = await c.get("/boom")
        html = await resp.text()
    assert resp.status == 500
    assert "Der skete en fejl hos os" in html and "secret detail" not in html


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "da", "en"), [
    ("/om", "Om Det telemedicinske landkort", "About the Danish telemedicine map"),
    ("/tilgaengelighed", "Tilgængelighedserklæring", "Accessibility statement"),
    ("/privatliv", "Privatlivserklæring", "Privacy notice"),
    ("/licens", "Licens for data", "Data licence"),
])
async def test_the_pages_a_public_site_owes(client: TestClient[Any, Any], path: str,
                                            da: str, en: str) -> None:
    html = await _html(client, path)
    assert f"<h1>{da}</h1>" in html and "CC BY 4.0" in html or path in ("/tilgaengelighed",
                                                                          "/privatliv")
    assert f"<h1>{en}</h1>" in await _html(client, f"{path}?lang=en")
    assert "{{" not in html  # every placeholder filled in
    front = await _html(client, "/")
    assert f'href="{path}"' in front  # linked from every page's footer


@pytest.mark.asyncio
async def test_an_administrator_replaces_a_page_without_code(
        db: Database, settings: Settings, tmp_path: Any) -> None:
    (tmp_path / "da").mkdir()
    (tmp_path / "da" / "om.md").write_text("# Vores egen side\n\nSkrevet af <b>os</b> "
                                           "<script>alert(1)</script>, licens {{licence}}.\n")
    app = create_app(settings.replace(content_dir=str(tmp_path), data_licence="CC0 1.0"), db,
                     components=("bot.public.web",), start_workers=False)
    async with TestClient(TestServer(app)) as c:
        html = await (await c.get("/om")).text()
        assert "<h1>Vores egen side</h1>" in html and "licens CC0 1.0" in html
        assert "<script>alert" not in html
        assert "About the Danish telemedicine map" in await (await c.get("/om?lang=en")).text()
