"""Automatic answers to senders: receipts and "we could not understand" replies.

An answer is an outbox row queued in the same transaction as the outcome it reports
(architecture rule 2), with the idempotency key ``answer:<inbound id>`` so reprocessing a
message never answers twice. Whether to answer at all is decided by the pure
:func:`answer_block_reason` (RFC 3834 §2: never answer automatic mail, lists or a null
return path) and by the per-address daily limit (:func:`take_answer_slot`).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import execute_prebuilt, prebuilt, utcnow
from bot.core.deferred_inserts import deferring, insert_later
from bot.core.i18n import language_of
from bot.core.mailheaders import is_mail_address
from bot.core.settings import Settings
from bot.mail.outbox import compose, enqueue
from bot.mail.templates import render_mail
from bot.registry.fields import form_label, form_lines
from bot.registry.record import FIELD_KEYS
from intake.inbox.models import AutoAnswerCount
from intake.inbox.store import header_section

_COUNTS = cast(Table, AutoAnswerCount.__table__)

log = logging.getLogger(__name__)

ANSWER_KINDS = ("receipt", "problems")


def parse_headers(raw: bytes) -> Message:
    """The header section of a raw message as a lenient :class:`email.message.Message`."""
    return BytesHeaderParser(policy=compat32).parsebytes(header_section(raw))


def answer_block_reason(headers: Message | Mapping[str, str], *, kind: str,
                        from_addr: str | None,
                        own_mail: bool = False) -> str | None:
    """Why this message must not get an automatic answer, or None when it may.

    Pure. RFC 3834 §2: a responder does not answer mail that was itself generated
    automatically (``Auto-Submitted`` other than ``no``), list or bulk mail
    (``Precedence: bulk|junk|list``, ``List-Id``), or mail whose return path is null
    (``Return-Path: <>``, which is how bounces arrive). Bounces, auto-replies and our own
    mail are never answered either, whatever their headers say.
    """
    if own_mail:
        return "own_mail"
    if kind in ("bounce", "auto_reply"):
        return kind
    if from_addr is None or not is_mail_address(from_addr):
        return "no_sender"  # none, or nothing we could safely write a header to
    auto = str(headers.get("Auto-Submitted") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    precedence = str(headers.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return "precedence"
    if headers.get("List-Id") is not None:
        return "list"
    return_path = headers.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        return "null_return_path"
    if re.match(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", from_addr.lower()):
        return "robot_address"
    return None


# In a transaction that defers its inserts: today's answer count per address, as the
# database has it plus this transaction's answers (read for a whole chunk at once).
_ANSWER_COUNTS = "landkort.answer_counts"


def _slot_upsert(insert: Any, *, returning: bool) -> Any:
    stmt = insert(_COUNTS).on_conflict_do_update(
        index_elements=[_COUNTS.c.address, _COUNTS.c.day], set_={"count": _COUNTS.c.count + 1})
    return stmt.returning(_COUNTS.c.count) if returning else stmt


async def read_answer_counts(session: AsyncSession, addresses: Sequence[str], *,
                             day: date | None = None) -> None:
    """Read today's answer counts of ``addresses`` in one statement, for the
    :func:`take_answer_slot` calls of a transaction that defers its inserts.

    On PostgreSQL the rows are locked (``FOR UPDATE``, in address order) until the commit,
    so another instance answering the same sender waits for this count; a sender with no
    answer yet today first gets a row counting 0, so there is always a row to lock.
    (SQLite needs neither: ``BEGIN IMMEDIATE`` lets one writer in at a time.)
    """
    key = (day or utcnow().date()).isoformat()
    wanted = sorted({a.lower() for a in addresses if a})
    counts: dict[tuple[str, str], int] = session.info.setdefault(_ANSWER_COUNTS, {})
    wanted = [a for a in wanted if (a, key) not in counts]
    if not wanted:
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(prebuilt(session, "answers.zero", lambda insert: insert(
            _COUNTS).on_conflict_do_nothing(index_elements=[_COUNTS.c.address, _COUNTS.c.day])),
            [{"address": a, "day": key, "count": 0} for a in wanted])
    rows = await session.execute(
        select(_COUNTS.c.address, _COUNTS.c.count)
        .where(_COUNTS.c.day == key, _COUNTS.c.address.in_(wanted))
        .order_by(_COUNTS.c.address).with_for_update())
    found = {address: count for address, count in rows.all()}
    for address in wanted:
        counts[(address, key)] = int(found.get(address) or 0)


async def take_answer_slot(session: AsyncSession, address: str, limit: int, *,
                           day: date | None = None) -> bool:
    """Count one automatic answer to ``address`` today; True while within ``limit``.

    One atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` in the caller's transaction,
    so two workers answering the same address at once both count. In a transaction that
    defers its inserts (bot.core.deferred_inserts) the count is the one read by
    :func:`read_answer_counts` plus this transaction's answers, and the upsert is
    collected with the other rows.
    """
    key = (day or utcnow().date()).isoformat()
    lowered = address.lower()
    params: dict[str, Any] = {"address": lowered, "day": key, "count": 1}
    if deferring(session) is not None:
        await read_answer_counts(session, [address], day=day)
        counts: dict[tuple[str, str], int] = session.info[_ANSWER_COUNTS]
        counts[(lowered, key)] += 1
        await insert_later(session, _COUNTS, prebuilt(
            session, "answers.slot_later", lambda insert: _slot_upsert(
                insert, returning=False)), params)
        return counts[(lowered, key)] <= limit
    stmt = prebuilt(session, "answers.slot",
                    lambda insert: _slot_upsert(insert, returning=True))
    count = (await execute_prebuilt(session, stmt, params)).scalar_one()
    return bool(count <= limit)


async def answers_today(session: AsyncSession, address: str) -> int:
    key = utcnow().date().isoformat()
    row = await session.scalar(select(AutoAnswerCount.count).where(
        AutoAnswerCount.address == address.lower(), AutoAnswerCount.day == key))
    return int(row or 0)


def field_names(keys: Sequence[str], lang: str) -> list[str]:
    """Form labels for canonical keys, in form order (for "you proposed changes to …")."""
    return [form_label(k, lang) for k in FIELD_KEYS if k in keys]


def chat_link(settings: Settings, token: str) -> str:
    """The personal web link where the sender can confirm or change by chat."""
    return f"{settings.base_url.rstrip('/')}/chat/u/{token}"


async def queue_answer(session: AsyncSession, settings: Settings, *, inbound_id: int,
                       answer: str, to_addr: str, to_name: str | None, lang: str,
                       in_reply_to: str | None, token: str | None, title: str | None,
                       submission_kind: str | None = None,
                       changed: Sequence[str] = (), problems: Sequence[str] = (),
                       form_record: Mapping[str, Any] | None = None,
                       contact_id: int | None = None, initiative_id: int | None = None,
                       submission_id: int | None = None,
                       message_id: str | None = None) -> bool:
    """Render and enqueue one answer (``receipt`` or ``problems``). False when it was
    queued before (idempotency key ``answer:<inbound id>``)."""
    if answer not in ANSWER_KINDS:
        raise ValueError(f"unknown answer {answer!r}")
    lang = language_of(lang)  # the form's labels in the mail's language
    link = chat_link(settings, token) if token else None
    ctx: dict[str, Any] = {"person": to_name or "", "title": title or "", "link": link or ""}
    if answer == "receipt":
        ctx.update(kind=submission_kind or "", changed=field_names(changed, lang))
    else:
        ctx.update(problems=list(problems), form=form_lines(dict(form_record or {}), lang))
    mail = render_mail(answer, lang, **ctx)
    msg = compose(settings, to_addr=to_addr, mail=mail, kind=answer, reply_token=token,
                  to_name=to_name, in_reply_to=in_reply_to, message_id=message_id)
    row = await enqueue(session, msg, kind=answer, idempotency_key=f"answer:{inbound_id}",
                        contact_id=contact_id, initiative_id=initiative_id,
                        submission_id=submission_id)
    return row is not None


__all__ = ["ANSWER_KINDS", "answer_block_reason", "answers_today", "chat_link", "field_names",
           "parse_headers", "queue_answer", "read_answer_counts", "take_answer_slot"]
