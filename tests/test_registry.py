"""Registry model, version history, migrations — on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.migrate import current_revision, head_revision, upgrade
from bot.registry.models import Contact, Initiative
from bot.registry.repository import StaleVersion, apply_changes, history
from tests.conftest import MakeInitiative

pytestmark = pytest.mark.asyncio


async def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    assert await current_revision(db) == head_revision()
    await upgrade(db)  # a second run changes nothing
    assert await current_revision(db) == head_revision()


async def test_create_makes_version_one_with_derived_fields(
        db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative(participants=["sygehus", "kommune", "almen_praksis"])
    async with db.read() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        assert row.slug == "telemedicinsk-hjemmemonitorering-af-kol"
        assert row.sector == "alle_tre"
        assert row.record()["contact_email"] == "kontakt1@example.dk"
        versions = await history(session, entry.id)
    assert [v.version for v in versions] == [1]
    assert versions[0].data["title"] == entry.title


async def test_every_change_writes_an_immutable_version(
        db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    async with db.write() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        await apply_changes(session, row, {"status": "afsluttet", "end_date": "2024-06"},
                            actor="mod1", channel="web")
    async with db.write() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        await apply_changes(session, row, {"contact_email": "ny@example.dk",
                                           "contact_name": "Ny Person"},
                            actor="mod2", channel="email")
    async with db.read() as session:
        versions = await history(session, entry.id)
        contacts = (await session.scalars(select(Contact).order_by(Contact.id))).all()
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].data["status"] == "i_drift"  # old snapshot untouched
    assert versions[1].data["status"] == "afsluttet"
    assert versions[1].changed == ["end_date", "status"]
    assert (versions[2].actor, versions[2].channel) == ("mod2", "email")
    assert versions[2].data["contact_email"] == "ny@example.dk"
    assert [c.email for c in contacts] == ["kontakt1@example.dk", "ny@example.dk"]


async def test_same_slug_gets_a_suffix(db: Database, make_initiative: MakeInitiative) -> None:
    a = await make_initiative(title="Video-konsultation")
    b = await make_initiative(title="Video konsultation")
    assert (a.slug, b.slug) == ("video-konsultation", "video-konsultation-2")


async def test_no_change_writes_no_version(db: Database,
                                           make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    async with db.write() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        assert await apply_changes(session, row, {"status": "i_drift"}, actor="x",
                                   channel="web") is None
    async with db.read() as session:
        versions = await history(session, entry.id)
        row = await session.get(Initiative, entry.id)
        assert row is not None
    assert [v.version for v in versions] == [1]  # no version row was written
    assert (row.version, row.updated_at) == (entry.version, entry.updated_at)


async def test_stale_version_is_refused(db: Database, make_initiative: MakeInitiative) -> None:
    entry = await make_initiative()
    async with db.write() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        await apply_changes(session, row, {"status": "afsluttet"}, actor="a", channel="web")
    with pytest.raises(StaleVersion):
        async with db.write() as session:
            row = await session.get(Initiative, entry.id)
            assert row is not None
            await apply_changes(session, row, {"status": "projekt"}, actor="b",
                                channel="web", expected_version=1)


async def test_models_and_migrations_agree(db: Database) -> None:
    """Alembic's autogenerate finds nothing to do on a migrated database: the hand-written
    migrations create exactly what the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bot.core.migrate import include_name
    from bot.schema import metadata

    def diff(connection: object) -> list[object]:
        ctx = MigrationContext.configure(connection, opts={  # type: ignore[arg-type]
            "compare_type": False, "include_name": include_name})
        return list(compare_metadata(ctx, metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
