"""An annotator's hold on a queue item: claim, lease renewal, the Label page's heartbeat, the next item ahead.

The claim lives in the queue (see `queue`), so a closed tab, a refresh or a second browser loses nothing: the
annotator's claimed item is found again in the database.
"""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from webrecall.core.db import QueueItem, utcnow
from webrecall.core.labelling import queue

LEASE_SECONDS = 300
MAX_IDLE_SECONDS = 900
"""An open Label page keeps its lease this long after the annotator's last action."""


def held_item(db: Session, annotator: str) -> QueueItem | None:
    """The item this annotator holds (after a refresh: the same one), if nobody took it over."""
    query = select(QueueItem).where(QueueItem.status == "claimed", QueueItem.claimed_by == annotator)
    return db.exec(query.order_by(col(QueueItem.updated_at).desc())).first()


def next_item(db: Session, annotator: str, *, lease_seconds: int = LEASE_SECONDS) -> QueueItem | None:
    """The held item with its lease renewed, or a newly claimed one; None when the queue has nothing left."""
    item = held_item(db, annotator)
    if item is not None:
        try:
            return queue.renew(db, item.id or 0, annotator, lease_seconds=lease_seconds)
        except queue.LeaseError:
            pass  # taken over between the read and the renewal
    return queue.claim(db, annotator, lease_seconds=lease_seconds)


def keep_alive(db: Session, annotator: str, item_id: int, *, idle_seconds: float,
               max_idle_seconds: float = MAX_IDLE_SECONDS, lease_seconds: int = LEASE_SECONDS) -> bool:  # fmt: skip
    """The heartbeat of an open Label page: renew the lease while the annotator is reading (acted within
    `max_idle_seconds`). False when they have been idle longer (the lease runs out and the item goes back to the
    queue, so a tab left open holds nothing) or the claim is no longer theirs."""
    if idle_seconds > max_idle_seconds:
        return False
    try:
        queue.renew(db, item_id, annotator, lease_seconds=lease_seconds)
    except queue.LeaseError:
        return False
    return True


def peek_next(db: Session, annotator: str, *, exclude: int | None = None) -> QueueItem | None:
    """The item a claim would hand out next (read only): its proposals can be prepared ahead of time."""
    query = select(QueueItem).where(
        or_(col(QueueItem.status) == "pending",
            and_(col(QueueItem.status) == "claimed", col(QueueItem.lease_until) < utcnow())),
        queue.not_skipped_by(annotator),
    ).order_by(col(QueueItem.priority).desc(), col(QueueItem.id)).limit(16)  # fmt: skip
    return next((i for i in db.exec(query) if annotator not in i.labeled_by and i.id != exclude), None)
