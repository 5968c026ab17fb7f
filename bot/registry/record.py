"""The registry record: every field of an entry, defined once.

Everything that lists the fields derives from :data:`FIELDS`, in its order (the
``landkort parse`` contract's order): the tables' columns (:mod:`bot.registry.models`),
the field parser and its labels (:mod:`bot.registry.fields`), the reminder form, the
chat's questions, the CSV columns, the public API and its OpenAPI schema. Adding a field
means adding it here, a migration for its column, and its words in the catalogues.

Pure data: no database, no I/O (the parsing core imports it).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "longtext", "status", "participant_list", "region_list",
               "municipality_list", "text_list", "date", "email", "phone", "url",
               "choice", "choice_list"]
Table = Literal["initiative", "contact"]

# Kinds whose answer is kept as written (length-checked), not mapped to a vocabulary,
# a date or a list: their column size is the longest answer we accept.
FREE_TEXT_KINDS: frozenset[str] = frozenset({"text", "email", "url"})


@dataclass(frozen=True)
class Field:
    """One field of a registry entry."""

    key: str
    # Labels people write, per language; the first is the one our forms print.
    labels: dict[str, tuple[str, ...]]
    kind: Kind
    # Column size in characters; None for unbounded text and for lists (JSON).
    length: int | None
    mandatory: bool = False
    # Where the value is stored: the initiative row, or the contact row under ``column``.
    table: Table = "initiative"
    column: str = ""
    # One line for the public API's documentation.
    doc: str = ""

    @property
    def attr(self) -> str:
        """The column's attribute name on its table's model."""
        return self.column or self.key

    @property
    def is_list(self) -> bool:
        return self.kind.endswith("_list")


FIELDS: tuple[Field, ...] = (
    Field("title", {"da": ("Titel", "Navn på initiativ", "Initiativ"), "en": ("Title", "Name")},
          "text", 300, mandatory=True, doc="Title."),
    Field("description", {"da": ("Beskrivelse", "Formål"), "en": ("Description", "Purpose")},
          "longtext", None, mandatory=True, doc="What the initiative does."),
    Field("status", {"da": ("Status",), "en": ("Status",)}, "status", 20, mandatory=True,
          doc="projekt | under_udbredelse | i_drift | afsluttet (MedCom's definitions)."),
    Field("participants", {"da": ("Deltagere", "Sektorer"), "en": ("Participants", "Sectors")},
          "participant_list", None, mandatory=True,
          doc="Kinds of participant: almen_praksis, kommune, sygehus."),
    Field("regions", {"da": ("Regioner", "Region"), "en": ("Regions", "Region")},
          "region_list", None, mandatory=True, doc="Regions covered."),
    Field("municipalities",
          {"da": ("Kommuner", "Kommune"), "en": ("Municipalities", "Municipality")},
          "municipality_list", None, doc="Municipalities covered (official short names)."),
    Field("organisation",
          {"da": ("Organisation", "Ansvarlig organisation", "Ansvarlig"),
           "en": ("Organisation", "Organization", "Owner")},
          "text", 300, mandatory=True, doc="Responsible organisation."),
    Field("patient_groups",
          {"da": ("Patientgrupper", "Patientgruppe", "Målgruppe", "Sygdomsområde"),
           "en": ("Patient groups", "Patient group", "Target group", "Disease area")},
          "text_list", None, doc="Patient groups (free text)."),
    Field("technology", {"da": ("Teknologi", "Teknologier"), "en": ("Technology", "Technologies")},
          "text_list", None, doc="Technology used (free text)."),
    Field("pro",
          {"da": ("PRO", "Patientrapporterede oplysninger"),
           "en": ("PRO", "Patient-reported outcomes")},
          "choice_list", None,
          doc="Patient-reported outcomes used: spoergeskema (PRO questionnaires), "
              "hjemmemaaling (PRO home measurements), or ingen (none), as MedCom's "
              "mapping has reported since 2019."),
    Field("start_date", {"da": ("Startdato", "Start"), "en": ("Start date", "Start")},
          "date", 10, doc="YYYY-MM-DD or YYYY-MM."),
    Field("end_date", {"da": ("Slutdato", "Afsluttet", "Slut"), "en": ("End date", "End")},
          "date", 10, doc="YYYY-MM-DD or YYYY-MM."),
    Field("contact_name",
          {"da": ("Kontaktperson", "Kontakt"), "en": ("Contact person", "Contact name", "Contact")},
          "text", 200, mandatory=True, table="contact", column="name",
          doc="Contact person (null unless the contact consented to publication)."),
    Field("contact_email",
          {"da": ("E-mail", "Email", "Mail", "Kontakt e-mail"),
           "en": ("E-mail", "Email", "Contact email")},
          "email", 320, mandatory=True, table="contact", column="email",
          doc="Contact e-mail (null unless the contact consented to publication)."),
    Field("contact_phone",
          {"da": ("Telefon", "Tlf.", "Tlf", "Mobil"), "en": ("Phone", "Telephone", "Mobile")},
          "phone", 32, table="contact", column="phone",
          doc="Contact phone (null unless the contact consented to publication)."),
    Field("experiences",
          {"da": ("Erfaringer", "Erfaring"), "en": ("Experiences", "Lessons learned")},
          "longtext", None,
          doc="Experiences: what worked, what did not, the effect seen (the contact's own "
              "words, moderated like any change)."),
    Field("evaluation_status",
          {"da": ("Evalueringsstatus", "Evalueret"), "en": ("Evaluation status", "Evaluated")},
          "choice", 20, doc="ikke_evalueret | under_evaluering | evalueret."),
    Field("evaluation_url",
          {"da": ("Evaluering", "Link til evaluering"), "en": ("Evaluation", "Evaluation report")},
          "url", 500, doc="Link to an evaluation."),
    Field("website",
          {"da": ("Hjemmeside", "Link", "Website"), "en": ("Website", "Homepage", "Link")},
          "url", 500, doc="Link to the initiative's website."),
)

FIELD: dict[str, Field] = {f.key: f for f in FIELDS}

# Derived views, each in the one order of FIELDS.
FIELD_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS)
INITIATIVE_FIELDS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.table == "initiative")
CONTACT_FIELDS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.table == "contact")
MANDATORY_FIELDS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.mandatory)
OPTIONAL_FIELDS: tuple[str, ...] = tuple(f.key for f in FIELDS if not f.mandatory)
LIST_FIELDS: frozenset[str] = frozenset(f.key for f in FIELDS if f.is_list)
MULTILINE_FIELDS: frozenset[str] = frozenset(f.key for f in FIELDS if f.kind == "longtext")
# The longest answer accepted for a field kept as written (longer ones get a hint).
FREE_TEXT_LIMITS: dict[str, int] = {
    f.key: f.length for f in FIELDS if f.kind in FREE_TEXT_KINDS and f.length is not None}
LABELS: dict[str, dict[str, tuple[str, ...]]] = {f.key: f.labels for f in FIELDS}


def missing_mandatory(record: Mapping[str, Any]) -> list[str]:
    """The mandatory fields ``record`` lacks, in form order: the one completeness rule
    (the queue's "missing fields", the reminder's "we miss", the completeness page)."""
    return [key for key in MANDATORY_FIELDS if record.get(key) in (None, "", [])]


__all__ = [
    "CONTACT_FIELDS", "FIELD", "FIELDS", "FIELD_KEYS", "FREE_TEXT_LIMITS", "Field",
    "INITIATIVE_FIELDS", "LABELS", "LIST_FIELDS", "MANDATORY_FIELDS", "MULTILINE_FIELDS",
    "OPTIONAL_FIELDS", "missing_mandatory",
]
