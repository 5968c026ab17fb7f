"""Yearly reminder campaigns: which entries need which reminder, and sending it once.

The cycle
---------
An entry (published: ``merged_into_id`` is null) is *due* when it was last confirmed
``refresh_interval_days`` ago or more; an entry that was never confirmed is due from its
``created_at``. The moment it became due is the **cycle start**::

    cycle_start = last_confirmed_at + refresh_interval_days    (or created_at)

and the cycle's number is that date as ``YYYYMMDD`` (:func:`cycle_of`), e.g. 20261122.
It depends only on stored data, so every instance and every restart computes the same
number. An approved confirmation or update moves ``last_confirmed_at`` (see
:func:`bot.registry.repository.apply_changes`), which moves the cycle start a year ahead: the cycle
is over, and the next one gets a new number.

Within a cycle the steps are:

1. the first reminder, at the cycle start;
2. a second one ``reminder_step2_days`` after step 1;
3. the last one ``reminder_last_step_days`` after step 2;
4. ``unconfirmed_after_days`` after step 3 the entry is marked ``unconfirmed`` (no mail;
   the moderators' digest lists it).

Steps 1–3 go out only inside the sending window (``sending_days``, ``sending_window``
in ``timezone``); step 4 needs no window. A contact that opted out or bounces, or an
entry without a contact e-mail, gets a ``skipped`` step instead of a mail and the entry
is flagged ``needs_new_contact``.

Exactly once
------------
Every step is a ``campaign_steps`` row with the unique key (initiative, cycle, step), and
its outbox row (idempotency key ``campaign:ID:CYCLE:STEP``) is written in the same
transaction. Two schedulers (or a restart in the middle of a tick) that plan the same
step both try to insert it; the second insert hits the constraint inside a savepoint and
that step is skipped, so each step is sent once.

Shape
-----
:func:`load_due` is one query (due entries joined with their contact and their latest
step via a window function; no N+1), :func:`plan` is a pure function of
``(entries, steps, now, settings)``, and :func:`execute` writes the planned steps in
batches. :class:`CampaignScheduler` runs a tick every ``campaign_tick_seconds``.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from bot.core.i18n import language_of, language_query
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.links.store import dead_links_in, link_for_mail
from bot.mail import outbox
from bot.mail.contacts import mail_refusal
from bot.mail.models import CLOSE_STEP, CampaignStep, ReplyToken
from bot.mail.templates import RenderedMail, render_mail
from bot.mail.tokens import hash_token, new_token
from bot.registry.models import Contact, Initiative
from bot.registry.vocabulary import STATUSES
from moderation.models import Submission
from moderation.states import CONTACT_CHANNELS

log = logging.getLogger(__name__)

REMINDER_STEPS = (1, 2, 3)
# The default of the setting reminder_link_days: a reminder's token lives about a cycle.
REPLY_TOKEN_TTL = timedelta(days=180)
# The List-Unsubscribe link keeps working long after the cycle (people find old mail),
# but not for ever: every token has an expiry.
UNSUBSCRIBE_TOKEN_TTL = timedelta(days=400)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---------------------------------------------------------------------------------------
# Pure parts


@dataclass(frozen=True)
class DueEntry:
    """What the planner needs to know about one due entry."""

    id: int
    created_at: datetime
    last_confirmed_at: datetime | None
    contact_id: int | None = None
    contact_email: str | None = None
    email_status: str | None = None
    language: str = "da"
    # The latest answer from outside (a reply, the chat, the confirm page or the form),
    # whatever moderators have decided yet: an answer in this cycle stops its reminders.
    answered_at: datetime | None = None


@dataclass(frozen=True)
class StepInfo:
    """The latest campaign step of an entry (any cycle)."""

    cycle: int
    step: int
    state: str
    created_at: datetime


@dataclass(frozen=True)
class PlannedStep:
    """One step to take now (``action`` send | skip | close) or later (``due_at``)."""

    initiative_id: int
    cycle: int
    step: int
    action: str
    due_at: datetime
    contact_id: int | None = None
    to_addr: str | None = None
    language: str = "da"
    reason: str = ""


@dataclass
class Plan:
    """The planner's answer: steps due now, and steps waiting (for ``preview``)."""

    now: datetime
    in_window: bool
    due: list[PlannedStep] = field(default_factory=list)
    waiting: list[PlannedStep] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.due:
            key = f"step {p.step} {p.action}" if p.step != CLOSE_STEP else "mark unconfirmed"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


def cycle_start(entry: DueEntry, settings: Settings) -> datetime:
    """When the entry became due (naive UTC)."""
    if entry.last_confirmed_at is None:
        return entry.created_at
    return entry.last_confirmed_at + timedelta(days=settings.refresh_interval_days)


def cycle_of(start: datetime) -> int:
    """The cycle number: the cycle start's date as YYYYMMDD."""
    return start.year * 10000 + start.month * 100 + start.day


def due_threshold(now: datetime, settings: Settings) -> datetime:
    """Entries last confirmed at or before this are due."""
    return now - timedelta(days=settings.refresh_interval_days)


def _window(settings: Settings) -> tuple[time, time]:
    start, end = settings.sending_window.split("-")
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    return time(h1, m1), time(h2, m2)


def in_sending_window(now: datetime, settings: Settings) -> bool:
    """True when ``now`` (naive UTC) is on a sending day inside the sending window, in
    the configured time zone. The window's end minute is included ("08:00-16:00" ends at
    16:00:59; "00:00-23:59" is the whole day); a window like "22:00-06:00" wraps
    midnight and belongs to the day it starts on."""
    local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(settings.timezone))
    days = {d.strip().lower() for d in settings.sending_days.split(",") if d.strip()}
    start, end = _window(settings)
    t = local.time().replace(second=0, microsecond=0)
    day = DAYS[local.weekday()]
    if start <= end:
        return day in days and start <= t <= end
    if t >= start:
        return day in days
    if t <= end:
        return DAYS[(local.weekday() - 1) % 7] in days
    return False


def next_step(entry: DueEntry, latest: StepInfo | None, settings: Settings
              ) -> tuple[int, int, datetime] | None:
    """(cycle, step, due_at) of the entry's next step, or None when the cycle is done."""
    start = cycle_start(entry, settings)
    cycle = cycle_of(start)
    if entry.answered_at is not None and entry.answered_at >= start:
        return None  # the contact answered: no follow-up, and no "unconfirmed" either
    if latest is None or latest.cycle != cycle:
        return cycle, 1, start
    gap = days_after_step(latest.step, settings)
    if gap is None:
        return None
    return cycle, latest.step + 1, latest.created_at + timedelta(days=gap)


def days_after_step(step: int, settings: Settings) -> int | None:
    """Days from a campaign step to the next one (None after the last): the second mail
    ``reminder_step2_days`` after the first, the last ``reminder_last_step_days`` after
    that, and the close ``unconfirmed_after_days`` later. The outreach campaigns keep the
    same gaps (bot.campaigns.outreach)."""
    return {1: settings.reminder_step2_days, 2: settings.reminder_last_step_days,
            3: settings.unconfirmed_after_days}.get(step)


def skip_reason(entry: DueEntry) -> str | None:
    """Why a reminder cannot go to the entry's contact, or None when it can."""
    return mail_refusal(entry.contact_email if entry.contact_id is not None else None,
                        entry.email_status)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many small acyclic objects are built.

    Loading 100,000 due entries allocates several hundred thousand objects, and every
    burst of allocations sets off a collection that walks the whole, growing heap: the
    load became superlinear (``benchmarks/campaign.py``: 12.6 → 15.9 µs per entry from
    1,000 to 100,000 entries; with the collector paused a flat ~11 µs). Result rows,
    tuples and these dataclasses hold no reference cycles, so the collector has nothing
    to find in them; reference counting still frees everything as usual. (Other tasks
    that run during the query's await see the collector paused for that moment, which
    costs them nothing but a later collection.)
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan(entries: Iterable[DueEntry], steps: Mapping[int, StepInfo], now: datetime,
         settings: Settings, *, ignore_window: bool = False) -> Plan:
    """Decide the steps due at ``now`` (pure: no I/O, no clock).

    Reminder steps outside the sending window wait (unless ``ignore_window``); closing a
    cycle (step 4) does not need the window. The result is ordered by entry id, so
    concurrent planners insert in the same order (no lock-order deadlocks on
    PostgreSQL)."""
    with _gc_paused():  # thousands of small acyclic objects (see _gc_paused)
        return _plan(entries, steps, now, settings, ignore_window=ignore_window)


def _plan(entries: Iterable[DueEntry], steps: Mapping[int, StepInfo], now: datetime,
          settings: Settings, *, ignore_window: bool) -> Plan:
    window = ignore_window or in_sending_window(now, settings)
    result = Plan(now=now, in_window=window)
    for entry in sorted(entries, key=lambda e: e.id):
        nxt = next_step(entry, steps.get(entry.id), settings)
        if nxt is None:
            continue
        cycle, step, due_at = nxt
        if step == CLOSE_STEP:
            action, reason = "close", "no answer"
        else:
            reason = skip_reason(entry) or ""
            action = "skip" if reason else "send"
        planned = PlannedStep(entry.id, cycle, step, action, due_at, entry.contact_id,
                              entry.contact_email, entry.language, reason)
        if due_at > now or (step != CLOSE_STEP and not window):
            result.waiting.append(planned)
        else:
            result.due.append(planned)
    return result


# ---------------------------------------------------------------------------------------
# Loading


async def load_due(session: AsyncSession, now: datetime, settings: Settings, *,
                   id_range: tuple[int, int] | None = None
                   ) -> tuple[list[DueEntry], dict[int, StepInfo]]:
    """Every due entry with its contact and its latest step, in one query (only entries
    and steps with ids in ``id_range``, inclusive, when given).

    The latest step comes from ``ROW_NUMBER() OVER (PARTITION BY initiative_id ORDER BY
    cycle DESC, step DESC)`` (SQLite ≥ 3.25 and PostgreSQL), joined to the due entries,
    so the cost is one pass over the due entries and their steps."""
    step_query = select(CampaignStep.initiative_id, CampaignStep.cycle, CampaignStep.step,
                        CampaignStep.state, CampaignStep.created_at,
                        func.row_number().over(
                            partition_by=CampaignStep.initiative_id,
                            order_by=(CampaignStep.cycle.desc(), CampaignStep.step.desc()))
                        .label("rn"))
    if id_range is not None:
        step_query = step_query.where(CampaignStep.initiative_id.between(*id_range))
    ranked = step_query.subquery("ranked")
    latest = select(ranked).where(ranked.c.rn == 1).subquery("latest")
    threshold = due_threshold(now, settings)
    answered = (select(func.max(Submission.created_at))
                .where(Submission.initiative_id == Initiative.id,
                       Submission.channel.in_(CONTACT_CHANNELS),
                       Submission.state != "unverified")
                .correlate(Initiative).scalar_subquery())
    query = (
        select(Initiative.id, Initiative.created_at, Initiative.last_confirmed_at,
               Initiative.contact_id, Contact.email, Contact.email_status, Contact.language,
               latest.c.cycle, latest.c.step, latest.c.state,
               latest.c.created_at.label("step_created_at"), answered.label("answered_at"))
        .select_from(Initiative)
        .outerjoin(Contact, Contact.id == Initiative.contact_id)
        .outerjoin(latest, latest.c.initiative_id == Initiative.id)
        .where(_due(now, threshold))
        .order_by(Initiative.id))
    if id_range is not None:
        query = query.where(Initiative.id.between(*id_range))
    entries: list[DueEntry] = []
    steps: dict[int, StepInfo] = {}
    with _gc_paused():
        for row in (await session.execute(query)).all():
            entries.append(DueEntry(row.id, row.created_at, row.last_confirmed_at,
                                    row.contact_id, row.email, row.email_status,
                                    row.language or "da", row.answered_at))
            if row.cycle is not None:
                steps[row.id] = StepInfo(row.cycle, row.step, row.state,
                                         row.step_created_at)
    return entries, steps


def _due(now: datetime, threshold: datetime) -> Any:
    return and_(Initiative.merged_into_id.is_(None),
                or_(and_(Initiative.last_confirmed_at.is_(None), Initiative.created_at <= now),
                    Initiative.last_confirmed_at <= threshold))


async def make_plan(db: Database, settings: Settings, now: datetime, *,
                    ignore_window: bool = False, batch: int = 2000) -> Plan:
    """Plan every due entry, ``batch`` entries at a time in one read transaction, giving
    the event loop a turn between batches (one pass over 100,000 entries held it for
    over a second: benchmarks/loop_stall.py). Entries are independent and planned in id
    order, so the batches' plans concatenate to the whole plan."""
    result = Plan(now=now, in_window=ignore_window or in_sending_window(now, settings))
    threshold = due_threshold(now, settings)
    async with db.read() as session:
        after = 0
        while True:
            ids = list((await session.scalars(
                select(Initiative.id).where(_due(now, threshold), Initiative.id > after)
                .order_by(Initiative.id).limit(batch))).all())
            if not ids:
                break
            entries, steps = await load_due(session, now, settings,
                                            id_range=(ids[0], ids[-1]))
            part = plan(entries, steps, now, settings, ignore_window=ignore_window)
            result.due.extend(part.due)
            result.waiting.extend(part.waiting)
            after = ids[-1]
            await asyncio.sleep(0)
    return result


# ---------------------------------------------------------------------------------------
# Rendering


def chat_url(settings: Settings, token: str) -> str:
    """The personal chat link for an entry's contact (served by the chat)."""
    return f"{settings.base_url.rstrip('/')}/chat/u/{token}"


def render_reminder(settings: Settings, record: Mapping[str, Any], *, step: int, lang: str,
                    reply_token: str, unsubscribe_token: str,
                    consent: bool | None = None,
                    dead_links: Sequence[Mapping[str, Any]] = ()) -> RenderedMail:
    """The reminder mail for an entry's current values (text and HTML), saying plainly
    whether the contact's details are public and where to change that (``consent``: the
    contact's answer so far), and asking for the new address of each link found dead
    (``dead_links``: :func:`bot.links.store.link_for_mail`)."""
    from bot.registry.fields import form_label, form_lines
    from bot.registry.record import missing_mandatory

    lang = language_of(lang)
    # What the entry lacks is asked for first, by name (MedCom: entries miss fields).
    missing = [form_label(k, lang) for k in missing_mandatory(record)]
    query = language_query(lang)
    statuses = [{"label": t.label(lang), "help": t.help(lang)} for t in STATUSES]
    return render_mail(
        "reminder", lang, step=step, title=record.get("title") or "", missing=missing,
        dead_links=[{**d, "label": form_label(str(d["field"]), lang)} for d in dead_links],
        contact_name=record.get("contact_name") or "",
        form="\n".join(form_lines(record, lang)), statuses=statuses,
        chat_url=chat_url(settings, reply_token), consent=consent,
        consent_url=outbox.consent_url(settings, reply_token) + query,
        confirm_url=outbox.confirm_url(settings, reply_token) + query,
        form_url=outbox.form_url(settings, reply_token) + query,
        unsubscribe_url=outbox.unsubscribe_url(settings, unsubscribe_token))


def idempotency_key(p: PlannedStep) -> str:
    return f"campaign:{p.initiative_id}:{p.cycle}:{p.step}"


# ---------------------------------------------------------------------------------------
# Executing


@dataclass
class RunResult:
    sent: int = 0
    skipped: int = 0
    closed: int = 0
    already: int = 0  # planned by someone else first

    @property
    def total(self) -> int:
        return self.sent + self.skipped + self.closed


async def execute(db: Database, settings: Settings, steps: Sequence[PlannedStep],
                  now: datetime, *, batch_size: int = 200,
                  progress: Callable[[int], None] | None = None) -> RunResult:
    """Write the planned steps (step row + tokens + outbox row in one transaction per
    batch). Returns what was done; steps someone else did first count as ``already``."""
    result = RunResult()
    for i in range(0, len(steps), batch_size):
        batch = steps[i:i + batch_size]
        async with db.write() as session:
            await _execute_batch(session, settings, batch, now, result)
        if progress is not None:
            progress(len(batch))
    return result


def _final_action(p: PlannedStep, initiative: Initiative) -> PlannedStep:
    """The planned step as it must be done now: a reminder whose contact became
    unusable since planning is skipped instead."""
    if p.action != "send":
        return p
    contact = initiative.contact
    if contact is None or mail_refusal(contact.email, contact.email_status) is not None:
        return PlannedStep(p.initiative_id, p.cycle, p.step, "skip", p.due_at, p.contact_id,
                           p.to_addr, p.language, "contact changed before sending")
    return p


def _reminder_rows(settings: Settings, p: PlannedStep, initiative: Initiative,
                   now: datetime, dead: Sequence[Mapping[str, Any]] = ()
                   ) -> tuple[CampaignStep, list[ReplyToken], Any]:
    """Unsaved rows for one reminder: the step, its two tokens and the outbox row."""
    contact = initiative.contact
    assert contact is not None and contact.email
    message_id = outbox.new_message_id(settings.mail_domain)
    reply_token, unsub_token = new_token(), new_token()
    tokens = [
        ReplyToken(token_hash=hash_token(reply_token), purpose="reminder",
                   initiative_id=initiative.id, contact_id=contact.id,
                   outbox_message_id=message_id, created_at=now,
                   expires_at=now + timedelta(days=settings.reminder_link_days)),
        ReplyToken(token_hash=hash_token(unsub_token), purpose="unsubscribe",
                   contact_id=contact.id, outbox_message_id=message_id, created_at=now,
                   expires_at=now + UNSUBSCRIBE_TOKEN_TTL),
    ]
    record = initiative.record()
    mail = render_reminder(settings, record, step=p.step, lang=contact.language or "da",
                           consent=contact.publish_consent, dead_links=dead,
                           reply_token=reply_token, unsubscribe_token=unsub_token)
    msg = outbox.compose(settings, to_addr=contact.email, mail=mail, kind="reminder",
                         reply_token=reply_token, unsubscribe_token=unsub_token,
                         to_name=record.get("contact_name") or None, message_id=message_id)
    row = outbox.new_row(msg, kind="reminder", idempotency_key=idempotency_key(p),
                         contact_id=contact.id, initiative_id=initiative.id, not_before=now)
    step = CampaignStep(initiative_id=p.initiative_id, cycle=p.cycle, step=p.step,
                        contact_id=contact.id, state="planned", created_at=now)
    return step, tokens, row


_STATE_OF = {"send": "planned", "skip": "skipped", "close": "closed"}


def _rows_or_skip(settings: Settings, p: PlannedStep, initiative: Initiative, now: datetime,
                  dead: Mapping[int, Sequence[Mapping[str, Any]]]
                  ) -> tuple[PlannedStep, tuple[CampaignStep, list[ReplyToken], Any] | None]:
    """The reminder's rows, or — when this one entry's mail cannot be composed (an
    address that is not one, a value no template can take) — the step turned into a
    skip with the reason, so the entry is flagged and every other reminder still goes."""
    try:
        return p, _reminder_rows(settings, p, initiative, now,
                                 dead.get(initiative.id, ()))
    except Exception as exc:  # noqa: BLE001 - one entry's data; recorded on its step
        log.warning("campaign: cannot compose the reminder for entry %s: %s",
                    p.initiative_id, exc)
        reason = f"cannot compose the reminder: {type(exc).__name__}: {exc}"[:300]
        return PlannedStep(p.initiative_id, p.cycle, p.step, "skip", p.due_at, p.contact_id,
                           p.to_addr, p.language, reason), None


async def _execute_batch(session: AsyncSession, settings: Settings,
                         batch: Sequence[PlannedStep], now: datetime,
                         result: RunResult) -> None:
    """Write one batch. Fast path: every row of the batch in a few multi-row INSERTs
    inside a savepoint. If another planner inserted one of the steps meanwhile, the
    unique key refuses the batch; the savepoint is rolled back and the batch is written
    step by step, each step in its own savepoint, skipping the ones that exist."""
    ids = sorted({p.initiative_id for p in batch})
    loaded = await session.scalars(select(Initiative).where(Initiative.id.in_(ids)))
    initiatives: dict[int, Initiative] = {i.id: i for i in loaded}
    existing = {(r.initiative_id, r.cycle, r.step) for r in (await session.execute(
        select(CampaignStep.initiative_id, CampaignStep.cycle, CampaignStep.step)
        .where(CampaignStep.initiative_id.in_(ids)))).all()}
    todo: list[tuple[PlannedStep, Initiative]] = []
    for p in batch:
        current = initiatives.get(p.initiative_id)
        if current is None or current.merged_into_id is not None or cycle_of(cycle_start(
                DueEntry(current.id, current.created_at, current.last_confirmed_at),
                settings)) != p.cycle or (p.initiative_id, p.cycle, p.step) in existing:
            # Confirmed, merged or done by another planner since the plan was made.
            result.already += 1
            continue
        todo.append((_final_action(p, current), current))
    if not todo:
        return
    # Links found dead (bot.links): the reminder asks for their new address.
    dead = {entry_id: [link_for_mail(c) for c in checks]
            for entry_id, checks in (await dead_links_in(
                session, ids, failures_to_flag=settings.link_check_failures)).items()}
    try:
        async with session.begin_nested():
            done = await _write_fast(session, settings, todo, now, dead)
    except IntegrityError:
        log.info("campaign: another planner wrote some of these steps; going step by step")
        done = await _write_slow(session, settings, todo, now, result, dead)
    for p, _ in done:
        if p.action == "send":
            result.sent += 1
        elif p.action == "skip":
            result.skipped += 1
        else:
            result.closed += 1
    flag_contact = [p.initiative_id for p, _ in done if p.action == "skip"]
    mark_unconfirmed = [p.initiative_id for p, _ in done if p.action == "close"]
    if flag_contact:
        await session.execute(
            update(Initiative).where(Initiative.id.in_(flag_contact))
            .values(needs_new_contact=True).execution_options(synchronize_session=False))
    if mark_unconfirmed:
        await session.execute(
            update(Initiative).where(Initiative.id.in_(mark_unconfirmed))
            .values(unconfirmed=True).execution_options(synchronize_session=False))


async def _write_fast(session: AsyncSession, settings: Settings,
                      todo: Sequence[tuple[PlannedStep, Initiative]], now: datetime,
                      dead: Mapping[int, Sequence[Mapping[str, Any]]]
                      ) -> list[tuple[PlannedStep, Initiative]]:
    steps: list[CampaignStep] = []
    tokens: list[ReplyToken] = []
    mails: list[tuple[CampaignStep, Any]] = []
    done: list[tuple[PlannedStep, Initiative]] = []
    for p, initiative in todo:
        rows = None
        if p.action == "send":
            p, rows = _rows_or_skip(settings, p, initiative, now, dead)
        if rows is not None:
            step, toks, row = rows
            mails.append((step, row))
            tokens.extend(toks)
        else:
            step = CampaignStep(initiative_id=p.initiative_id, cycle=p.cycle, step=p.step,
                                contact_id=p.contact_id, state=_STATE_OF[p.action],
                                note=p.reason or None, created_at=now)
        steps.append(step)
        done.append((p, initiative))
    if mails:
        session.add_all([row for _, row in mails])
        await session.flush()  # one multi-row INSERT … RETURNING id
        for step, row in mails:
            step.outbox_id = row.id
    session.add_all(steps)
    session.add_all(tokens)
    await session.flush()
    return done


async def _write_slow(session: AsyncSession, settings: Settings,
                      todo: Sequence[tuple[PlannedStep, Initiative]], now: datetime,
                      result: RunResult, dead: Mapping[int, Sequence[Mapping[str, Any]]]
                      ) -> list[tuple[PlannedStep, Initiative]]:
    done: list[tuple[PlannedStep, Initiative]] = []
    for p, initiative in todo:
        try:
            async with session.begin_nested():
                rows = None
                if p.action == "send":
                    p, rows = _rows_or_skip(settings, p, initiative, now, dead)
                if rows is not None:
                    step, toks, row = rows
                    session.add(row)
                    await session.flush()
                    step.outbox_id = row.id
                    session.add(step)
                    session.add_all(toks)
                else:
                    session.add(CampaignStep(
                        initiative_id=p.initiative_id, cycle=p.cycle, step=p.step,
                        contact_id=p.contact_id, state=_STATE_OF[p.action],
                        note=p.reason or None, created_at=now))
                await session.flush()
        except IntegrityError:
            result.already += 1  # (initiative, cycle, step) exists: another planner
            continue
        done.append((p, initiative))
    return done


async def run_tick(db: Database, settings: Settings, now: datetime, *,
                   ignore_window: bool = False,
                   progress: Callable[[int], None] | None = None,
                   on_plan: Callable[[Plan], None] | None = None) -> RunResult:
    """Plan and write every step due at ``now``."""
    the_plan = await make_plan(db, settings, now, ignore_window=ignore_window)
    if on_plan is not None:
        on_plan(the_plan)
    if not the_plan.due:
        return RunResult()
    result = await execute(db, settings, the_plan.due, now, progress=progress)
    if result.total or result.already:
        log.info("campaign tick: %d reminders queued, %d skipped, %d marked unconfirmed, "
                 "%d already done by another instance", result.sent, result.skipped,
                 result.closed, result.already)
    return result


class CampaignScheduler(LoopWorker):
    """Runs :func:`run_tick` every ``campaign_tick_seconds``; wakes the sender after
    queueing mail."""

    name = "campaign-scheduler"

    def __init__(self, settings: Settings, db: Database, *,
                 clock: Callable[[], datetime] = dbnow,
                 on_queued: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
        self.clock = clock
        self.on_queued = on_queued
        self.idle_seconds = settings.campaign_tick_seconds
        self.error_pause_seconds = max(5.0, min(60.0, settings.campaign_tick_seconds))

    async def tick(self, now: datetime) -> tuple[int, int]:
        """One round at ``now``: (mails queued, steps taken)."""
        result = await run_tick(self.db, self.settings, now)
        return result.sent, result.total

    async def run_once(self) -> int:
        if self.stopping:
            return 0
        queued, taken = await self.tick(self.clock())
        if queued and self.on_queued is not None:
            self.on_queued()
        return taken


def local_date(now: datetime, settings: Settings) -> date:
    """The local calendar date of a naive-UTC instant."""
    return now.replace(tzinfo=UTC).astimezone(ZoneInfo(settings.timezone)).date()
