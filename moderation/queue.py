"""Putting proposals into the moderation queue (every channel calls this)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import insert_for
from bot.registry.models import Initiative
from moderation.audit import record_event
from moderation.models import Submission


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
                            actor: str = "system") -> Submission | None:
    """Queue a proposal; returns None when ``idempotency_key`` was queued before."""
    regions = list(proposed.get("regions") or (initiative.regions if initiative else []) or [])
    flag_list = sorted(set(flags) | ({"problems"} if problems else set()))
    values: dict[str, Any] = dict(
        kind=kind, channel=channel, state=state, proposed=dict(proposed),
        initiative_id=initiative.id if initiative else None,
        base_version=initiative.version if initiative else None,
        problems=list(problems or []), flags=flag_list,
        duplicate_candidates=list(duplicate_candidates or []),
        filter_regions=region_filter_value(regions), sender_email=sender_email,
        sender_name=sender_name, language=language, token_matched=token_matched,
        auth_results=auth_results, inbound_message_id=inbound_message_id,
        idempotency_key=idempotency_key, note=note)
    sub: Submission | None
    if idempotency_key is None:
        sub = Submission(**values)
        session.add(sub)
        await session.flush()
    else:
        # One statement: the unique key decides (also against a concurrent writer), and
        # RETURNING hands back the ORM object; a key used before gives no row.
        sub = await session.scalar(
            insert_for(session, Submission).values(**values)
            .on_conflict_do_nothing(index_elements=[Submission.idempotency_key])
            .returning(Submission))
        if sub is None:
            return None
    await record_event(session, actor=actor, action="submission.created",
                       submission_id=sub.id, initiative_id=sub.initiative_id,
                       detail={"kind": kind, "channel": channel})
    return sub
