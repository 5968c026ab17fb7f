"""CSV import of registry entries: parse and check every row first, then write all at once.

:func:`parse_csv` is pure (bytes in, rows and per-row errors out). It accepts

* a header row of canonical keys (``title``, ``contact_email`` …) or of the Danish or
  English labels the reminder form uses (``Titel``, ``Kommuner``, ``E-mail`` …, see
  :data:`bot.registry.fields.LABELS`), plus the optional columns ``language`` (da/en, the
  contact's language) and ``last_confirmed_at``; the columns ``id``, ``slug`` and
  ``sector`` that ``landkort export`` writes are ignored, so an export can be imported;
* ``;``, ``,`` or tab as delimiter (sniffed);
* UTF-8 with or without BOM, UTF-16 with BOM, and Excel's windows-1252 as a fallback.

Every value goes through :func:`bot.registry.fields.normalise`, the one field parser, so a row
is accepted here exactly when the same words would be accepted in a reply mail.

:func:`import_rows` writes the valid rows in one transaction (all or nothing), skipping
rows whose (title, organisation) already exist in the registry or earlier in the file.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.spreadsheet import read_cell
from bot.registry.fields import key_for_label, normalise, parse_date_text
from bot.registry.models import Initiative
from bot.registry.record import FIELD_KEYS
from bot.registry.repository import create_initiative

# Optional columns that are not registry fields.
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "language": ("language", "sprog", "lang"),
    "last_confirmed_at": ("last_confirmed_at", "senest bekræftet", "last confirmed",
                          "senest opdateret", "last updated"),
}
# Columns ``landkort export`` writes that an import does not use.
IGNORED_COLUMNS: frozenset[str] = frozenset({"id", "slug", "sector"})

# A constant key for PostgreSQL's transaction-level advisory lock, so two imports of the
# same file at the same time cannot both create an entry (SQLite: BEGIN IMMEDIATE does it).
IMPORT_LOCK_KEY = 0x6C616E646B  # "landk"


class CsvFormatError(Exception):
    """The file as a whole cannot be read as an import (no header, unknown column…)."""


@dataclass(frozen=True)
class RowError:
    """One problem in one row: the line it starts on, the field (if any) and why."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, {self.field}" if self.field else f"line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportRow:
    """A valid row: canonical field values, the contact's language, when it was confirmed."""

    line: int
    record: dict[str, Any]
    language: str = "da"
    confirmed_at: datetime | None = None

    @property
    def title(self) -> str:
        return str(self.record.get("title") or "")


@dataclass
class ParsedFile:
    """What :func:`parse_csv` made of a file."""

    encoding: str
    delimiter: str
    columns: list[str]
    ignored_columns: list[str]
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def invalid_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})


@dataclass(frozen=True)
class Skipped:
    """A valid row that was not imported, and why."""

    row: ImportRow
    reason: str


@dataclass
class ImportPlan:
    """Rows to create, and rows skipped because the entry already exists."""

    create: list[ImportRow] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Reading the file

def decode_csv(data: bytes) -> tuple[str, str]:
    """``(text, encoding name)``: UTF-8 (BOM or not), UTF-16 with BOM, else windows-1252."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    try:
        textval = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "windows-1252"
    return textval, "UTF-8"


def fold_header(label: str) -> str:
    """A column header as compared: case, spaces, a BOM and a trailing colon ignored."""
    return " ".join(label.replace("\ufeff", "").casefold().strip().rstrip(":").split())


_CANONICAL = {k: k for k in FIELD_KEYS}
_EXTRA_BY_LABEL = {fold_header(lbl): key for key, labels in EXTRA_COLUMNS.items() for lbl in labels}


def column_key(header: str) -> str | None:
    """The column a header names: a canonical key, a form label, or an extra column."""
    folded = fold_header(header)
    underscored = folded.replace(" ", "_").replace("-", "_")
    if underscored in _CANONICAL:
        return underscored
    if folded in _EXTRA_BY_LABEL:
        return _EXTRA_BY_LABEL[folded]
    if underscored in IGNORED_COLUMNS:
        return underscored
    return key_for_label(header.replace("\ufeff", ""))


def accepted_headers() -> list[str]:
    """Every header text the import understands (for "did you mean" hints)."""
    from bot.registry.record import LABELS

    names = set(FIELD_KEYS) | set(EXTRA_COLUMNS) | set(IGNORED_COLUMNS)
    for by_lang in LABELS.values():
        for labels in by_lang.values():
            names.update(labels)
    for labels in EXTRA_COLUMNS.values():
        names.update(labels)
    return sorted(names)


def _header_cells(first_line: str, delimiter: str) -> list[str]:
    return next(csv.reader([first_line], delimiter=delimiter), [])


def sniff_delimiter(textval: str,
                    is_column: Callable[[str], object] | None = None) -> str:
    """The delimiter of the file: the one under which most header cells are known
    columns (``is_column``; the registry's columns by default); ``csv.Sniffer`` breaks
    ties."""
    known = is_column or column_key
    first_line = textval.lstrip("\ufeff").splitlines()[0] if textval.strip() else ""
    try:
        sniffed = csv.Sniffer().sniff(textval[:8192], delimiters=";,\t").delimiter
    except csv.Error:
        sniffed = ";" if first_line.count(";") > first_line.count(",") else ","
    best, best_score = sniffed, -1
    for delimiter in (sniffed, ";", ",", "\t"):
        cells = _header_cells(first_line, delimiter)
        score = sum(1 for c in cells if known(c))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _check_headers(headers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Each header's column (None for a blank header) and the ignored ones."""
    columns: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    choices = accepted_headers()
    for header in headers:
        name = header.replace("\ufeff", "").strip()
        if not name:
            columns.append(None)
            continue
        key = column_key(name)
        if key is None:
            best = process.extractOne(name, choices, scorer=fuzz.WRatio, score_cutoff=70)
            hint = f' Did you mean "{best[0]}"?' if best else ""
            problems.append(f'unknown column "{name}".{hint}')
            columns.append(None)
            continue
        if key in IGNORED_COLUMNS:
            ignored.append(name)
            columns.append(None)
            continue
        if key in seen:
            problems.append(f'columns "{seen[key]}" and "{name}" are both {key}')
        seen[key] = name
        columns.append(key)
    if problems:
        raise CsvFormatError("line 1 (header): " + "; ".join(problems) + ". Use the keys "
                             + ", ".join(FIELD_KEYS) + " or their Danish or English labels.")
    if "title" not in seen:
        raise CsvFormatError("line 1 (header): there is no title column; the first row "
                             "must name the columns (title, description, status, …)")
    return columns, ignored


def parse_language(raw: str) -> str | None:
    """"da"/"dansk"/"danish" (or empty) → "da", "en"/"engelsk"/"english" → "en", else
    None."""
    value = raw.strip().casefold()
    if value in ("", "da", "dansk", "danish"):
        return "da"
    if value in ("en", "engelsk", "english"):
        return "en"
    return None


def parse_timestamp(raw: str) -> datetime | None:
    """A naive-UTC time from ISO 8601 (``2025-03-01T10:00:00Z``, as exported) or from any
    date the field parser reads (``2025-03-01``, ``1. marts 2025``)."""
    value = raw.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        day = parse_date_text(value)
        if day is None:
            return None
        return datetime.fromisoformat(day if len(day) == 10 else day + "-01")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _parse_row(line: int, cells: Sequence[str], columns: Sequence[str | None]) \
        -> tuple[ImportRow | None, list[RowError]]:
    errors: list[RowError] = []
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
        errors.append(RowError(line, None, f"the row has {len(cells)} values but the header "
                                           f"has {len(columns)} columns (a missing quote or "
                                           "delimiter?)"))
        return None, errors
    record: dict[str, Any] = {}
    language = "da"
    confirmed_at: datetime | None = None
    values = [(k, read_cell(raw)) for k, raw in zip(columns, cells, strict=False)
              if k and raw.strip()]
    for key, raw in values:
        if key == "language":
            lang = parse_language(raw)
            if lang is None:
                errors.append(RowError(line, key, f'Ukendt sprog "{raw.strip()}". Skriv da '
                                                  'eller en.'))
            else:
                language = lang
    for key, raw in values:
        if key == "language":
            continue
        if key == "last_confirmed_at":
            confirmed_at = parse_timestamp(raw)
            if confirmed_at is None:
                errors.append(RowError(line, key, f'Datoen "{raw.strip()}" kan ikke læses. '
                                                  'Skriv den som 2024-03-01.'))
            continue
        # Messages in Danish: they are read by the moderator running the import.
        result = normalise(key, raw, "da")
        if result.problem is not None:
            errors.append(RowError(line, key, result.problem.message))
        elif result.value is not None:
            record[key] = result.value
    start, end = record.get("start_date"), record.get("end_date")
    if start and end and end[:min(len(start), len(end))] < start[:min(len(start), len(end))]:
        errors.append(RowError(line, "end_date", f"Slutdatoen {end} ligger før startdatoen "
                                                 f"{start}."))
    if not record.get("title") and not any(e.field == "title" for e in errors):
        errors.append(RowError(line, "title", "Titel mangler: hver række skal have en titel."))
    if errors:
        return None, errors
    return ImportRow(line, record, language, confirmed_at), []


def parse_csv(data: bytes) -> ParsedFile:
    """Parse an import file: valid rows and one :class:`RowError` per problem.

    Raises :class:`CsvFormatError` when the file as a whole is unusable (empty, no
    header, unknown or doubled columns). Line numbers are those of the file as a text
    editor shows them (the header is line 1; a quoted value spanning lines counts them).
    """
    textval, encoding = decode_csv(data)
    if not textval.strip():
        raise CsvFormatError("the file is empty")
    delimiter = sniff_delimiter(textval)
    reader = csv.reader(io.StringIO(textval, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except csv.Error as exc:
        raise CsvFormatError(f"line 1 (header): {exc}") from None
    columns, ignored = _check_headers(headers)
    parsed = ParsedFile(encoding=encoding, delimiter=delimiter,
                        columns=[c for c in columns if c], ignored_columns=ignored)
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.errors.append(RowError(start, None, f"cannot read the row: {exc}"))
            break
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        row, errors = _parse_row(start, cells, columns)
        parsed.errors.extend(errors)
        if row is not None:
            parsed.rows.append(row)
    return parsed


# ---------------------------------------------------------------------------------------
# Writing

def identity_key(title: str | None, organisation: str | None) -> tuple[str, str]:
    """What makes two rows the same entry: title and organisation, case and spacing
    folded."""
    return (" ".join((title or "").casefold().split()),
            " ".join((organisation or "").casefold().split()))


def plan_import(rows: Iterable[ImportRow],
                existing: dict[tuple[str, str], int]) -> ImportPlan:
    """Split rows into those to create and those that already exist (in the registry,
    ``existing`` maps identity keys to entry ids, or earlier in the same file)."""
    plan = ImportPlan()
    in_file: dict[tuple[str, str], int] = {}
    for row in rows:
        key = identity_key(row.record.get("title"), row.record.get("organisation"))
        if key in existing:
            plan.skipped.append(Skipped(row, f"already in the registry (entry #{existing[key]})"))
        elif key in in_file:
            plan.skipped.append(Skipped(row, f"same title and organisation as line "
                                             f"{in_file[key]}"))
        else:
            in_file[key] = row.line
            plan.create.append(row)
    return plan


async def existing_identities(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Identity keys of every entry in the registry (merged duplicates too)."""
    rows = await session.execute(select(Initiative.id, Initiative.title,
                                        Initiative.organisation))
    return {identity_key(title, org): id_ for id_, title, org in rows}


Progress = Callable[[int, int], None]


async def import_rows(db: Database, rows: Sequence[ImportRow], *, source: str = "import",
                      dry_run: bool = False, progress: Progress | None = None) -> ImportPlan:
    """Create entries for ``rows`` in one transaction (all or nothing).

    Rows whose (title, organisation) already exist are skipped and listed in the plan.
    Each entry is created with ``actor="import"``, ``channel="import"`` and a version
    note naming ``source`` and the line. ``dry_run`` computes the plan without writing.
    ``progress(done, total)`` is called as entries are created.
    """
    if dry_run:
        async with db.read() as session:
            return plan_import(rows, await existing_identities(session))
    async with db.write() as session:
        if db.is_postgres:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                  {"k": IMPORT_LOCK_KEY})
        plan = plan_import(rows, await existing_identities(session))
        total = len(plan.create)
        if progress:
            progress(0, total)
        for n, row in enumerate(plan.create, start=1):
            entry = await create_initiative(
                session, row.record, actor="import", channel="import",
                confirmed_at=row.confirmed_at, language=row.language,
                note=f"{source}, line {row.line}")
            plan.created_ids.append(entry.id)
            if progress:
                progress(n, total)
    return plan


@dataclass(frozen=True)
class LikelyDuplicate:
    """A row (imported, or to be imported) that looks like another entry."""

    row: ImportRow
    initiative_id: int
    title: str
    score: float


async def likely_duplicates(db: Database, plan: ImportPlan) -> list[LikelyDuplicate]:
    """Rows of ``plan.create`` that look like another entry (the duplicate finder the
    moderation queue uses), so the moderators can merge them. After an import the
    rows' own new entries are left out of the comparison; other rows of the same file
    count."""
    from bot.registry.duplicates import find_duplicates

    found: list[LikelyDuplicate] = []
    pairs: set[frozenset[int]] = set()
    async with db.read() as session:
        for n, row in enumerate(plan.create):
            own = plan.created_ids[n] if n < len(plan.created_ids) else None
            best = await find_duplicates(session, row.record, exclude_initiative_id=own,
                                         limit=1)
            if not best:
                continue
            other = int(best[0]["initiative_id"])
            if own is not None:
                if frozenset((own, other)) in pairs:  # two new rows alike: report once
                    continue
                pairs.add(frozenset((own, other)))
            found.append(LikelyDuplicate(row, other, str(best[0]["title"]),
                                         float(best[0]["score"])))
    return found

