"""submissions remember which proposed values came from the sender's sentences

Revision ID: 0009
Revises: 0008

Parse contract v2 reads sentences ("vi lukkede tilbuddet i november 2023") as well as
``Label: value`` lines. What a sentence gave is a suggestion: the item page shows it
apart from what the sender wrote as a field, with the sentence. ``suggested`` maps a
field to that sentence; rows from before have none.
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
        batch.add_column(sa.Column("suggested", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("suggested")
