"""Registry tables: contacts, initiatives and their immutable versions.

Times are naive UTC (see :mod:`bot.core.db`). List-valued registry fields are JSON lists of
vocabulary keys or text, sorted, exactly as :mod:`bot.registry.fields` produces them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.db import Base, dbnow
from bot.registry.record import CONTACT_FIELDS, FIELD, FIELDS


def field_column(key: str, **kwargs: Any) -> Any:
    """The column of a registry field, typed from its one definition
    (:data:`bot.registry.record.FIELDS`): lists as JSON, bounded text as VARCHAR(length),
    the rest as TEXT. Keys, indexes and defaults the table needs are passed in."""
    field = FIELD[key]
    if field.is_list:
        return mapped_column(JSON, default=list, **kwargs)
    return mapped_column(String(field.length) if field.length else Text, **kwargs)


class Contact(Base):
    """A person who answers for one or more initiatives."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = field_column("contact_name")
    email: Mapped[str | None] = field_column("contact_email", unique=True)
    phone: Mapped[str | None] = field_column("contact_phone")
    language: Mapped[str] = mapped_column(String(2), default="da")
    # ok | bouncing | opted_out
    email_status: Mapped[str] = mapped_column(String(16), default="ok")
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime | None] = mapped_column(DateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Consent to show name, e-mail and phone publicly: None never asked, True/False the
    # contact's answer; source: link (the contact's own button) | moderator.
    publish_consent: Mapped[bool | None] = mapped_column(Boolean)
    publish_consent_at: Mapped[datetime | None] = mapped_column(DateTime)
    publish_consent_source: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)

    initiatives: Mapped[list[Initiative]] = relationship(back_populates="contact")

    @property
    def is_public(self) -> bool:
        """Whether the contact's details may be published: only with consent, and never
        for an address that opted out or bounces (the one publication rule)."""
        return self.publish_consent is True and self.email_status == "ok"


class Initiative(Base):
    """One entry of the registry. Every change goes through a version row."""

    __tablename__ = "initiatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    title: Mapped[str] = field_column("title")
    description: Mapped[str | None] = field_column("description")
    status: Mapped[str | None] = field_column("status", index=True)
    participants: Mapped[list[str]] = field_column("participants")
    regions: Mapped[list[str]] = field_column("regions")
    municipalities: Mapped[list[str]] = field_column("municipalities")
    organisation: Mapped[str | None] = field_column("organisation")
    patient_groups: Mapped[list[str]] = field_column("patient_groups")
    technology: Mapped[list[str]] = field_column("technology")
    # Null on entries from before the field (migration 0015): not stated, as [] is.
    pro: Mapped[list[str] | None] = field_column("pro")
    start_date: Mapped[str | None] = field_column("start_date")  # YYYY-MM-DD or YYYY-MM
    end_date: Mapped[str | None] = field_column("end_date")
    experiences: Mapped[str | None] = field_column("experiences")
    evaluation_status: Mapped[str | None] = field_column("evaluation_status", index=True)
    evaluation_url: Mapped[str | None] = field_column("evaluation_url")
    website: Mapped[str | None] = field_column("website")
    # Derived from participants (bot.registry.vocabulary.sector_of); stored for filters and stats.
    sector: Mapped[str | None] = mapped_column(String(32), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    last_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    # The campaign ended without an answer.
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The contact opted out or bounces: the moderators must find a new one.
    needs_new_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # A duplicate merged into another entry is kept (history) but no longer published.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow,
                                                 index=True)

    contact: Mapped[Contact | None] = relationship(back_populates="initiatives", lazy="selectin")

    def public_record(self) -> dict[str, Any]:
        """:meth:`record` as the public may see it: the contact's details only when the
        contact consented and the address works (opted out or bouncing: never)."""
        data = self.record()
        if not (self.contact is not None and self.contact.is_public):
            for key in CONTACT_FIELDS:
                data[key] = None
        return data

    def record(self) -> dict[str, Any]:
        """The entry's field values under the contract's canonical keys (internal: the
        public gets :meth:`public_record`)."""
        c = self.contact
        return {f.key: getattr(self, f.attr) if f.table == "initiative"
                else (getattr(c, f.attr) if c else None) for f in FIELDS}


class InitiativeVersion(Base):
    """An immutable snapshot written for every change to an initiative."""

    __tablename__ = "initiative_versions"
    __table_args__ = (UniqueConstraint("initiative_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(200))
    # email | chat | web | import | demo | system
    channel: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class SearchEntry(Base):
    """A published entry as the catalogue searches it (bot.registry.search_index): its
    folded words by where they stand, and the key its title sorts by. Written in the
    same transaction as the entry; SQLite keeps a full-text copy in the FTS5 table
    ``search_fts`` and PostgreSQL a GIN index over the same words (migration 0010)."""

    __tablename__ = "search_entries"

    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), primary_key=True)
    sort_title: Mapped[str] = mapped_column(Text, index=True)
    title_words: Mapped[str] = mapped_column(Text)
    organisation_words: Mapped[str] = mapped_column(Text)
    other_words: Mapped[str] = mapped_column(Text)


class SearchFacet(Base):
    """One filter value of a published entry (its status, each region, municipality,
    participant, patient group, technology and its sector): filters and their counts are
    SQL over this table."""

    __tablename__ = "search_facets"
    # With the label in the index, the menus' labels are read from the index alone.
    __table_args__ = (Index("ix_search_facets_value", "facet", "value", "label"),)

    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)  # folded
    label: Mapped[str] = mapped_column(String(200))  # as written


__all__ = ["Contact", "Initiative", "InitiativeVersion", "SearchEntry", "SearchFacet",
           "field_column"]


class VocabularyTerm(Base):
    """A canonical term of a controlled vocabulary (``technology`` or
    ``patient_groups``): entries store its Danish label; pages in English show
    ``label_en``."""

    __tablename__ = "vocabulary_terms"
    __table_args__ = (UniqueConstraint("vocabulary", "label_da"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vocabulary: Mapped[str] = mapped_column(String(32))
    label_da: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)


class VocabularySynonym(Base):
    """A word (folded: case and spacing ignored) that means a term; a term's own labels
    are synonyms too. Unique per vocabulary, so a word means one term."""

    __tablename__ = "vocabulary_synonyms"
    __table_args__ = (UniqueConstraint("vocabulary", "folded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("vocabulary_terms.id", ondelete="CASCADE"),
                                         index=True)
    vocabulary: Mapped[str] = mapped_column(String(32))
    folded: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(String(200))


class EvaluationReport(Base):
    """An entry's evaluation report as a file (PDF), attached by a moderator — from a
    contact's reply, say — and published with the entry (#19: "evaluated, with a link or
    an attached report"). One per entry; a newer one replaces it."""

    __tablename__ = "evaluation_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Loaded only when the file itself is served.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # Where it came from: "case:<submission id>".
    source: Mapped[str] = mapped_column(String(100))
    attached_by: Mapped[str] = mapped_column(String(200))
    attached_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
