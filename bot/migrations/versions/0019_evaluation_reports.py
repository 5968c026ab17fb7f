"""evaluation_reports: an entry's evaluation report as an attached PDF

Revision ID: 0019
Revises: 0018

A moderator attaches a PDF a contact sent (from the case's mail); it is published with
the entry. One per entry.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("initiative_id", sa.Integer(), sa.ForeignKey("initiatives.id"),
                  nullable=False, unique=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("attached_by", sa.String(200), nullable=False),
        sa.Column("attached_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evaluation_reports")
