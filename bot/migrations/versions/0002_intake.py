"""email intake additions (issue 3)

Revision ID: 0002
Revises: 0001

Adds ``inbound_messages.detail`` (JSON): what processing found and did with a message
(submission id, problems, whether an answer was queued or why not), shown to moderators
next to quarantined and ``unknown`` messages.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_column("detail")
