"""Evaluation reports as files: an entry's attached PDF (#19).

The registry keeps one per entry (:class:`~bot.registry.models.EvaluationReport`); only a
moderator attaches or removes one (:mod:`moderation.evaluation_reports`), and the public
entry page links to it. The file is a stranger's bytes: it must *be* a PDF (its first
bytes say ``%PDF-``, ISO 32000-1 §7.5.2, whatever name or type the mail gave it), and it
is served as a download that the browser never runs (``bot.public.web``).
"""
from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.registry.models import EvaluationReport

MAX_BYTES = 25 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


class NotAReport(ValueError):
    """The file cannot be an entry's evaluation report; ``key`` says why (catalogue)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_report(data: bytes) -> None:
    """Raise :class:`NotAReport` unless ``data`` is a PDF of a publishable size. A PDF
    may have bytes before its header (ISO 32000-1 §7.5.2 allows readers to look within
    the first 1024 bytes), but a report we publish starts with it."""
    if not data:
        raise NotAReport("err.report_empty")
    if len(data) > MAX_BYTES:
        raise NotAReport("err.report_size")
    if not data.startswith(PDF_MAGIC):
        raise NotAReport("err.report_not_pdf")


def report_filename(name: str) -> str:
    """A file name to publish: the sender's name without path or control characters,
    ending in ``.pdf``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base)
                   if unicodedata.category(ch)[0] != "C").strip(" .")
    if not base.lower().endswith(".pdf"):
        base = (base or "evalueringsrapport") + ".pdf"
    return base[-120:]


@dataclass(frozen=True)
class ReportInfo:
    """What a page shows of an attached report (not its bytes)."""

    filename: str
    size: int
    attached_at: datetime
    attached_by: str
    sha256: str = ""


async def attach_report(session: AsyncSession, initiative_id: int, *, filename: str,
                        data: bytes, source: str, actor: str) -> ReportInfo:
    """Attach (or replace) the entry's report, in the caller's transaction."""
    check_report(data)
    name = report_filename(filename)
    await session.execute(delete(EvaluationReport)
                          .where(EvaluationReport.initiative_id == initiative_id))
    now = dbnow()
    session.add(EvaluationReport(
        initiative_id=initiative_id, filename=name, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), content=data, source=source[:100],
        attached_by=actor[:200], attached_at=now))
    await session.flush()
    return ReportInfo(name, len(data), now, actor, hashlib.sha256(data).hexdigest())


async def remove_report(session: AsyncSession, initiative_id: int) -> bool:
    """Remove the entry's report (in the caller's transaction); False if it had none."""
    done = await session.execute(delete(EvaluationReport)
                                 .where(EvaluationReport.initiative_id == initiative_id))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def move_report(session: AsyncSession, source_id: int, target_id: int) -> bool:
    """A merged entry's report goes with it to the entry it was merged into, unless that
    one has its own (in the caller's transaction). True when it moved."""
    if await report_info(session, target_id) is not None:
        return False
    done = await session.execute(update(EvaluationReport)
                                 .where(EvaluationReport.initiative_id == source_id)
                                 .values(initiative_id=target_id)
                                 .execution_options(synchronize_session=False))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def report_info(session: AsyncSession, initiative_id: int) -> ReportInfo | None:
    """The entry's report, without its bytes."""
    row = (await session.execute(
        select(EvaluationReport.filename, EvaluationReport.size, EvaluationReport.attached_at,
               EvaluationReport.attached_by, EvaluationReport.sha256)
        .where(EvaluationReport.initiative_id == initiative_id))).first()
    return ReportInfo(*row) if row else None


async def report_file(session: AsyncSession, initiative_id: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of the entry's report."""
    row = (await session.execute(
        select(EvaluationReport.filename, EvaluationReport.content)
        .where(EvaluationReport.initiative_id == initiative_id))).first()
    return (row.filename, bytes(row.content)) if row else None


__all__ = ["MAX_BYTES", "NotAReport", "ReportInfo", "attach_report", "check_report",
           "move_report", "remove_report", "report_file", "report_filename", "report_info"]
