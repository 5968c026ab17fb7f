"""The administrators' address book of organisations, for outreach (#19).

MedCom's evaluation: some initiatives were never registered, and few involve general
practice. An administrator imports the organisations that may run such initiatives —
municipal health departments, hospitals and regions, general-practice organisations —
from a CSV file (:func:`parse_address_book`, pure), and :func:`import_address_book`
adds or updates them, keyed by mail address, so importing the same file twice changes
nothing. Rows that cannot be read are listed with their line, column and what to fix;
the others are imported.

Each organisation's address is a :class:`~bot.registry.models.Contact` (an address
already known — say, a contact that opted out of the reminders — is the same contact):
the one opt-out rule and the one bounce rule hold for outreach mail as for every other.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bot.core.db import Database, dbnow
from bot.core.i18n import text as catalogue_text
from bot.core.spreadsheet import read_cell
from bot.registry.csv_import import (
    RowError,
    decode_csv,
    fold_header,
    parse_language,
    sniff_delimiter,
)
from bot.registry.fields import (
    match_municipality,
    parse_email,
    parse_participants,
    parse_regions,
    suggest_municipality,
)
from bot.registry.models import Contact
from bot.registry.vocabulary import MUNICIPALITY_CODES, MUNICIPALITY_REGION, PARTICIPANTS
from moderation.audit import record_event
from moderation.models import Organisation

# The columns, by the names people give them (folded: case, spaces, a trailing colon).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("organisation", "organization", "navn", "name", "organisationsnavn"),
    "kind": ("type", "kind", "sektor", "sector", "organisationstype"),
    "email": ("e-mail", "email", "mail", "e-mailadresse", "email address"),
    "municipality": ("kommune", "municipality", "kommunekode", "municipality code"),
    "region": ("region",),
    "contact_name": ("kontaktperson", "contact", "contact name", "kontakt"),
    "language": ("sprog", "language"),
}
REQUIRED = ("name", "kind", "email")
_COLUMN_OF = {name: key for key, names in COLUMNS.items() for name in names}
_CODE_MUNICIPALITY = {code: name for name, code in MUNICIPALITY_CODES.items()}
MAX_ROWS = 5000
_SHOWN = 60  # characters of a bad value shown back to the administrator


@dataclass(frozen=True)
class OrganisationRow:
    """One readable row."""

    line: int
    name: str
    kind: str
    email: str
    municipality: str | None
    region: str
    contact_name: str | None = None
    language: str = "da"


@dataclass
class AddressBook:
    """What :func:`parse_address_book` read: the rows to import and the problems."""

    rows: list[OrganisationRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""


def _shown(raw: str) -> str:
    value = " ".join(raw.split())
    return value if len(value) <= _SHOWN else value[:_SHOWN - 1] + "…"


def _municipality(raw: str) -> str | None:
    value = raw.strip()
    if value.isdigit():
        return _CODE_MUNICIPALITY.get(value.zfill(3))
    return match_municipality(value)


def _row(line: int, cells: dict[str, str], lang: str
         ) -> tuple[OrganisationRow | None, list[RowError]]:
    def err(column: str, key: str, **params: Any) -> None:
        errors.append(RowError(line, column, catalogue_text(lang, key, **params)))

    errors: list[RowError] = []
    name = " ".join(cells.get("name", "").split())[:300]
    if not name:
        err("name", "outreach.err.name")
    email = ""
    raw_email = cells.get("email", "").strip()
    if not raw_email:
        err("email", "outreach.err.email_missing")
    else:
        parsed = parse_email(raw_email, lang)
        if parsed.problem is not None or not parsed.value:
            err("email", "outreach.err.email", value=_shown(raw_email))
        else:
            email = str(parsed.value).lower()
    kind = ""
    raw_kind = cells.get("kind", "").strip()
    kinds = parse_participants(raw_kind, lang).value if raw_kind else None
    if not kinds or len(kinds) != 1:
        err("kind", "outreach.err.kind", value=_shown(raw_kind),
            choices=", ".join(t.label(lang) for t in PARTICIPANTS))
    else:
        kind = kinds[0]
    municipality: str | None = None
    raw_muni = cells.get("municipality", "").strip()
    if raw_muni:
        municipality = _municipality(raw_muni)
        if municipality is None:
            hint = suggest_municipality(raw_muni) if not raw_muni.isdigit() else None
            err("municipality", "outreach.err.municipality", value=_shown(raw_muni),
                hint=catalogue_text(lang, "field.did_you_mean", suggestion=hint)
                if hint else "")
    if kind == "kommune" and not raw_muni:
        err("municipality", "outreach.err.kommune")
    region = MUNICIPALITY_REGION.get(municipality or "", "")
    raw_region = cells.get("region", "").strip()
    if raw_region:
        regions = parse_regions(raw_region, lang).value
        if not regions or len(regions) != 1:
            err("region", "outreach.err.region", value=_shown(raw_region))
        elif region and regions[0] != region:
            err("region", "outreach.err.region_mismatch", municipality=municipality or "",
                value=_shown(raw_region))
        else:
            region = regions[0]
    elif not region and not raw_muni:
        err("region", "outreach.err.area")
    language = parse_language(cells.get("language", ""))
    if language is None:
        err("language", "outreach.err.language", value=_shown(cells.get("language", "")))
    if errors:
        return None, errors
    contact = " ".join(cells.get("contact_name", "").split())[:200] or None
    return OrganisationRow(line, name, kind, email, municipality, region, contact,
                           language or "da"), []


def parse_address_book(data: bytes, lang: str = "da") -> AddressBook:
    """Read an address-book CSV (UTF-8, UTF-16 or windows-1252; ``;``, ``,`` or tab):
    one :class:`OrganisationRow` per readable row and a :class:`RowError` per problem,
    in ``lang`` (pure). An address given twice is imported once (the first row)."""
    text, encoding = decode_csv(data)
    book = AddressBook(encoding=encoding)
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    skipped = 0
    if lines and lines[0].strip().lower() in ("sep=;", "sep=,", "sep=\t"):
        # Excel's own first line naming the delimiter (it writes one on request).
        text, lines, skipped = text.split("\n", 1)[1] if "\n" in text else "", lines[1:], 1
    if not lines or not lines[0].strip():
        book.errors.append(RowError(1, None, catalogue_text(lang, "outreach.err.empty")))
        return book
    delimiter = sniff_delimiter(text, lambda h: fold_header(h) in _COLUMN_OF)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    columns = [_COLUMN_OF.get(fold_header(h)) for h in header]
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        book.errors.append(RowError(1, None, catalogue_text(
            lang, "outreach.err.columns", missing=", ".join(COLUMNS[k][0] for k in missing),
            known=", ".join(names[0] for names in COLUMNS.values()))))
        return book
    seen: dict[str, int] = {}
    rows_read = 0
    while True:
        # The line a row starts on, as the administrator's editor shows it (a quoted
        # cell may hold line breaks, so rows and lines differ).
        number = reader.line_num + 1 + skipped
        try:
            cells = next(reader)
        except StopIteration:
            break
        if not any(c.strip() for c in cells):
            continue
        rows_read += 1
        if rows_read > MAX_ROWS:
            book.errors.append(RowError(number, None, catalogue_text(
                lang, "outreach.err.too_many", n=MAX_ROWS)))
            break
        values: dict[str, str] = {}
        for key, raw in zip(columns, cells, strict=False):
            if key and raw.strip() and key not in values:
                values[key] = read_cell(raw.strip())
        row, errors = _row(number, values, lang)
        book.errors.extend(errors)
        if row is None:
            continue
        if row.email in seen:
            book.errors.append(RowError(number, "email", catalogue_text(
                lang, "outreach.err.duplicate", line=seen[row.email])))
            continue
        seen[row.email] = number
        book.rows.append(row)
    return book


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int


async def import_address_book(db: Database, rows: Sequence[OrganisationRow], *,
                              actor: str) -> ImportResult:
    """Add or update the organisations, keyed by their address (one transaction;
    audited). A known address keeps its contact — with its opt-out or bounce status —
    and gets the organisation's name only where the contact has no name yet."""
    added = updated = unchanged = 0
    now = dbnow()
    emails = [r.email for r in rows]
    async with db.write() as session:
        contacts: dict[str, Contact] = {}
        for i in range(0, len(emails), 500):
            for c in await session.scalars(select(Contact).where(
                    Contact.email.in_(emails[i:i + 500]))):
                contacts[c.email or ""] = c
        orgs: dict[int, Organisation] = {}
        ids = [c.id for c in contacts.values()]
        for i in range(0, len(ids), 500):
            for o in await session.scalars(select(Organisation).where(
                    Organisation.contact_id.in_(ids[i:i + 500]))):
                orgs[o.contact_id] = o
        for row in rows:
            contact = contacts.get(row.email)
            if contact is None:
                contact = Contact(email=row.email, name=row.contact_name,
                                  language=row.language)
                session.add(contact)
                await session.flush()
                contacts[row.email] = contact
            elif row.contact_name and not contact.name:
                contact.name = row.contact_name
            org = orgs.get(contact.id)
            values = {"name": row.name, "kind": row.kind, "municipality": row.municipality,
                      "region": row.region}
            if org is None:
                org = Organisation(contact_id=contact.id, active=True, created_at=now,
                                   updated_at=now, **values)
                session.add(org)
                orgs[contact.id] = org
                added += 1
            elif all(getattr(org, k) == v for k, v in values.items()) and org.active:
                unchanged += 1
            else:
                for k, v in values.items():
                    setattr(org, k, v)
                org.active = True
                org.updated_at = now
                updated += 1
        await session.flush()
        await record_event(session, actor=actor, action="outreach.address_book",
                           detail={"added": added, "updated": updated,
                                   "unchanged": unchanged})
    return ImportResult(added, updated, unchanged)


async def organisation_count(db: Database) -> int:
    """How many organisations the address book holds (active ones)."""
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Organisation)
                                        .where(Organisation.active.is_(True))) or 0)


__all__ = ["COLUMNS", "AddressBook", "ImportResult", "OrganisationRow", "RowError",
           "import_address_book", "organisation_count", "parse_address_book"]
