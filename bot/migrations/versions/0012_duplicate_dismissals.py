"""pairs of entries a moderator said are not duplicates

Revision ID: 0012
Revises: 0011

The duplicates work list (/moderation/duplicates) ranks suspected pairs; "Ikke en dublet"
is remembered here (lower id first) so the pair never comes back.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duplicate_dismissals",
        sa.Column("low_id", sa.Integer(), sa.ForeignKey("initiatives.id"), primary_key=True),
        sa.Column("high_id", sa.Integer(), sa.ForeignKey("initiatives.id"), primary_key=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("duplicate_dismissals")
