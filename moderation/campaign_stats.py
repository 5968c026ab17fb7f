"""How the yearly reminders were answered: counted per cycle and per region from the
campaign steps, the contacts' mail status and the submissions that came back.

Read by ``landkort campaign stats`` and the administrators' campaign dashboard; the one
place these figures are counted.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.core.db import Database
from bot.mail.models import CLOSE_STEP, CampaignStep
from bot.registry.models import Contact, Initiative
from moderation.models import Submission

ROUTES = ("link", "form", "mail", "chat")



@dataclass
class CycleStats:
    """Per cycle (or region): how the reminders went."""

    entries: int = 0
    sent: int = 0
    answered: int = 0
    confirmed: int = 0
    updated: int = 0
    bounced: int = 0
    opted_out: int = 0
    skipped: int = 0
    no_answer: int = 0
    unconfirmed: int = 0
    # How the contact first answered in the cycle: the confirm link, the one-page form,
    # a mail reply, the chat.
    via_link: int = 0
    via_form: int = 0
    via_mail: int = 0
    via_chat: int = 0

    def add(self, other: CycleStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


async def campaign_stats(db: Database) -> tuple[dict[int, CycleStats],
                                                dict[tuple[int, str], CycleStats]]:
    """Statistics per cycle and per (cycle, region).

    An entry counts as *answered* when a submission for it arrived after its cycle's
    first step; *confirmed*/*updated* when such a confirmation/update was approved;
    *bounced* when a reminder failed or the contact bounces; *opted out* when the
    contact opted out after the first step; *no answer* otherwise."""
    async with db.read() as session:
        step_rows = (await session.execute(
            select(CampaignStep.initiative_id, CampaignStep.cycle, CampaignStep.step,
                   CampaignStep.state, CampaignStep.created_at, CampaignStep.contact_id)
            .order_by(CampaignStep.initiative_id, CampaignStep.cycle,
                      CampaignStep.step))).all()
        ids = sorted({r.initiative_id for r in step_rows})
        regions: dict[int, list[str]] = {}
        contacts: dict[int, tuple[str, datetime | None]] = {}
        subs: dict[int, list[tuple[datetime, str, str, str]]] = {}
        for chunk in _chunks(ids, 5000):
            for reg in (await session.execute(select(Initiative.id, Initiative.regions)
                                              .where(Initiative.id.in_(chunk)))).all():
                regions[reg.id] = list(reg.regions or [])
            for s in (await session.execute(
                    select(Submission.initiative_id, Submission.created_at, Submission.kind,
                           Submission.state, Submission.channel, Submission.idempotency_key)
                    .where(Submission.initiative_id.in_(chunk)))).all():
                subs.setdefault(s.initiative_id, []).append(
                    (s.created_at, s.kind, s.state, answer_route(s.channel, s.idempotency_key)))
        contact_ids = sorted({r.contact_id for r in step_rows if r.contact_id})
        for chunk in _chunks(contact_ids, 5000):
            for c in (await session.execute(
                    select(Contact.id, Contact.email_status, Contact.opted_out_at)
                    .where(Contact.id.in_(chunk)))).all():
                contacts[c.id] = (c.email_status, c.opted_out_at)
    per_entry: dict[tuple[int, int], list[Any]] = {}
    for r in step_rows:
        per_entry.setdefault((r.initiative_id, r.cycle), []).append(r)
    by_cycle: dict[int, CycleStats] = {}
    by_region: dict[tuple[int, str], CycleStats] = {}
    for (iid, cycle), rows in per_entry.items():
        first = rows[0].created_at
        st = CycleStats(entries=1)
        st.sent = sum(1 for r in rows if r.state == "sent")
        st.skipped = sum(1 for r in rows if r.state == "skipped")
        st.unconfirmed = int(any(r.step == CLOSE_STEP for r in rows))
        later = sorted(s for s in subs.get(iid, []) if s[0] >= first and s[3])
        st.answered = int(bool(later))
        st.confirmed = int(any(k == "confirmation" and s == "approved" for _, k, s, _ in later))
        st.updated = int(any(k == "update" and s == "approved" for _, k, s, _ in later))
        if later:
            route = later[0][3]
            setattr(st, f"via_{route}", 1)
        status, opted_at = contacts.get(rows[-1].contact_id or 0, ("ok", None))
        st.bounced = int(any(r.state == "failed" for r in rows) or status == "bouncing")
        st.opted_out = int(status == "opted_out" and opted_at is not None
                           and opted_at >= first)
        st.no_answer = int(not st.answered and not st.bounced and not st.opted_out)
        by_cycle.setdefault(cycle, CycleStats()).add(st)
        for region in regions.get(iid) or ["(none)"]:
            by_region.setdefault((cycle, region), CycleStats()).add(st)
    return dict(sorted(by_cycle.items())), dict(sorted(by_region.items()))


def answer_route(channel: str | None, idempotency_key: str | None) -> str:
    """How a submission reached us: "link" (the confirm page), "form" (the one-page
    form), "mail", "chat", or "" for the editors' own work (a CSV import)."""
    if channel == "web":
        return "form" if (idempotency_key or "").startswith("form:") else "link"
    return {"email": "mail", "chat": "chat"}.get(channel or "", "")


def _chunks(items: Sequence[int], n: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


__all__ = ["ROUTES", "CycleStats", "answer_route", "campaign_stats"]
