"""domain list and queue indexes for crawl-scale tables; 64-bit character counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 14:30:00.000000

A whole crawl gives a round tens of millions of DomainStat rows: each sort key of the domain list gets an index
(round, key, domain), the related flag and a site theirs by fraction, one domain across rounds an index on
`domain`, host prefixes a pattern-ops index on PostgreSQL, and a claim the open queue items in priority order.
The single-column `fraction` and `related` indexes served none of these reads. Character counts of a large site
pass 2^31 over a whole crawl.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_KEYS = ("fraction", "recalled", "pages", "tokens", "recalled_tokens")
OPEN = sa.text("status IN ('pending', 'claimed')")


def upgrade() -> None:
    with op.batch_alter_table("domainstat", schema=None) as batch_op:
        batch_op.alter_column("tokens", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
        batch_op.alter_column("recalled_tokens", type_=sa.BigInteger(), existing_type=sa.Integer(),
                              existing_nullable=False)  # fmt: skip
        batch_op.drop_index("ix_domainstat_fraction")
        batch_op.drop_index("ix_domainstat_related")
        batch_op.drop_index("ix_domainstat_site")
    with op.batch_alter_table("domainstat", schema=None) as batch_op:
        for key in SORT_KEYS:
            batch_op.create_index(f"ix_domainstat_round_{key}", ["round_id", key, "domain"], unique=False)
        batch_op.create_index("ix_domainstat_round_related", ["round_id", "related", "fraction", "domain"],
                              unique=False)  # fmt: skip
        batch_op.create_index("ix_domainstat_round_site", ["round_id", "site", "fraction", "domain"], unique=False)
        batch_op.create_index("ix_domainstat_domain", ["domain"], unique=False)
        batch_op.create_index("ix_domainstat_round_prefix", ["round_id", "domain"], unique=False,
                              postgresql_ops={"domain": "text_pattern_ops"})  # fmt: skip
    with op.batch_alter_table("queueitem", schema=None) as batch_op:
        batch_op.create_index("ix_queueitem_open_priority", [sa.column("priority").desc(), "id"], unique=False,
                              postgresql_where=OPEN, sqlite_where=OPEN)  # fmt: skip
        batch_op.create_index("ix_queueitem_domain", ["domain"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queueitem", schema=None) as batch_op:
        batch_op.drop_index("ix_queueitem_domain")
        batch_op.drop_index("ix_queueitem_open_priority")
    with op.batch_alter_table("domainstat", schema=None) as batch_op:
        for name in ("round_prefix", "domain", "round_site", "round_related", *(f"round_{key}" for key in SORT_KEYS)):
            batch_op.drop_index(f"ix_domainstat_{name}")
        batch_op.create_index("ix_domainstat_site", ["site"], unique=False)
        batch_op.create_index("ix_domainstat_related", ["related"], unique=False)
        batch_op.create_index("ix_domainstat_fraction", ["fraction"], unique=False)
    with op.batch_alter_table("domainstat", schema=None) as batch_op:
        batch_op.alter_column("recalled_tokens", type_=sa.Integer(), existing_type=sa.BigInteger(),
                              existing_nullable=False)  # fmt: skip
        batch_op.alter_column("tokens", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
