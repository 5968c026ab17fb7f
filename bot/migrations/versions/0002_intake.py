"""email intake additions (issue 3)

Revision ID: 0002
Revises: 0001

Owned by one capability; it starts empty so parallel work never forks the revision chain.
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
