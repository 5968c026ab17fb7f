"""Submissions from their creation to a decision: the one place their state changes.

Every channel creates them here (:func:`create_submission`); a chat submission enters
the queue when its sender's address is verified (:func:`enter_queue`); a sender's
answer to a moderator's question is merged in and puts it back in the queue
(:func:`merge_answer`); moderators' decisions move it on (:func:`move`). Each move is
checked against the state machine in :mod:`moderation.states`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import attach_row, dbnow, execute_prebuilt, prebuilt
from bot.core.deferred_inserts import deferring, insert_later, new_id
from bot.registry.models import Initiative
from bot.registry.record import MANDATORY_FIELDS, missing_mandatory
from bot.registry.repository import diff_record
from bot.registry.terms import VOCABULARIES, term_index
from moderation.audit import record_event
from moderation.models import Submission
from moderation.states import INITIAL_STATES, OPEN_STATES, can_move, submission_kind

_SUBMISSIONS = cast(Table, Submission.__table__)
_INSERT_SUBMISSION = _SUBMISSIONS.insert()


class DecisionError(Exception):
    """A decision that cannot be made as asked; the message is for the moderator."""


class NotFound(DecisionError):
    pass


class AlreadyDecided(DecisionError):
    """Someone else decided this item first."""

    def __init__(self, submission: Submission) -> None:
        who = submission.decided_by or "someone else"
        super().__init__(f"item {submission.id} was already decided by {who} "
                         f"({submission.state})")
        self.state = submission.state
        self.decided_by = submission.decided_by


class IllegalMove(ValueError):
    """A state change the state machine does not allow (a programming error)."""


def _check_moves(from_states: Iterable[str], to_state: str) -> None:
    bad = [s for s in from_states if not can_move(s, to_state)]
    if bad:
        raise IllegalMove(f"a submission cannot move from {', '.join(bad)} to {to_state}")


def region_filter_value(regions: Iterable[str]) -> str:
    """",a,b," so a queue filter can match one region with LIKE '%,a,%'."""
    keys = sorted(set(regions))
    return f",{','.join(keys)}," if keys else ""


async def create_submission(session: AsyncSession, *, kind: str, channel: str,
                            proposed: Mapping[str, Any], initiative: Initiative | None = None,
                            problems: list[dict[str, str]] | None = None,
                            flags: Iterable[str] = (), sender_email: str | None = None,
                            sender_name: str | None = None, language: str = "da",
                            token_matched: bool = False, auth_results: str | None = None,
                            inbound_message_id: int | None = None,
                            idempotency_key: str | None = None, note: str | None = None,
                            state: str = "pending",
                            duplicate_candidates: list[dict[str, Any]] | None = None,
                            field_sources: Mapping[str, dict[str, str]] | None = None,
                            actor: str = "system") -> Submission | None:
    """Queue a proposal; returns None when ``idempotency_key`` was queued before."""
    if state not in INITIAL_STATES:
        raise IllegalMove(f"a submission cannot start as {state}")
    new_words = False
    if any(proposed.get(v) for v in VOCABULARIES):  # (no query for a mail without them)
        index = await term_index(session)
        proposed = index.canonical_record(proposed)  # words become terms
        new_words = any(index.unknown(v, proposed.get(v) or []) for v in VOCABULARIES)
    regions = list(proposed.get("regions") or (initiative.regions if initiative else []) or [])
    flag_list = sorted(set(flags) | ({"problems"} if problems else set())
                       | ({"new_terms"} if new_words else set()))
    values: dict[str, Any] = dict(
        kind=kind, channel=channel, state=state, proposed=dict(proposed),
        initiative_id=initiative.id if initiative else None,
        base_version=initiative.version if initiative else None,
        problems=list(problems or []), flags=flag_list,
        duplicate_candidates=list(duplicate_candidates or []),
        field_sources={k: v for k, v in (field_sources or {}).items() if k in proposed},
        filter_regions=region_filter_value(regions), sender_email=sender_email,
        sender_name=sender_name, language=language, token_matched=token_matched,
        auth_results=auth_results, inbound_message_id=inbound_message_id,
        idempotency_key=idempotency_key, note=note)
    sub: Submission | None
    if idempotency_key is not None and deferring(session) is not None:
        # Collected for the transaction's end (bot.core.deferred_inserts): a key used
        # before fails that write, and the caller does its work again the way below.
        values["id"] = await new_id(session, _SUBMISSIONS)
        await insert_later(session, _SUBMISSIONS, _INSERT_SUBMISSION, values)
        sub = Submission(**values)
    elif idempotency_key is None:
        sub = Submission(**values)
        session.add(sub)
        await session.flush()
    else:
        # One statement: the unique key decides (also against a concurrent writer), and
        # RETURNING hands back the ORM object; a key used before gives no row.
        stmt = prebuilt(session, "submission.create", lambda insert: insert(_SUBMISSIONS)
                        .on_conflict_do_nothing(index_elements=[_SUBMISSIONS.c.idempotency_key])
                        .returning(*_SUBMISSIONS.c))
        row = (await execute_prebuilt(session, stmt, values)).first()
        if row is None:
            return None
        sub = attach_row(session, Submission, row)
    await record_event(session, actor=actor, action="submission.created",
                       submission_id=sub.id, initiative_id=sub.initiative_id,
                       detail={"kind": kind, "channel": channel})
    return sub


async def move(session: AsyncSession, submission_id: int, actor: str, new_state: str, *,
               reason: str | None = None, from_states: Iterable[str] = OPEN_STATES
               ) -> Submission:
    """A moderator's move of a submission from one of ``from_states`` to ``new_state``
    (a decision, or a question to the sender): one conditional UPDATE, so exactly one
    concurrent caller wins; the others get :class:`AlreadyDecided`."""
    froms = tuple(from_states)
    _check_moves(froms, new_state)
    result = await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.state.in_(froms))
        .values(state=new_state, decided_by=actor, decided_at=dbnow(),
                decision_reason=reason, claimed_by=None, claimed_at=None, updated_at=dbnow())
        .execution_options(synchronize_session=False))
    sub = await session.get(Submission, submission_id, populate_existing=True)
    if sub is None:
        raise NotFound(f"no item {submission_id}")
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyDecided(sub)
    return sub


async def enter_queue(session: AsyncSession, sub: Submission, *, actor: str,
                      detail: Mapping[str, Any] | None = None) -> None:
    """An unverified submission's sender confirmed the address: it enters the queue."""
    _check_moves((sub.state,), "pending")
    sub.state = "pending"
    await record_event(session, actor=actor, action="submission.verified",
                       submission_id=sub.id, initiative_id=sub.initiative_id,
                       detail=dict(detail or {}))


@dataclass(frozen=True)
class MergedAnswer:
    """What :func:`merge_answer` did to a submission."""

    fields: dict[str, Any]       # the fields the answer brought (changes only, for an entry)
    remaining: list[dict[str, str]]  # problems still open after the answer
    from_state: str


async def merge_answer(session: AsyncSession, sub: Submission, *, fields: Mapping[str, Any],
                       problems: Iterable[Mapping[str, str]], sender: str | None,
                       note: str | None, actor: str, inbound_message_id: int | None,
                       field_sources: Mapping[str, dict[str, str]] | None = None
                       ) -> MergedAnswer:
    """The sender's answer to a moderator's question (or to a problems mail about a new
    entry): merge its fields and problems into the open submission and put it back in
    the queue (*needs_info* → *pending*; a pending or unverified one keeps its state)."""
    values = dict(fields)
    initiative = None
    if sub.initiative_id is not None:
        initiative = await session.get(Initiative, sub.initiative_id)
        if initiative is not None:
            values = diff_record(initiative.record(), values)
    proposed = {**(sub.proposed or {}), **values}
    sub.proposed = proposed
    # A field the answer gives again takes the answer's source (a label line: none).
    sub.field_sources = {
        **{k: v for k, v in (sub.field_sources or {}).items() if k not in values},
        **{k: v for k, v in (field_sources or {}).items() if k in values}}
    fixed = set(values)
    remaining = [p for p in (sub.problems or []) if p.get("field") not in fixed]
    remaining += [dict(p) for p in problems if dict(p) not in remaining]
    sub.problems = remaining
    flags = set(sub.flags or [])
    if remaining:
        flags.add("problems")
    else:
        flags.discard("problems")
    if sub.kind == "new":
        if any(p.get("field") in MANDATORY_FIELDS and p.get("field") not in proposed
               for p in remaining):
            flags.add("missing_fields")
        elif not missing_mandatory(proposed):
            flags.discard("missing_fields")
    if sender and sub.sender_email and sender != sub.sender_email.lower():
        flags.add("sender_differs")
    sub.flags = sorted(flags)
    if initiative is not None and sub.kind in ("update", "contact_change", "confirmation"):
        sub.kind = submission_kind(proposed, problems=bool(remaining))
    regions = proposed.get("regions") or (initiative.regions if initiative else []) or []
    sub.filter_regions = region_filter_value(regions)
    if note:
        sub.note = f"{sub.note}\n\n---\n{note}" if sub.note else note
    previous_state = sub.state
    if sub.state == "needs_info":
        _check_moves((sub.state,), "pending")
        sub.state = "pending"
    await record_event(session, actor=actor, action="submission.info_received",
                       submission_id=sub.id, initiative_id=sub.initiative_id,
                       detail={"inbound_message_id": inbound_message_id,
                               "fields": sorted(values), "from_state": previous_state,
                               "sender": sender})
    return MergedAnswer(fields=values, remaining=remaining, from_state=previous_state)
