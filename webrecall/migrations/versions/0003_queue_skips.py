"""per-annotator skips of queue items

A skip used to take the item out of the queue for everyone (status 'skipped'). Each skip becomes a `queueskip`
row for the annotator who made it, and the item goes back to the queue for the others.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 15:10:00
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SKIP_KEYS = ("skipped_by", "skip_reason", "skipped_at")


def upgrade() -> None:
    op.create_table(
        "queueskip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queueitem.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id", "annotator"),
    )
    with op.batch_alter_table("queueskip", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queueskip_annotator"), ["annotator"], unique=False)
        batch_op.create_index(batch_op.f("ix_queueskip_queue_item_id"), ["queue_item_id"], unique=False)

    items = sa.table("queueitem", sa.column("id", sa.Integer()), sa.column("status", sa.String()),
                     sa.column("details", sa.JSON()))  # fmt: skip
    skips = sa.table("queueskip", sa.column("queue_item_id", sa.Integer()), sa.column("annotator", sa.String()),
                     sa.column("reason", sa.String()),
                     sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()))  # fmt: skip
    conn = op.get_bind()
    for item_id, details in conn.execute(sa.select(items.c.id, items.c.details).where(items.c.status == "skipped")):
        details = json.loads(details) if isinstance(details, str) else dict(details or {})
        if details.get("skipped_by"):
            at = details.get("skipped_at")
            conn.execute(skips.insert().values(
                queue_item_id=item_id, annotator=details["skipped_by"], reason=details.get("skip_reason") or "",
                created_at=datetime.fromisoformat(at) if at else datetime.now(UTC)))  # fmt: skip
        kept = {k: v for k, v in details.items() if k not in _SKIP_KEYS}
        conn.execute(items.update().where(items.c.id == item_id).values(status="pending", details=kept))


def downgrade() -> None:
    with op.batch_alter_table("queueskip", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queueskip_queue_item_id"))
        batch_op.drop_index(batch_op.f("ix_queueskip_annotator"))
    op.drop_table("queueskip")
