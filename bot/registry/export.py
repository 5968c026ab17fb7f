"""Export of the published registry as CSV (for people, Excel) or JSON (for programs).

* JSON: a list of records with ``id``, ``slug``, every canonical field (vocabulary keys,
  lists as lists), ``language`` (the contact's), ``sector`` and ``last_confirmed_at``
  (ISO 8601, UTC, or null).
* CSV: the same columns; status, participants and regions as their Danish labels, lists
  joined with ``"; "``. ``landkort import`` reads such a file back (it ignores ``id``,
  ``slug`` and ``sector``).

Merged duplicates are not published and not exported.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.core.db import Database
from bot.core.spreadsheet import csv_document
from bot.registry.models import Initiative
from bot.registry.record import FIELD_KEYS, LIST_FIELDS
from bot.registry.repository import published_in_batches
from bot.registry.vocabulary import CHOICES, SECTORS, label_of

EXPORT_COLUMNS: tuple[str, ...] = (
    "id", "slug", *FIELD_KEYS, "language", "sector", "last_confirmed_at")
FORMATS: tuple[str, ...] = ("csv", "json")


def export_record(entry: Initiative, *, with_contacts: bool = False) -> dict[str, Any]:
    """One entry as an export record (keys in :data:`EXPORT_COLUMNS` order): the public
    view, or with every contact's details for an administrator's backup."""
    record = entry.record() if with_contacts else entry.public_record()
    confirmed = entry.last_confirmed_at
    values: dict[str, Any] = {"id": entry.id, "slug": entry.slug}
    for key in FIELD_KEYS:
        value = record.get(key)
        values[key] = list(value or []) if key in LIST_FIELDS else value
    values["language"] = entry.contact.language if entry.contact else None
    values["sector"] = entry.sector
    values["last_confirmed_at"] = (confirmed.replace(microsecond=0).isoformat() + "Z"
                                   if confirmed else None)
    return values


async def published_records(db: Database, *,
                            with_contacts: bool = False) -> list[dict[str, Any]]:
    """Export records of every published entry, by title. Contact details only where the
    contact consented, unless ``with_contacts`` (a backup that stays with the editors)."""
    records: list[dict[str, Any]] = []
    async with db.read() as session:
        async for batch in published_in_batches(session):
            records.extend(export_record(e, with_contacts=with_contacts) for e in batch)
    records.sort(key=lambda r: (r["title"] or "", r["id"]))  # by title, as documented
    return records


def csv_cell(key: str, value: Any) -> str:
    """A value as CSV text: labels for status, participants, regions and sector; lists
    joined with "; "; nothing for a missing value."""
    if value is None or value == []:
        return ""
    if key == "sector":
        return label_of(SECTORS, value)
    if key in CHOICES:
        if isinstance(value, str):
            return label_of(CHOICES[key], value)
        return "; ".join(label_of(CHOICES[key], v) for v in value)
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def to_csv(records: Sequence[dict[str, Any]], *, delimiter: str = ",") -> str:
    """CSV text with a header row of :data:`EXPORT_COLUMNS` (every cell spreadsheet-safe:
    :mod:`bot.core.spreadsheet`)."""
    return csv_document(EXPORT_COLUMNS, ([csv_cell(key, record.get(key))
                                          for key in EXPORT_COLUMNS] for record in records),
                        delimiter=delimiter)


def to_json(records: Sequence[dict[str, Any]]) -> str:
    """JSON text: a list of records, UTF-8 characters kept readable."""
    return json.dumps(list(records), ensure_ascii=False, indent=2) + "\n"


def render(records: Sequence[dict[str, Any]], fmt: str, *, delimiter: str = ",") -> str:
    """Records in ``fmt`` (csv or json; ``delimiter`` for CSV)."""
    if fmt == "csv":
        return to_csv(records, delimiter=delimiter)
    if fmt == "json":
        return to_json(records)
    raise ValueError(f"unknown export format {fmt!r}")
