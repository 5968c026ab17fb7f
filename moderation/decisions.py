"""Moderators' decisions: plain async functions the web UI, the CLI and the tests call.

Each decision is one write transaction: the submission's state change, the registry
change (a new version), the audit event and any mail to the sender (outbox) commit
together or not at all.

Two moderators deciding the same item: the state change (:func:`moderation.submissions.move`)
is a conditional UPDATE
(``WHERE state IN ('pending', 'needs_info')``), so exactly one of them changes a row and
the other gets :class:`AlreadyDecided` — on SQLite because ``BEGIN IMMEDIATE`` serialises
writers, on PostgreSQL because the second UPDATE waits for the first's row lock and then
re-checks the condition. An approval whose base version is no longer the entry's
current version raises :class:`Conflict` instead of overwriting someone else's change.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.registry import search_index
from bot.registry.evaluation_reports import move_report
from bot.registry.fields import normalise
from bot.registry.models import Initiative
from bot.registry.record import FIELD_KEYS
from bot.registry.repository import StaleVersion, apply_changes, create_initiative
from moderation.audit import record_event
from moderation.models import DuplicateDismissal, Submission
from moderation.notices import enqueue_thanks
from moderation.states import OPEN_STATES
from moderation.submissions import AlreadyDecided, DecisionError, NotFound, move


class Conflict(DecisionError):
    """The entry changed after the proposal was made; approving would overwrite that."""

    def __init__(self, submission_id: int, initiative_id: int, base: int | None,
                 current: int) -> None:
        super().__init__(f"entry {initiative_id} changed since item {submission_id} was "
                         f"made (version {base} → {current}); review the current values "
                         f"and approve again")
        self.submission_id = submission_id
        self.initiative_id = initiative_id
        self.base_version = base
        self.current_version = current


class InvalidDecision(DecisionError):
    pass


@dataclass(frozen=True)
class Decision:
    """What a decision did."""

    submission_id: int
    state: str
    initiative_id: int | None = None
    version: int | None = None


def _clean_edits(edits: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = [k for k in (edits or {}) if k not in FIELD_KEYS]
    if unknown:
        raise InvalidDecision(f"unknown field(s): {', '.join(unknown)}")
    return dict(edits or {})


async def approve(db: Database, submission_id: int, *, actor: str,
                  edits: Mapping[str, Any] | None = None, force: bool = False,
                  settings: Settings | None = None, thank: bool = True) -> Decision:
    """Approve (optionally after editing the proposed values).

    ``force`` approves against the entry's current version after the moderator has seen
    the conflict; without it a changed entry raises :class:`Conflict`. With ``settings``
    the contact whose own answer this was is thanked in the same transaction
    (:func:`moderation.notices.enqueue_thanks`; ``thank=False`` leaves it to the caller).
    """
    changes = _clean_edits(edits)
    async with db.write() as session:
        sub = await move(session, submission_id, actor, "approved")
        proposed = {**sub.proposed, **changes}
        if sub.kind == "new":
            if not proposed.get("title"):
                raise InvalidDecision("a new entry needs a title: edit it before approving")
            initiative = await create_initiative(
                session, proposed, actor=actor, channel=sub.channel, submission_id=sub.id,
                confirmed_at=dbnow(), language=sub.language)
            version = 1
        else:
            initiative = await _initiative_for(session, sub)
            if not force and sub.base_version is not None \
                    and initiative.version != sub.base_version:
                raise Conflict(sub.id, initiative.id, sub.base_version, initiative.version)
            try:
                written = await apply_changes(
                    session, initiative, proposed, actor=actor, channel=sub.channel,
                    expected_version=initiative.version, submission_id=sub.id, confirm=True)
            except StaleVersion as exc:
                raise Conflict(sub.id, initiative.id, sub.base_version, exc.current) from None
            version = written.version if written else initiative.version
        sub.result_initiative_id = initiative.id
        if changes:
            sub.proposed = proposed
        await record_event(session, actor=actor, action="submission.approved",
                           submission_id=sub.id, initiative_id=initiative.id,
                           detail={"kind": sub.kind, "edited": sorted(changes),
                                   "version": version, "forced": force})
        if settings is not None and thank:
            await enqueue_thanks(session, settings, [sub])
        return Decision(sub.id, "approved", initiative.id, version)


async def _initiative_for(session: AsyncSession, sub: Submission) -> Initiative:
    if sub.initiative_id is None:
        raise InvalidDecision(f"item {sub.id} ({sub.kind}) names no entry")
    # Lock the entry (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) so
    # the version compared below is the one the change is applied to.
    initiative = await session.get(Initiative, sub.initiative_id, populate_existing=True,
                                   with_for_update=True)
    if initiative is None:
        raise NotFound(f"entry {sub.initiative_id} is gone")
    return initiative


async def reject(db: Database, submission_id: int, *, actor: str, reason: str,
                 settings: Settings | None = None, notify: bool = True) -> Decision:
    """Reject with a reason; the sender is told (in their language) when ``notify`` and
    settings are given."""
    if not reason.strip():
        raise InvalidDecision("a rejection needs a reason")
    async with db.write() as session:
        sub = await move(session, submission_id, actor, "rejected", reason=reason.strip())
        mailed = False
        if notify and settings is not None and sub.sender_email:
            from moderation.notices import enqueue_rejection

            mailed = await enqueue_rejection(session, settings, sub, reason.strip())
        await record_event(session, actor=actor, action="submission.rejected",
                           submission_id=sub.id, initiative_id=sub.initiative_id,
                           detail={"reason": reason.strip(), "mailed": mailed})
        return Decision(sub.id, "rejected", sub.initiative_id)


async def ask_for_info(db: Database, submission_id: int, *, actor: str, message: str,
                       settings: Settings) -> Decision:
    """Ask the sender for more information; the item waits in needs_info until they
    answer (intake returns it to pending)."""
    if not message.strip():
        raise InvalidDecision("write what you need to know")
    async with db.write() as session:
        sub = await move(session, submission_id, actor, "needs_info",
                          reason=message.strip(), from_states=("pending",))
        # needs_info is not a final decision: keep it open for the answer.
        sub.decided_by = None
        sub.decided_at = None
        mailed = False
        if sub.sender_email:
            from moderation.notices import enqueue_needs_info

            mailed = await enqueue_needs_info(session, settings, sub, message.strip())
        await record_event(session, actor=actor, action="submission.needs_info",
                           submission_id=sub.id, initiative_id=sub.initiative_id,
                           detail={"message": message.strip(), "mailed": mailed})
        return Decision(sub.id, "needs_info", sub.initiative_id)


async def mark_duplicate(db: Database, submission_id: int, *, actor: str, target_id: int,
                         take_fields: Iterable[str] = ()) -> Decision:
    """Mark a submission as a duplicate of an existing entry, merging the chosen
    proposed fields into that entry (field by field)."""
    fields = list(take_fields)
    async with db.write() as session:
        sub = await move(session, submission_id, actor, "duplicate")
        target = await session.get(Initiative, target_id, populate_existing=True)
        if target is None or target.merged_into_id is not None:
            raise InvalidDecision(f"entry {target_id} cannot take a merge")
        unknown = [f for f in fields if f not in sub.proposed]
        if unknown:
            raise InvalidDecision(f"the item proposes no {', '.join(unknown)}")
        written = await apply_changes(
            session, target, {f: sub.proposed[f] for f in fields}, actor=actor,
            channel=sub.channel, submission_id=sub.id,
            note=f"merged from item {sub.id}") if fields else None
        sub.result_initiative_id = target.id
        await record_event(session, actor=actor, action="submission.duplicate",
                           submission_id=sub.id, initiative_id=target.id,
                           detail={"fields": fields})
        return Decision(sub.id, "duplicate", target.id,
                       written.version if written else target.version)


async def dismiss_duplicate(db: Database, first_id: int, second_id: int, *,
                            actor: str) -> bool:
    """Remember that two entries are *not* duplicates (the work list's "Ikke en dublet"),
    audited; False when that was already remembered. Order does not matter."""
    low, high = sorted((first_id, second_id))
    if low == high:
        raise InvalidDecision("an entry is not a duplicate of itself")
    async with db.write() as session:
        found = await session.scalars(select(Initiative.id).where(
            Initiative.id.in_((low, high))))
        if len(set(found)) != 2:
            raise NotFound("entry not found")
        if await session.get(DuplicateDismissal, (low, high)) is not None:
            return False
        session.add(DuplicateDismissal(low_id=low, high_id=high, actor=actor))
        await record_event(session, actor=actor, action="initiative.not_duplicate",
                           initiative_id=low, detail={"other": high})
    return True


async def merge_initiatives(db: Database, source_id: int, target_id: int, *, actor: str,
                            take_fields: Iterable[str] = ()) -> Decision:
    """Merge one published entry into another: chosen fields move over, the source is
    kept for history but no longer published."""
    fields = list(take_fields)
    if source_id == target_id:
        raise InvalidDecision("an entry cannot be merged into itself")
    async with db.write() as session:
        source = await session.get(Initiative, source_id, populate_existing=True)
        target = await session.get(Initiative, target_id, populate_existing=True)
        if source is None or target is None:
            raise NotFound("entry not found")
        if source.merged_into_id is not None or target.merged_into_id is not None:
            raise InvalidDecision("one of the entries is already merged")
        record = source.record()
        written = await apply_changes(session, target, {f: record[f] for f in fields},
                                      actor=actor, channel="web",
                                      note=f"merged from entry {source.id}") if fields else None
        source.merged_into_id = target.id
        source.version += 1
        await session.flush()
        await search_index.remove(session, source.id)
        await move_report(session, source.id, target.id)
        from bot.registry.models import InitiativeVersion

        session.add(InitiativeVersion(initiative_id=source.id, version=source.version,
                                      data=source.record(), changed=[], actor=actor,
                                      channel="web", note=f"merged into entry {target.id}"))
        await record_event(session, actor=actor, action="initiative.merged",
                           initiative_id=target.id,
                           detail={"source": source.id, "fields": fields})
        return Decision(0, "merged", target.id, written.version if written else target.version)


async def claim(db: Database, submission_id: int, *, actor: str,
                timeout_minutes: int = 30) -> Submission:
    """Claim an item for ``actor`` unless someone else holds a live claim. Returns the
    submission; its ``claimed_by`` says who holds it now."""
    stale = dbnow() - timedelta(minutes=timeout_minutes)
    async with db.write() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.state.in_(OPEN_STATES),
                   or_(Submission.claimed_by.is_(None), Submission.claimed_by == actor,
                       Submission.claimed_at < stale))
            .values(claimed_by=actor, claimed_at=dbnow())
            .execution_options(synchronize_session=False))
        sub = await session.get(Submission, submission_id, populate_existing=True)
        if sub is None:
            raise NotFound(f"no item {submission_id}")
        return sub


async def release(db: Database, submission_id: int, *, actor: str) -> None:
    async with db.write() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.claimed_by == actor)
            .values(claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False))


async def bulk_approve_confirmations(db: Database, submission_ids: Iterable[int], *,
                                     actor: str, settings: Settings | None = None
                                     ) -> tuple[list[Decision], list[str]]:
    """Approve pure confirmations one by one; returns (done, problems). With
    ``settings`` each contact gets one thank-you mail for all their entries."""
    done: list[Decision] = []
    problems: list[str] = []
    for sid in submission_ids:
        async with db.read() as session:
            kind = await session.scalar(select(Submission.kind).where(Submission.id == sid))
        if kind != "confirmation":
            problems.append(f"item {sid} is not a confirmation")
            continue
        try:
            done.append(await approve(db, sid, actor=actor, settings=settings, thank=False))
        except DecisionError as exc:
            problems.append(str(exc))
    if settings is not None and done:
        async with db.write() as session:
            subs = list((await session.scalars(select(Submission).where(
                Submission.id.in_([d.submission_id for d in done])))).all())
            await enqueue_thanks(session, settings, subs)
    return done, problems


async def set_contact(db: Database, initiative_id: int, *, actor: str,
                      contact_name: str | None, contact_email: str,
                      contact_phone: str | None = None,
                      expected_version: int | None = None) -> Decision:
    """Give an entry a new contact person (a new version; clears needs_new_contact when
    the new address is deliverable). ``expected_version`` guards against lost updates."""
    if not contact_email or "@" not in contact_email:
        raise InvalidDecision("a contact needs an e-mail address")
    # The one field parser, as everywhere else: a name without control characters (it
    # goes into mail headers), a real address, a readable phone number.
    changes: dict[str, Any] = {}
    for key, raw in (("contact_email", contact_email), ("contact_name", contact_name),
                     ("contact_phone", contact_phone)):
        got = normalise(key, raw or "", "da")
        if got.problem is not None:
            raise InvalidDecision(got.problem.message)
        changes[key] = got.value
    async with db.write() as session:
        initiative = await session.get(Initiative, initiative_id, populate_existing=True,
                                       with_for_update=True)
        if initiative is None:
            raise NotFound(f"no entry {initiative_id}")
        try:
            written = await apply_changes(session, initiative, changes, actor=actor,
                                          channel="web", expected_version=expected_version,
                                          note="new contact set by a moderator")
        except StaleVersion as exc:
            raise Conflict(0, initiative_id, expected_version, exc.current) from None
        if initiative.contact is not None and initiative.contact.email_status == "ok":
            initiative.needs_new_contact = False
        await record_event(session, actor=actor, action="initiative.contact_changed",
                           initiative_id=initiative.id,
                           detail={"contact_email": changes["contact_email"]})
        return Decision(0, "contact_changed", initiative.id,
                       written.version if written else initiative.version)


__all__ = [
    "AlreadyDecided", "Conflict", "DecisionError", "InvalidDecision", "NotFound", "Decision",
    "approve", "ask_for_info", "bulk_approve_confirmations", "claim", "mark_duplicate",
    "merge_initiatives", "reject", "release", "set_contact",
]
