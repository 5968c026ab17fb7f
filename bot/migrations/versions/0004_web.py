"""moderator web UI and public pages additions (issue 5)

Revision ID: 0004
Revises: 0003

Owned by one capability; it starts empty so parallel work never forks the revision chain.
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
