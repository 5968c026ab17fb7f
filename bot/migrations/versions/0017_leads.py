"""leads: initiatives someone mentioned that may not be on the map

Revision ID: 0017
Revises: 0016

A lead is recorded from a reply, the one-page form or the chat; a moderator invites
someone to register it (a personal link, stored hashed) or dismisses it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=True),
        sa.Column("organisation", sa.String(300), nullable=True),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("mentioned_by", sa.String(320), nullable=True),
        sa.Column("mentioned_by_name", sa.String(200), nullable=True),
        sa.Column("initiative_id", sa.Integer(), sa.ForeignKey("initiatives.id"),
                  nullable=True),
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submissions.id"),
                  nullable=True),
        sa.Column("inbound_message_id", sa.Integer(), sa.ForeignKey("inbound_messages.id"),
                  nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("invited_to", sa.String(320), nullable=True),
        sa.Column("invite_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("invite_expires_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("registered_submission_id", sa.Integer(),
                  sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_leads_state", "leads", ["state"])


def downgrade() -> None:
    op.drop_index("ix_leads_state", "leads")
    op.drop_table("leads")
