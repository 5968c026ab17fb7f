"""Moderation decisions: approve, edit, reject, duplicates, conflicts and races."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.mail.models import OutboxMessage
from bot.registry.models import Initiative
from bot.registry.repository import history
from moderation import decisions
from moderation.models import AuditEvent, Submission
from tests.conftest import MakeInitiative, MakeSubmission, sample_record

pytestmark = pytest.mark.asyncio


async def test_approve_update_writes_version_and_confirms(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(initiative=entry, proposed={"status": "afsluttet"})
    outcome = await decisions.approve(db, sub.id, actor="mod")
    assert (outcome.state, outcome.version) == ("approved", 2)
    async with db.read() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None and row.status == "afsluttet"
        assert row.last_confirmed_at is not None
        versions = await history(session, entry.id)
        events = (await session.scalars(select(AuditEvent.action))).all()
    assert versions[-1].submission_id == sub.id
    assert "submission.approved" in events


async def test_edit_then_approve_new_entry(db: Database,
                                           make_submission: MakeSubmission) -> None:
    record = sample_record(title="Video-sårvurdering", status=None)
    sub = await make_submission(kind="new", channel="chat", proposed=record)
    outcome = await decisions.approve(db, sub.id, actor="mod",
                                      edits={"status": "projekt"})
    async with db.read() as session:
        row = await session.get(Initiative, outcome.initiative_id)
        assert row is not None
        assert (row.title, row.status) == ("Video-sårvurdering", "projekt")
        stored = await session.get(Submission, sub.id)
        assert stored is not None and stored.proposed["status"] == "projekt"


async def test_approve_conflict_is_reported_not_overwritten(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    first = await make_submission(initiative=entry, proposed={"status": "afsluttet"})
    second = await make_submission(initiative=entry, proposed={"status": "projekt"})
    await decisions.approve(db, first.id, actor="mod1")
    with pytest.raises(decisions.Conflict) as info:
        await decisions.approve(db, second.id, actor="mod2")
    assert (info.value.base_version, info.value.current_version) == (1, 2)
    async with db.read() as session:
        row = await session.get(Initiative, entry.id)
        again = await session.get(Submission, second.id)
    assert row is not None and row.status == "afsluttet"
    assert again is not None and again.state == "pending"  # rolled back, still open
    # Having seen the conflict, the moderator may approve against the current version.
    outcome = await decisions.approve(db, second.id, actor="mod2", force=True)
    assert outcome.version == 3


async def test_two_moderators_exactly_one_wins(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(initiative=entry, proposed={"status": "afsluttet"})

    async def decide(who: str) -> object:
        try:
            if who == "anna":
                return await decisions.approve(db, sub.id, actor=who)
            return await decisions.reject(db, sub.id, actor=who, reason="Dublet")
        except decisions.AlreadyDecided as exc:
            return exc

    for _round in range(1):
        results = await asyncio.gather(decide("anna"), decide("bo"))
    wins = [r for r in results if isinstance(r, decisions.Decision)]
    losses = [r for r in results if isinstance(r, decisions.AlreadyDecided)]
    assert len(wins) == 1 and len(losses) == 1
    assert "already decided" in str(losses[0])
    async with db.read() as session:
        versions = await history(session, entry.id)
        row = await session.get(Submission, sub.id)
    assert row is not None and row.state == wins[0].state  # type: ignore[attr-defined]
    assert len(versions) == (2 if row.state == "approved" else 1)


async def test_many_concurrent_deciders(db: Database, make_initiative: MakeInitiative,
                                        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    subs = [await make_submission(initiative=entry, proposed={"technology": [f"T{i}"]})
            for i in range(3)]

    async def approve(sid: int, who: str) -> str:
        try:
            await decisions.approve(db, sid, actor=who, force=True)
            return "won"
        except decisions.AlreadyDecided:
            return "lost"

    results = await asyncio.gather(*[approve(s.id, f"m{i}") for s in subs for i in range(4)])
    assert results.count("won") == 3 and results.count("lost") == 9


async def test_reject_queues_mail_in_senders_language(
        db: Database, settings: Settings, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(initiative=entry, proposed={"status": "projekt"},
                                language="en", sender_email="sender@example.org")
    await decisions.reject(db, sub.id, actor="mod", reason="Not a telemedicine initiative",
                           settings=settings)
    async with db.read() as session:
        mail = await session.scalar(select(OutboxMessage))
    assert mail is not None and mail.to_addr == "sender@example.org"
    assert mail.kind == "rejection" and b"Not a telemedicine initiative" in mail.raw
    assert "not accepted" in mail.subject
    with pytest.raises(decisions.AlreadyDecided):
        await decisions.reject(db, sub.id, actor="mod", reason="again", settings=settings)


async def test_mark_duplicate_merges_chosen_fields(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    sub = await make_submission(kind="new", proposed=sample_record(
        title="Hjemmemonitorering KOL", website="https://example.dk/ny", status="projekt"))
    await decisions.mark_duplicate(db, sub.id, actor="mod", target_id=entry.id,
                                   take_fields=["website"])
    async with db.read() as session:
        row = await session.get(Initiative, entry.id)
        stored = await session.get(Submission, sub.id)
    assert row is not None and row.website == "https://example.dk/ny"
    assert row.status == "i_drift"  # not chosen, not taken
    assert stored is not None and stored.state == "duplicate"


async def test_merge_initiatives_hides_the_source(
        db: Database, make_initiative: MakeInitiative) -> None:
    a = await make_initiative(title="Tele-KOL Aalborg")
    b = await make_initiative(title="TeleKOL i Aalborg", website="https://example.dk/b")
    await decisions.merge_initiatives(db, b.id, a.id, actor="mod", take_fields=["website"])
    async with db.read() as session:
        src = await session.get(Initiative, b.id)
        dst = await session.get(Initiative, a.id)
    assert src is not None and src.merged_into_id == a.id
    assert dst is not None and dst.website == "https://example.dk/b"


async def test_claims_expire_and_block_others(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    sub = await make_submission(initiative=await make_initiative(), proposed={})
    assert (await decisions.claim(db, sub.id, actor="anna")).claimed_by == "anna"
    assert (await decisions.claim(db, sub.id, actor="bo")).claimed_by == "anna"
    assert (await decisions.claim(db, sub.id, actor="bo", timeout_minutes=-1)).claimed_by == "bo"


async def test_bulk_approve_only_confirmations(
        db: Database, make_initiative: MakeInitiative,
        make_submission: MakeSubmission) -> None:
    entry = await make_initiative()
    conf = await make_submission(initiative=entry, kind="confirmation", proposed={})
    upd = await make_submission(initiative=entry, proposed={"status": "projekt"})
    done, problems = await decisions.bulk_approve_confirmations(db, [conf.id, upd.id],
                                                                actor="mod")
    assert [o.submission_id for o in done] == [conf.id]
    assert problems == [f"item {upd.id} is not a confirmation"]
