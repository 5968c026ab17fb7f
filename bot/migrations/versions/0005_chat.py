"""chat intake additions (issue 6)

Revision ID: 0005
Revises: 0004

Adds ``chat_conversations``: server-side chat state (see intake/chat_models.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("initiative_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
    )
    op.create_index("ix_chat_conversations_ip", "chat_conversations",
                    ["ip_hash", "created_at"], unique=False)
    op.create_index(op.f("ix_chat_conversations_token_hash"), "chat_conversations",
                    ["token_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_conversations_token_hash"), table_name="chat_conversations")
    op.drop_index("ix_chat_conversations_ip", table_name="chat_conversations")
    op.drop_table("chat_conversations")
