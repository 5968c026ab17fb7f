"""controlled vocabularies for technology and patient groups; free text becomes terms

Revision ID: 0013
Revises: 0012

Technology and patient groups were free text, so approving "app, video" added a filter
value "video (1)" beside "Videokonsultation (12)". ``vocabulary_terms`` holds the
canonical terms (Danish and English labels), ``vocabulary_synonyms`` the words that mean
each (folded: case, spacing and hyphens ignored). The terms below are seeded; then every
published entry's values are mapped: a known word becomes its term (a new version of the
entry, written by "system", and its filter values re-indexed), and each remaining
distinct value becomes a term of its own (its most common spelling), so that after this
migration every stored value is a term. Administrators then rename and merge terms in
the UI (/moderation/vocabularies), which rewrites entries as new versions.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (Danish label, English label, further synonyms in either language)
SEED: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "technology": [
        ("Videokonsultation", "Video consultation",
         ("video", "videomøde", "videomøder", "videosamtale", "videosamtaler",
          "videokonsultationer", "videoopkald", "video consultations", "video call",
          "video calls", "videokonference")),
        ("Skærmbesøg", "Screen visit", ("skærmbesøg i hjemmeplejen", "virtuelt besøg",
                                        "virtuelle besøg", "virtual visit")),
        ("Videotolkning", "Video interpreting", ("videotolk", "tolkning via video")),
        ("Tablet", "Tablet", ("tablets", "ipad", "ipads", "tavlecomputer")),
        ("App", "App", ("apps", "mobilapp", "mobil app", "smartphone app", "app'en",
                        "applikation", "mobile app")),
        ("Pulsoximeter", "Pulse oximeter", ("pulsoxymeter", "saturationsmåler",
                                            "iltmætningsmåler", "pulse oximeter")),
        ("Blodtryksmåler", "Blood pressure monitor", ("blodtryksapparat",
                                                      "blood pressure monitor")),
        ("Vægt", "Scale", ("badevægt", "personvægt", "scale", "weight scale")),
        ("Blodsukkermåler", "Blood glucose meter", ("glucometer", "blood glucose meter")),
        ("Glukosesensor", "Glucose sensor", ("cgm", "kontinuerlig glukosemåler",
                                             "glucose sensor")),
        ("Aktivitetsmåler", "Activity tracker", ("skridttæller", "activity tracker")),
        ("Peak flow-måler", "Peak flow meter", ("peakflowmåler", "peak flow meter")),
        ("Billeddeling", "Image sharing", ("image sharing",)),
        ("Fundusfotografering", "Fundus photography", ("fundusfoto", "fundus photography")),
        ("Træningsvideoer", "Exercise videos", ("træningsvideo", "exercise videos")),
        ("Spørgeskema", "Questionnaire", ("spørgeskemaer", "pro-skema", "pro skema",
                                          "pro-spørgeskema", "questionnaires")),
        ("Internetbehandling", "Internet-based treatment", ("internetpsykiatri",
                                                            "online behandling",
                                                            "internet-based treatment")),
        ("Vitale værdier", "Vital signs", ("vitale parametre", "vital signs")),
        ("Hjemmetest", "Home test", ("hjemmetests", "home test")),
        ("Hjemmemonitorering", "Home monitoring", ("telemonitorering", "fjernmonitorering",
                                                   "home monitoring", "remote monitoring")),
        ("Telefonkonsultation", "Telephone consultation", ("telephone consultation",)),
        ("Chat", "Chat", ("sikker chat", "secure chat")),
    ],
    "patient_groups": [
        ("KOL", "COPD", ("kronisk obstruktiv lungesygdom", "copd", "kol-patienter",
                         "borgere med kol", "patienter med kol")),
        ("Hjertesvigt", "Heart failure", ("hjerteinsufficiens", "heart failure",
                                          "patienter med hjertesvigt")),
        ("Hjertepatienter", "Heart patients", ("hjertesygdom", "heart patients")),
        ("Diabetes", "Diabetes", ("sukkersyge", "diabetikere")),
        ("Diabetes type 2", "Type 2 diabetes", ("type 2-diabetes", "type 2 diabetes")),
        ("Børn med type 1-diabetes", "Children with type 1 diabetes", ()),
        ("Gravide med diabetes", "Pregnant women with diabetes", ()),
        ("Diabetiske fodsår", "Diabetic foot ulcers", ("diabetiske fødder",)),
        ("Kroniske sår", "Chronic wounds", ("chronic wounds",)),
        ("Kræftpatienter", "Cancer patients", ("kræft", "cancer", "cancer patients")),
        ("Kronisk syge", "People with chronic illness", ("kronikere", "chronically ill")),
        ("Hjemmeboende ældre", "Older people living at home", ()),
        ("Ældre medicinske patienter", "Older medical patients", ()),
        ("Plejehjemsbeboere", "Nursing home residents", ()),
        ("Demens", "Dementia", ("demente", "dementia")),
        ("Depression", "Depression", ()),
        ("Unge med depression", "Young people with depression", ()),
        ("Unge med angst", "Young people with anxiety", ()),
        ("Let til moderat angst", "Mild to moderate anxiety", ()),
        ("Patienter med psykiske lidelser", "Patients with mental illness", ()),
        ("Gravide med forhøjet blodtryk", "Pregnant women with high blood pressure", ()),
        ("Præeklampsi", "Pre-eclampsia", ("svangerskabsforgiftning", "pre-eclampsia")),
        ("Nybagte forældre", "New parents", ()),
        ("Børn med astma", "Children with asthma", ()),
        ("Leddegigt", "Rheumatoid arthritis", ("reumatoid artrit", "rheumatoid arthritis")),
        ("Colitis ulcerosa", "Ulcerative colitis", ("ulcerative colitis",)),
        ("Crohns sygdom", "Crohn's disease", ("crohn", "morbus crohn", "crohn's disease")),
        ("Hoftealloplastik", "Hip replacement", ("hip replacement",)),
        ("Knæalloplastik", "Knee replacement", ("knee replacement",)),
        ("Ambulante patienter", "Outpatients", ("outpatients",)),
        ("Patienter med behov for tolk", "Patients who need an interpreter", ()),
        ("Alle patientgrupper", "All patient groups", ()),
    ],
}


def fold(text: str) -> str:
    """As bot.registry.terms.fold_term (frozen here: a migration must not change)."""
    import re
    import unicodedata

    t = unicodedata.normalize("NFC", text).casefold()
    t = re.sub(r"[-_/]+", " ", t)
    t = " ".join(t.split())
    return t.strip(" .,;:!?\"'()[]")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def upgrade() -> None:
    op.create_table(
        "vocabulary_terms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vocabulary", sa.String(32), nullable=False),
        sa.Column("label_da", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("vocabulary", "label_da"),
    )
    op.create_table(
        "vocabulary_synonyms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("term_id", sa.Integer(),
                  sa.ForeignKey("vocabulary_terms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vocabulary", sa.String(32), nullable=False),
        sa.Column("folded", sa.String(200), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.UniqueConstraint("vocabulary", "folded"),
    )
    op.create_index("ix_vocabulary_synonyms_term_id", "vocabulary_synonyms", ["term_id"])
    bind = op.get_bind()
    words = _seed(bind)
    _migrate_free_text(bind, words)


TERMS = sa.table("vocabulary_terms", sa.column("id", sa.Integer()),
                 sa.column("vocabulary", sa.String()), sa.column("label_da", sa.String()),
                 sa.column("label_en", sa.String()), sa.column("created_at", sa.DateTime()),
                 sa.column("updated_at", sa.DateTime()))
SYNONYMS = sa.table("vocabulary_synonyms", sa.column("term_id", sa.Integer()),
                    sa.column("vocabulary", sa.String()), sa.column("folded", sa.String()),
                    sa.column("text", sa.String()))
INITIATIVES = sa.table("initiatives", sa.column("id", sa.Integer()),
                       sa.column("merged_into_id", sa.Integer()),
                       sa.column("version", sa.Integer()),
                       sa.column("updated_at", sa.DateTime()),
                       sa.column("technology", sa.JSON()),
                       sa.column("patient_groups", sa.JSON()))
VERSIONS = sa.table("initiative_versions", sa.column("initiative_id", sa.Integer()),
                    sa.column("version", sa.Integer()), sa.column("data", sa.JSON()),
                    sa.column("changed", sa.JSON()), sa.column("actor", sa.String()),
                    sa.column("channel", sa.String()), sa.column("note", sa.Text()),
                    sa.column("created_at", sa.DateTime()))
SUBMISSIONS = sa.table("submissions", sa.column("initiative_id", sa.Integer()),
                       sa.column("base_version", sa.Integer()), sa.column("state", sa.String()))
AUDIT = sa.table("audit_events", sa.column("at", sa.DateTime()),
                 sa.column("actor", sa.String()), sa.column("action", sa.String()),
                 sa.column("detail", sa.JSON()))


def _add_term(bind: sa.Connection, vocabulary: str, da: str, en: str,
              synonyms: tuple[str, ...], words: dict[str, dict[str, str]]) -> None:
    now = _now()
    term_id = bind.execute(sa.insert(TERMS).values(
        vocabulary=vocabulary, label_da=da, label_en=en, created_at=now, updated_at=now)
        .returning(TERMS.c.id)).scalar_one()
    for text in (da, en, *synonyms):
        folded = fold(text)
        if folded and len(text) <= 200 and folded not in words[vocabulary]:
            bind.execute(sa.insert(SYNONYMS).values(term_id=term_id, vocabulary=vocabulary,
                                                    folded=folded, text=text))
            words[vocabulary][folded] = da


def _seed(bind: sa.Connection) -> dict[str, dict[str, str]]:
    words: dict[str, dict[str, str]] = {v: {} for v in SEED}
    for vocabulary, terms in SEED.items():
        for da, en, synonyms in terms:
            _add_term(bind, vocabulary, da, en, synonyms, words)
    return words


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value)
    return [str(v) for v in value or []]


def _migrate_free_text(bind: sa.Connection, words: dict[str, dict[str, str]]) -> None:
    rows = bind.execute(sa.select(INITIATIVES.c.id, INITIATIVES.c.technology,
                                  INITIATIVES.c.patient_groups)
                        .where(INITIATIVES.c.merged_into_id.is_(None))).all()
    # Values no seeded term covers become terms of their own: one per folded word,
    # labelled with its most common spelling.
    spellings: dict[str, dict[str, Counter[str]]] = {v: defaultdict(Counter) for v in SEED}
    for row in rows:
        for vocabulary in SEED:
            for value in _list(getattr(row, vocabulary)):
                text = " ".join(value.split())
                # (A value longer than a term's name can be stays free text: a proposal.)
                if text and len(text) <= 200 and fold(text) not in words[vocabulary]:
                    spellings[vocabulary][fold(text)][text] += 1
    created = 0
    for vocabulary, by_fold in spellings.items():
        for counts in by_fold.values():
            label = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            _add_term(bind, vocabulary, label, label, tuple(counts), words)
            created += 1
    rewritten = 0
    for row in rows:
        new: dict[str, list[str]] = {}
        for vocabulary in SEED:
            old = _list(getattr(row, vocabulary))
            mapped: dict[str, str] = {}
            for value in old:
                text = " ".join(value.split())
                if text:
                    name = words[vocabulary].get(fold(text), text)
                    mapped.setdefault(fold(name), name)
            canonical = sorted(mapped.values())
            if canonical != sorted(old):
                new[vocabulary] = canonical
        if new:
            _rewrite(bind, row.id, new)
            rewritten += 1
    if rewritten:
        _reindex(bind)
    if created or rewritten:
        bind.execute(sa.insert(AUDIT).values(
            at=_now(), actor="system", action="vocabulary.migrated",
            detail={"terms_created": created, "entries_rewritten": rewritten}))


def _rewrite(bind: sa.Connection, initiative_id: int, new: dict[str, list[str]]) -> None:
    """A new version of the entry with its values as terms."""
    latest = bind.execute(sa.select(VERSIONS.c.data).where(
        VERSIONS.c.initiative_id == initiative_id)
        .order_by(VERSIONS.c.version.desc()).limit(1)).scalar()
    current = bind.execute(sa.select(INITIATIVES.c.version).where(
        INITIATIVES.c.id == initiative_id)).scalar_one()
    data = json.loads(latest) if isinstance(latest, str) else dict(latest or {})
    data.update(new)
    version, now = int(current) + 1, _now()
    bind.execute(sa.update(INITIATIVES).where(INITIATIVES.c.id == initiative_id)
                 .values(version=version, updated_at=now, **new))
    bind.execute(sa.insert(VERSIONS).values(
        initiative_id=initiative_id, version=version, data=data, changed=sorted(new),
        actor="system", channel="system",
        note="vocabulary migration: values mapped to terms", created_at=now))
    # Open cases based on the version before are based on this one too (only the names
    # of values changed), so approving them is no conflict.
    bind.execute(sa.update(SUBMISSIONS).where(
        SUBMISSIONS.c.initiative_id == initiative_id,
        SUBMISSIONS.c.base_version == int(current),
        SUBMISSIONS.c.state.in_(("pending", "needs_info", "unverified")))
        .values(base_version=version))


def _reindex(bind: sa.Connection) -> None:
    """Fill the catalogue's search index again, as migration 0010 did."""
    import importlib

    bind.execute(sa.text("DELETE FROM search_facets"))
    bind.execute(sa.text("DELETE FROM search_entries"))
    if bind.dialect.name == "sqlite":
        bind.execute(sa.text("DELETE FROM search_fts"))
    importlib.import_module("bot.migrations.versions.0010_search_index")._fill(bind)


def downgrade() -> None:
    op.drop_index("ix_vocabulary_synonyms_term_id", table_name="vocabulary_synonyms")
    op.drop_table("vocabulary_synonyms")
    op.drop_table("vocabulary_terms")
