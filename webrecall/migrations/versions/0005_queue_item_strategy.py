"""the strategy that chose a page item

Page items come from several strategies under one budget (uncertainty, disagreement between a code-structure prior
and the model, coverage of languages and site kinds, audit); each item records its strategy so a round reports what
each one yields. Items queued before read '' (their reason still says uncertain or audit).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queueitem", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strategy", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("queueitem", schema=None) as batch_op:
        batch_op.drop_column("strategy")
