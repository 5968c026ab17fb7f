"""outbox rows say whether their live tokens have been removed

Revision ID: 0008
Revises: 0007

A finished mail (sent, failed or cancelled) keeps no working tokens; the sender removes
them when it is idle (bot.outbox.redact_finished), off the path that sends, and marks
the row. Rows from before start unmarked, so they are cleaned too.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("raw_redacted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_index("ix_outbox_unredacted", ["raw_redacted", "state"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_unredacted")
        batch.drop_column("raw_redacted")
