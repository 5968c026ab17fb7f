"""The duplicates work list: suspected pairs ranked by score, compared side by side on the
merge page (entries chosen by search, not by typing numbers), and "not a duplicate"
remembered."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.registry import duplicates
from bot.registry.duplicates import suspected_pairs
from moderation.models import AuditEvent, DuplicateDismissal, Submission
from tests.conftest import MakeInitiative, MakeSubmission
from tests.moderation_support import csrf_of, login, moderation_client, use_fast_hashes

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest_asyncio.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    async with moderation_client(db, settings, ("anna", "moderator")) as c:
        yield c


async def three_entries(make_initiative: MakeInitiative) -> tuple[int, int, int, int]:
    """Two near-identical KOL entries, a looser match, and an unrelated one."""
    kol = await make_initiative(title="Telemedicinsk hjemmemonitorering af KOL-patienter",
                                organisation="Aalborg Kommune", regions=["nordjylland"])
    twin = await make_initiative(title="Telemedicinsk hjemmemonitorering af KOL patienter",
                                 organisation="Aalborg Kommune", regions=["nordjylland"])
    loose = await make_initiative(title="Hjemmemonitorering af KOL i Hjørring",
                                  organisation="Hjørring Kommune", regions=["nordjylland"])
    other = await make_initiative(title="Videokonsultation i psykiatrien",
                                  organisation="Region Hovedstaden", regions=["hovedstaden"])
    return kol.id, twin.id, loose.id, other.id


@pytest.mark.asyncio
async def test_pairs_are_ranked_and_a_dismissed_pair_stays_away(
        db: Database, make_initiative: MakeInitiative) -> None:
    kol, twin, loose, other = await three_entries(make_initiative)
    async with db.read() as session:
        duplicates.invalidate(session)
        pairs = await suspected_pairs(session)
    assert pairs, "the twins must be suspected"
    best = pairs[0]
    assert (best.low_id, best.high_id) == (kol, twin) and best.score >= 90
    assert all(other not in (p.low_id, p.high_id) for p in pairs)
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    async with db.read() as session:
        rest = await suspected_pairs(session, dismissed=[(kol, twin)])
    assert (kol, twin) not in {(p.low_id, p.high_id) for p in rest}


@pytest.mark.asyncio
async def test_the_work_list_leads_to_the_side_by_side_view_and_remembers_a_dismissal(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    kol, twin, _loose, other = await three_entries(make_initiative)
    async with db.read() as session:
        duplicates.invalidate(session)
    await login(client, "anna")
    html = await (await client.get("/moderation/duplicates")).text()
    assert f"Opslag {kol}" in html and f"Opslag {twin}" in html
    assert f"Opslag {other}</strong>" not in html
    compare = f'/moderation/merge?source={twin}&amp;target={kol}'
    assert compare in html
    merge = await (await client.get(compare.replace("&amp;", "&"))).text()
    assert "De to opslag side om side" in merge and "Ikke en dublet" in merge

    # "Not a duplicate", from the merge page: remembered, audited, gone from the list
    # (in either order, and after the index is rebuilt).
    resp = await client.post("/moderation/duplicates/dismiss",
                             data={"csrf_token": csrf_of(merge), "first": str(twin),
                                   "second": str(kol)})
    assert resp.status == 200
    html = await resp.text()
    assert "vises ikke igen" in html
    assert compare not in html
    async with db.read() as session:
        assert [(d.low_id, d.high_id, d.actor) for d in await session.scalars(
            select(DuplicateDismissal))] == [(kol, twin, "anna")]
        event = await session.scalar(select(AuditEvent).where(
            AuditEvent.action == "initiative.not_duplicate"))
        assert event is not None and event.detail == {"other": twin}
        duplicates.invalidate(session)
    assert compare not in await (await client.get("/moderation/duplicates")).text()
    merge = await (await client.get(compare.replace("&amp;", "&"))).text()
    assert "markeret som forskellige opslag" in merge
    audit = await (await client.get("/moderation/audit")).text()
    assert "Markeret som ikke en dublet" in audit and f"og Opslag {twin}" in audit


@pytest.mark.asyncio
async def test_the_merge_page_finds_entries_by_title_or_number(
        client: Client, db: Database, make_initiative: MakeInitiative) -> None:
    kol, twin, loose, other = await three_entries(make_initiative)
    await login(client, "anna")
    html = await (await client.get("/moderation/merge?source_q=psykiatri")).text()
    assert f'name="source" value="{other}"' in html
    assert f'name="source" value="{kol}"' not in html
    html = await (await client.get(f"/moderation/merge?target_q={loose}")).text()
    assert f'name="target" value="{loose}"' in html
    html = await (await client.get("/moderation/merge?source_q=findes+ikke")).text()
    assert "Ingen opslag passer på søgningen." in html
    # A chosen entry stays chosen while the other side is searched for.
    html = await (await client.get(f"/moderation/merge?source={other}&target_q=KOL")).text()
    assert f'name="source" value="{other}" checked' in html
    assert f'name="target" value="{kol}"' in html and f'name="target" value="{twin}"' in html


@pytest.mark.asyncio
async def test_a_case_is_marked_as_a_duplicate_of_an_entry_found_by_search(
        client: Client, db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    kol, _twin, _loose, other = await three_entries(make_initiative)
    sub = await make_submission(kind="new", proposed={"title": "Psykiatri over video"})
    await login(client, "anna")
    html = await (await client.get(f"/moderation/item/{sub.id}")).text()
    assert "Søg efter opslaget ovenfor." in html or 'name="target"' in html
    html = await (await client.get(f"/moderation/item/{sub.id}?dup_q=psykiatrien")).text()
    assert f'name="target" value="{other}"' in html
    assert f'name="target" value="{kol}"' not in html
    resp = await client.post(f"/moderation/item/{sub.id}/duplicate",
                             data={"csrf_token": csrf_of(html), "target": str(other)},
                             allow_redirects=False)
    assert resp.status == 303
    async with db.read() as session:
        case = await session.get(Submission, sub.id)
    assert case is not None and case.state == "duplicate"
