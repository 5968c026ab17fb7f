"""outbox_bodies: an outgoing mail's bytes in a table of their own

Revision ID: 0020
Revises: 0019

The sender updates an outbox row twice per mail (claimed, sent). SQLite rewrites a whole
row on every UPDATE, and with the mail's bytes in the row that meant several overflow
pages to the WAL for each update (#18). The bytes move to ``outbox_bodies``, one row per
outbox row, written once.

The column is dropped with a plain ``ALTER TABLE … DROP COLUMN`` (SQLite 3.35 and
PostgreSQL), not a batch copy of the table: a batch copy drops the old table, and with
foreign keys on that is an implicit DELETE that the new table's cascade would follow.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_bodies",
        sa.Column("outbox_id", sa.Integer(),
                  sa.ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
    )
    op.execute("INSERT INTO outbox_bodies (outbox_id, raw) SELECT id, raw FROM outbox")
    op.execute("ALTER TABLE outbox DROP COLUMN raw")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN raw BLOB" if op.get_bind().dialect.name
               == "sqlite" else "ALTER TABLE outbox ADD COLUMN raw BYTEA")
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM outbox_bodies "
               "WHERE outbox_bodies.outbox_id = outbox.id)")
    op.drop_table("outbox_bodies")
