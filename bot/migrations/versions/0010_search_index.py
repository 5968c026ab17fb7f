"""the catalogue's search index: words and filter values of every published entry

Revision ID: 0010
Revises: 0009

The catalogue searched and counted by loading every entry on every request. Now
``search_entries`` holds each published entry's folded words (title, organisation, the
rest) and the key its title sorts by, ``search_facets`` its filter values; SQLite searches
an FTS5 copy of the words (``search_fts``, rowid = the entry's id) and PostgreSQL a GIN
index over ``to_tsvector('simple', …)`` of the same words, weighted A/B/C (the expression
must stay identical to ``bot.registry.search_index._pg_document``). The index is filled
here from the entries there are; afterwards the registry's write path keeps it in step.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PG_DOCUMENT = (
    "(setweight(to_tsvector('simple'::regconfig, title_words), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, organisation_words), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, other_words), 'C'))")


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("initiative_id", sa.Integer(), sa.ForeignKey("initiatives.id"),
                  primary_key=True),
        sa.Column("sort_title", sa.Text(), nullable=False),
        sa.Column("title_words", sa.Text(), nullable=False),
        sa.Column("organisation_words", sa.Text(), nullable=False),
        sa.Column("other_words", sa.Text(), nullable=False))
    op.create_index("ix_search_entries_sort_title", "search_entries", ["sort_title"])
    op.create_table(
        "search_facets",
        sa.Column("initiative_id", sa.Integer(), sa.ForeignKey("initiatives.id"),
                  primary_key=True),
        sa.Column("facet", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False))
    op.create_index("ix_search_facets_value", "search_facets", ["facet", "value"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(title_words, "
                   "organisation_words, other_words, tokenize = 'unicode61 remove_diacritics 0')")
    else:
        op.execute(f"CREATE INDEX ix_search_entries_document ON search_entries "
                   f"USING GIN ({PG_DOCUMENT})")
    _fill(bind)


def _fill(bind: sa.Connection) -> None:
    from bot.registry.search_index import FACETS, document

    # Later migrations call this too (0013), and the facets grow with the fields: read the
    # columns the table has at this revision (a later field is simply not there yet).
    existing = {c["name"] for c in sa.inspect(bind).get_columns("initiatives")}
    columns = [c for c in ("id", "title", "description", "organisation", "experiences",
                           *sorted(set(FACETS.values()))) if c in existing]
    json_columns = {"regions", "municipalities", "participants", "patient_groups",
                    "technology", "pro"}
    initiatives = sa.table("initiatives", sa.column("merged_into_id"),
                           *(sa.column(c, sa.JSON() if c in json_columns else sa.Text())
                             for c in columns))
    entries = sa.table("search_entries", *(sa.column(c) for c in (
        "initiative_id", "sort_title", "title_words", "organisation_words", "other_words")))
    facets = sa.table("search_facets", *(sa.column(c) for c in (
        "initiative_id", "facet", "value", "label")))
    rows, facet_rows = [], []
    query = sa.select(*(initiatives.c[c] for c in columns)).where(
        initiatives.c.merged_into_id.is_(None))
    for entry in bind.execute(query).mappings():
        row, entry_facets = document(dict(entry))
        rows.append(row)
        facet_rows += entry_facets
    if rows:
        bind.execute(sa.insert(entries), rows)
        if bind.dialect.name == "sqlite":
            bind.execute(sa.text(
                "INSERT INTO search_fts (rowid, title_words, organisation_words, other_words) "
                "VALUES (:initiative_id, :title_words, :organisation_words, :other_words)"),
                rows)
    if facet_rows:
        bind.execute(sa.insert(facets), facet_rows)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_facets")
    op.drop_table("search_entries")
