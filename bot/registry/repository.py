"""Registry repository: create and change initiatives, always through a version row.

These functions work inside a session the caller got from ``Database.write()`` (the
transaction is the caller's: a decision, its version row, its audit event and its outbox
mail commit together). Nothing here commits.
"""
from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.registry import search_index
from bot.registry.models import Contact, Initiative, InitiativeVersion
from bot.registry.record import CONTACT_FIELDS, INITIATIVE_FIELDS, LIST_FIELDS
from bot.registry.terms import canonical_record
from bot.registry.vocabulary import sector_of


class RegistryError(Exception):
    """A registry operation that cannot be done as asked."""


class StaleVersion(RegistryError):
    """The initiative changed since the version a change was based on."""

    def __init__(self, initiative_id: int, expected: int, current: int) -> None:
        super().__init__(f"initiative {initiative_id} is at version {current}, "
                         f"not {expected}")
        self.initiative_id = initiative_id
        self.expected = expected
        self.current = current


def slug_base(title: str) -> str:
    """A URL slug from a title: ASCII, lower case, hyphens (æ→ae, ø→oe, å→aa)."""
    text = title.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:80].strip("-") or "initiativ"


async def unique_slug(session: AsyncSession, title: str) -> str:
    base = slug_base(title)
    taken = set((await session.scalars(
        select(Initiative.slug).where(Initiative.slug.like(f"{base}%")))).all())
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def normalise_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """Fill list fields with [] and drop unknown keys, so records compare cleanly."""
    out: dict[str, Any] = {}
    for key in INITIATIVE_FIELDS + CONTACT_FIELDS:
        value = data.get(key)
        if key in LIST_FIELDS:
            value = list(value or [])
        out[key] = value
    return out


def diff_record(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> dict[str, Any]:
    """The proposed values that differ from the current ones (keys of ``proposed`` only)."""
    changed: dict[str, Any] = {}
    for key, value in proposed.items():
        if key not in INITIATIVE_FIELDS and key not in CONTACT_FIELDS:
            continue
        old = current.get(key)
        if key in LIST_FIELDS:
            if sorted(old or []) != sorted(value or []):
                changed[key] = value
        elif (old or None) != (value or None):
            changed[key] = value
    return changed


async def find_or_create_contact(session: AsyncSession, *, email: str | None,
                                 name: str | None = None, phone: str | None = None,
                                 language: str = "da") -> Contact:
    """The contact with this e-mail (created when new; name/phone filled when missing)."""
    contact: Contact | None = None
    if email:
        email = email.strip().lower()
        contact = await session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(email=email or None, name=name, phone=phone, language=language,
                          email_status="ok", soft_bounces=0)
        session.add(contact)
        await session.flush()
    else:
        if name and not contact.name:
            contact.name = name
        if phone and not contact.phone:
            contact.phone = phone
    return contact


async def _apply_contact(session: AsyncSession, initiative: Initiative,
                         values: Mapping[str, Any], language: str) -> None:
    """Apply contact_* values: a new e-mail means another person (find or create);
    a new name or phone for the same e-mail updates that person."""
    if not any(k in values for k in CONTACT_FIELDS):
        return
    current = initiative.contact
    email = values.get("contact_email", current.email if current else None)
    if current is None or (email and (current.email or "") != email.lower()):
        contact = await find_or_create_contact(
            session, email=email, name=values.get("contact_name"),
            phone=values.get("contact_phone"), language=language)
        initiative.contact_id = contact.id
        initiative.contact = contact
        if initiative.needs_new_contact and contact.email_status == "ok":
            initiative.needs_new_contact = False
        current = contact
    if "contact_name" in values and values["contact_name"]:
        current.name = values["contact_name"]
    if "contact_phone" in values:
        current.phone = values["contact_phone"] or None


def _apply_fields(initiative: Initiative, values: Mapping[str, Any]) -> None:
    for key in INITIATIVE_FIELDS:
        if key in values:
            value = values[key]
            if key in LIST_FIELDS:
                value = sorted(value or [])
            setattr(initiative, key, value)
    initiative.sector = sector_of(initiative.participants or [])


async def _write_version(session: AsyncSession, initiative: Initiative, changed: list[str], *,
                         actor: str, channel: str, submission_id: int | None,
                         note: str | None, at: datetime | None = None) -> InitiativeVersion:
    await session.flush()
    version = InitiativeVersion(
        initiative_id=initiative.id, version=initiative.version, data=initiative.record(),
        changed=sorted(changed), actor=actor, channel=channel, submission_id=submission_id,
        note=note)
    if at is not None:
        version.created_at = at
    session.add(version)
    await session.flush()
    # The search index changes with the entry, in the same transaction (never behind).
    await search_index.refresh(session, initiative)
    return version


async def create_initiative(session: AsyncSession, data: Mapping[str, Any], *, actor: str,
                            channel: str, submission_id: int | None = None,
                            confirmed_at: datetime | None = None,
                            created_at: datetime | None = None,
                            language: str = "da", note: str | None = None) -> Initiative:
    """Create an entry (and its first version) from canonical field values."""
    if not data.get("title"):
        raise RegistryError("an initiative needs a title")
    record = await canonical_record(session, normalise_record(data))
    initiative = Initiative(slug=await unique_slug(session, record["title"]), version=1,
                            title=record["title"], unconfirmed=False,
                            needs_new_contact=False,
                            last_confirmed_at=confirmed_at)
    if created_at is not None:
        initiative.created_at = created_at
    _apply_fields(initiative, record)
    session.add(initiative)
    await session.flush()
    contact_values = {k: record[k] for k in CONTACT_FIELDS if record.get(k)}
    if contact_values:
        await _apply_contact(session, initiative, contact_values, language)
    else:
        initiative.contact = None
    changed = [k for k, v in record.items() if v not in (None, [], "")]
    # A backdated entry (an import of older data, the demo) was as it is since then: the
    # yearly report counts it from its first version's time.
    await _write_version(session, initiative, changed, actor=actor, channel=channel,
                         submission_id=submission_id, note=note, at=created_at)
    return initiative


async def apply_changes(session: AsyncSession, initiative: Initiative,
                        changes: Mapping[str, Any], *, actor: str, channel: str,
                        expected_version: int | None = None,
                        submission_id: int | None = None, confirm: bool = False,
                        note: str | None = None) -> InitiativeVersion | None:
    """Change an entry and write the next version.

    ``expected_version`` guards against lost updates: the version counter is bumped with a
    conditional UPDATE, so of two concurrent changes based on the same version exactly one
    succeeds and the other raises :class:`StaleVersion`. ``confirm`` also sets
    ``last_confirmed_at`` and clears ``unconfirmed``. Returns None when nothing changed
    and nothing was confirmed.
    """
    current = initiative.record()
    changes = await canonical_record(session, changes)  # words become terms
    real = diff_record(current, changes)
    if not real and not confirm:
        return None
    base = initiative.version if expected_version is None else expected_version
    result = await session.execute(
        update(Initiative).where(Initiative.id == initiative.id, Initiative.version == base)
        .values(version=base + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current_version = await session.scalar(
            select(Initiative.version).where(Initiative.id == initiative.id))
        raise StaleVersion(initiative.id, base, int(current_version or 0))
    initiative.version = base + 1
    _apply_fields(initiative, real)
    language = initiative.contact.language if initiative.contact else "da"
    await _apply_contact(session, initiative, {k: v for k, v in real.items()
                                               if k in CONTACT_FIELDS}, language)
    if confirm:
        initiative.last_confirmed_at = dbnow()
        initiative.unconfirmed = False
    initiative.updated_at = dbnow()
    return await _write_version(session, initiative, list(real), actor=actor, channel=channel,
                                submission_id=submission_id, note=note)


async def get_initiative(session: AsyncSession, initiative_id: int) -> Initiative | None:
    return await session.get(Initiative, initiative_id)


async def get_by_slug(session: AsyncSession, slug: str) -> Initiative | None:
    return await session.scalar(select(Initiative).where(Initiative.slug == slug))


async def history(session: AsyncSession, initiative_id: int) -> list[InitiativeVersion]:
    """Every version of an entry, oldest first."""
    rows = await session.scalars(select(InitiativeVersion)
                                 .where(InitiativeVersion.initiative_id == initiative_id)
                                 .order_by(InitiativeVersion.version))
    return list(rows)


async def count_initiatives(session: AsyncSession, *, published_only: bool = True) -> int:
    query = select(func.count()).select_from(Initiative)
    if published_only:
        query = query.where(Initiative.merged_into_id.is_(None))
    return int(await session.scalar(query) or 0)


async def published_in_batches(session: AsyncSession, *, batch: int = 500
                               ) -> AsyncIterator[list[Initiative]]:
    """Every published entry, by id, a batch at a time, giving the event loop a turn
    between batches: one statement over 100,000 entries built every object on the loop
    in one go (benchmarks/loop_stall.py). Keyset pages on the primary key in the
    caller's read transaction, so the whole export sees one snapshot; each batch is
    expunged once handed over, so memory stays flat."""
    after = 0
    while True:
        rows = list((await session.scalars(
            select(Initiative).where(Initiative.merged_into_id.is_(None),
                                     Initiative.id > after)
            .order_by(Initiative.id).limit(batch))).unique())
        if not rows:
            return
        yield rows
        after = rows[-1].id
        session.expunge_all()
        await asyncio.sleep(0)


async def published_initiatives(session: AsyncSession) -> list[Initiative]:
    """Every published entry (merged duplicates left out), by title."""
    rows = await session.scalars(select(Initiative)
                                 .where(Initiative.merged_into_id.is_(None))
                                 .order_by(Initiative.title, Initiative.id))
    return list(rows.unique())
