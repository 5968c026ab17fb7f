"""Attaching a case's PDF to its entry as the evaluation report (#19), and removing it.

A contact answers the reminder with the report attached; the moderator sees the file on
the case and attaches it to the entry with one button. Nothing from mail reaches the
registry without that decision; each attach and removal is audited.
"""
from __future__ import annotations

from bot.core.db import Database
from bot.registry.evaluation_reports import (
    NotAReport,
    ReportInfo,
    attach_report,
    remove_report,
)
from moderation.audit import record_event
from moderation.models import Submission


class ReportError(Exception):
    """The report cannot be attached or removed; ``key`` is the catalogue key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def attach_from_case(db: Database, submission_id: int, *, filename: str,
                           data: bytes, actor: str) -> ReportInfo:
    """Attach the file (a case's attachment, read by the caller) to the case's entry."""
    async with db.write() as session:
        sub = await session.get(Submission, submission_id)
        if sub is None or sub.initiative_id is None:
            raise ReportError("err.report_no_entry")
        try:
            info = await attach_report(session, sub.initiative_id, filename=filename,
                                       data=data, source=f"case:{submission_id}",
                                       actor=actor)
        except NotAReport as exc:
            raise ReportError(exc.key) from None
        await record_event(session, actor=actor, action="evaluation_report.attached",
                           submission_id=submission_id, initiative_id=sub.initiative_id,
                           detail={"filename": info.filename, "size": info.size})
    return info


async def remove_from_entry(db: Database, submission_id: int, *, actor: str) -> None:
    """Remove the report of the case's entry."""
    async with db.write() as session:
        sub = await session.get(Submission, submission_id)
        if sub is None or sub.initiative_id is None:
            raise ReportError("err.report_no_entry")
        if not await remove_report(session, sub.initiative_id):
            raise ReportError("err.report_none")
        await record_event(session, actor=actor, action="evaluation_report.removed",
                           submission_id=submission_id, initiative_id=sub.initiative_id)


__all__ = ["ReportError", "attach_from_case", "remove_from_entry"]
