"""PRO and evaluation status on entries; frozen copies of the yearly report

Revision ID: 0015
Revises: 0014

Two fields of the entry (bot.registry.record): ``pro`` (PRO questionnaires, PRO home
measurements, or none, as MedCom's mapping has counted since 2019) and
``evaluation_status`` (not evaluated / in progress / evaluated). Existing entries have
neither (unknown). ``frozen_reports`` keeps each published yearly report.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite: the search triggers stay as they are).
    op.add_column("initiatives", sa.Column("pro", sa.JSON(), nullable=True))
    op.add_column("initiatives", sa.Column("evaluation_status", sa.String(20), nullable=True))
    op.create_index("ix_initiatives_evaluation_status", "initiatives", ["evaluation_status"])
    op.create_table(
        "frozen_reports",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("frozen_by", sa.String(200), nullable=False),
        sa.Column("frozen_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("frozen_reports")
    op.drop_index("ix_initiatives_evaluation_status", "initiatives")
    with op.batch_alter_table("initiatives") as batch:
        batch.drop_column("evaluation_status")
        batch.drop_column("pro")
