"""submissions remember where a proposed value came from, when not from a label line

Revision ID: 0009
Revises: 0008

Parse contract v2 reads sentences ("vi lukkede tilbuddet i november 2023") and edits
typed into the quoted reminder, as well as ``Label: value`` lines. The item page shows
where each proposed value came from: ``field_sources`` maps a field to
``{"via": "sentence" | "quoted_form", "text": …}``; a field without an entry came from a
label line (all rows from before).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("field_sources", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("field_sources")
