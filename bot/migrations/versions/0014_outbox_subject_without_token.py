"""the outbox's subject column without the reply token

Revision ID: 0014
Revises: 0013

A reply token travels in the subject of our mail ("… [ref:TOKEN]"). The mail itself
loses its live tokens once it is sent (``redact_finished``), but the ``subject`` column,
which the administrators' mail page lists, kept the tag. New rows are stored without it
(``bot.mail.outbox.subject_without_token``); this removes it from the rows there are.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (No leading \s*: scanning a run of spaces from every start would be quadratic.)
_SUBJECT_TOKEN = re.compile(r"\[ref:[A-Za-z0-9_-]{16,}+\]")


def upgrade() -> None:
    bind = op.get_bind()
    outbox = sa.table("outbox", sa.column("id", sa.Integer()),
                      sa.column("subject", sa.String()))
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.subject)
                        .where(outbox.c.subject.like("%[ref:%"))).all()
    for row_id, subject in rows:
        bind.execute(sa.update(outbox).where(outbox.c.id == row_id)
                     .values(subject=" ".join(_SUBJECT_TOKEN.sub("", subject).split())))


def downgrade() -> None:
    pass  # the tokens are gone on purpose
