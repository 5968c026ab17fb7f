"""the link checker's state per link; the entries' experiences

Revision ID: 0016
Revises: 0015

``link_checks`` keeps the last check of each entry's website and evaluation link, and
how many checks in a row found it dead (bot.links). ``initiatives.experiences`` is the
optional *Erfaringer* field (what worked, what did not, the effect seen).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("initiatives", sa.Column("experiences", sa.Text(), nullable=True))
    op.create_table(
        "link_checks",
        sa.Column("initiative_id", sa.Integer(), sa.ForeignKey("initiatives.id"),
                  primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("redirects", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("last_ok_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_link_checks_checked_at", "link_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_link_checks_checked_at", "link_checks")
    op.drop_table("link_checks")
    with op.batch_alter_table("initiatives") as batch:
        batch.drop_column("experiences")
