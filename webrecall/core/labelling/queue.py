"""The annotation queue: enqueue, claim with a lease, renew, release, complete, skip (per annotator), reopen, expire.

Several annotators (Streamlit sessions, scripts) pull from one queue, so a claim must hand each item to one
of them only. PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` (concurrent claims pass each other). SQLite: the
claim runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock before reading, so claims serialize.
A lease that runs out returns the item to the queue: a closed browser tab never holds an item forever.
Every function commits its own transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from webrecall.core import params
from webrecall.core.db import Label, QueueItem, QueueSkip, Round, utcnow
from webrecall.core.errors import WebrecallError
from webrecall.core.label_store import parse_rows
from webrecall.core.labelling.scope import confine


class LeaseError(WebrecallError):
    """The item is not (or no longer) claimed by this annotator, or is already finished."""


def _begin_write(db: Session) -> None:
    """Start the transaction that will write; on SQLite take the write lock now, not at the first UPDATE."""
    db.commit()
    if db.get_bind().dialect.name == "sqlite":
        db.connection().exec_driver_sql("BEGIN IMMEDIATE")


def _locked(query: Any, *, skip_locked: bool = False) -> Any:
    """`query` taking row locks, its rows read afresh: sessions keep their objects across commits
    (`expire_on_commit=False`), so without `populate_existing` a locked row could be judged by its stale copy (on
    PostgreSQL, racing annotators then both finished an item)."""
    return query.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)


def round_labels_needed(db: Session, round_id: int) -> int:
    """How many annotators label each item of a round: its `labels_needed` parameter (1 unless switched on)."""
    rnd = db.get(Round, round_id)
    return params.of(rnd).labels_needed if rnd is not None else 1


def enqueue(db: Session, items: Iterable[QueueItem]) -> int:
    """Add items, skipping domains already queued in the same round (a rerun of discovery adds nothing).
    An item left at the default of one label gets its round's `labels_needed` (gold items keep theirs)."""
    items = list(items)
    rounds = {i.round_id for i in items}
    needed = {r: round_labels_needed(db, r) for r in rounds}
    for i in items:
        if i.kind != "gold" and i.labels_needed == 1:
            i.labels_needed = needed[i.round_id]
    existing = {(q.round_id, q.domain) for q in db.exec(select(QueueItem).where(col(QueueItem.round_id).in_(rounds)))}
    new = [i for i in items if (i.round_id, i.domain) not in existing]
    db.add_all(new)
    db.commit()
    supersede(db, {i.domain for i in new})
    return len(new)


SUPERSEDED = "superseded"


def supersede(db: Session, domains: set[str]) -> int:
    """Close the open items of `domains` that a later round queued again (status `superseded`, with the round that
    did it in `details`): each domain or page is asked once, for the newest round. Without this a domain queued in
    rounds 1 and 2 was served twice, and its round-1 item showed the annotator's own round-2 label as "labelled
    before". An item someone holds now keeps its claim and is superseded when it is freed; gold items stay (they
    measure the annotators and are retired by hand)."""
    if not domains:
        return 0
    number = {r.id: r.number for r in db.exec(select(Round))}
    _begin_write(db)
    rows = db.exec(_locked(select(QueueItem).where(col(QueueItem.domain).in_(sorted(domains))))).all()
    newest: dict[str, int] = {}
    for item in rows:
        newest[item.domain] = max(newest.get(item.domain, 0), number.get(item.round_id, 0))
    now, closed = utcnow(), 0
    for item in rows:
        later = newest[item.domain]
        if item.kind == "gold" or item.status not in ("pending", "claimed") or number.get(item.round_id, 0) >= later:
            continue
        item.details = {**item.details, "superseded_by": later, "superseded_at": now.isoformat()}
        if item.status == "pending" or lease_left(item, now) <= 0:
            _free(item)
            closed += 1
        db.add(item)
    db.commit()
    return closed


def claim(db: Session, annotator: str, *, lease_seconds: int = 300, round_id: int | None = None,
          kinds: Iterable[str] | None = None) -> QueueItem | None:  # fmt: skip
    """The highest-priority free item this annotator has not labeled yet, leased to them; None if none is left."""
    if not annotator:
        raise ValueError("an annotator name is required to claim")
    now = utcnow()
    _begin_write(db)
    query = select(QueueItem).where(
        or_(col(QueueItem.status) == "pending",
            and_(col(QueueItem.status) == "claimed", col(QueueItem.lease_until) < now))
    )  # fmt: skip
    query = query.where(not_skipped_by(annotator))
    if round_id is not None:
        query = query.where(QueueItem.round_id == round_id)
    if kinds is not None:
        query = query.where(col(QueueItem.kind).in_(list(kinds)))
    query = query.order_by(col(QueueItem.priority).desc(), col(QueueItem.id)).limit(64)
    for item in db.exec(_locked(query, skip_locked=True)):
        if item.details.get("superseded_by"):  # a lapsed claim on an item a later round queued again
            _free(item)
            db.add(item)
            continue
        if annotator in (item.labeled_by or []):
            continue  # double labeling needs two different people
        item.status, item.claimed_by = "claimed", annotator
        item.lease_until, item.updated_at = now + timedelta(seconds=lease_seconds), now
        db.add(item)
        db.commit()
        return item
    db.commit()
    return None


def _held(db: Session, item_id: int, annotator: str) -> QueueItem:
    """The item, locked, if this annotator holds its claim (an expired lease nobody took over still counts)."""
    _begin_write(db)
    item = db.exec(_locked(select(QueueItem).where(QueueItem.id == item_id))).first()
    if item is None:
        db.rollback()
        raise LeaseError(f"queue item {item_id} does not exist")
    if item.status != "claimed" or item.claimed_by != annotator:
        db.rollback()
        raise LeaseError(f"queue item {item_id} is {item.status}, not claimed by {annotator!r}")
    return item


def renew(db: Session, item_id: int, annotator: str, *, lease_seconds: int = 300) -> QueueItem:
    item = _held(db, item_id, annotator)
    item.lease_until = item.updated_at = utcnow()
    item.lease_until += timedelta(seconds=lease_seconds)
    db.add(item)
    db.commit()
    return item


def _free(item: QueueItem, status: str = "pending") -> None:
    """Release the claim; an item a later round queued again goes to `superseded` instead of back to the queue."""
    if status == "pending" and item.details.get("superseded_by"):
        status = SUPERSEDED
    item.status, item.claimed_by, item.lease_until, item.updated_at = status, "", None, utcnow()


def release(db: Session, item_id: int, annotator: str) -> QueueItem:
    """Give the item back unlabeled (the annotator moved on)."""
    item = _held(db, item_id, annotator)
    _free(item)
    db.add(item)
    db.commit()
    return item


def skip(db: Session, item_id: int, annotator: str, reason: str = "") -> QueueItem:
    """This annotator passes on the item (they cannot judge it): it leaves their queue and goes back to the others'
    (a `QueueSkip` row, the record of who skipped what and why)."""
    item = _held(db, item_id, annotator)
    _free(item)
    db.add(item)
    db.add(QueueSkip(queue_item_id=item_id, annotator=annotator, reason=reason))
    db.commit()
    return item


def last_skip(db: Session, annotator: str) -> QueueSkip | None:
    """This annotator's most recent skip still standing (an undo deletes it)."""
    query = select(QueueSkip).where(QueueSkip.annotator == annotator)
    return db.exec(query.order_by(col(QueueSkip.created_at).desc(), col(QueueSkip.id).desc())).first()


def unskip(db: Session, item_id: int, annotator: str, *, lease_seconds: int = 300) -> QueueItem:
    """Undo a skip: the item is this annotator's to label again, claimed for them at once if it is free (if someone
    else holds it or it is finished, only the skip goes)."""
    now = utcnow()
    _begin_write(db)
    query = select(QueueSkip).where(QueueSkip.queue_item_id == item_id, QueueSkip.annotator == annotator)
    mine = db.exec(query).first()
    item = db.exec(_locked(select(QueueItem).where(QueueItem.id == item_id))).first()
    if item is None or mine is None:
        db.rollback()
        raise LeaseError(f"queue item {item_id} is not skipped by {annotator!r}")
    db.delete(mine)
    if item.status == "pending" or (item.status == "claimed" and lease_left(item, now) <= 0):
        item.status, item.claimed_by = "claimed", annotator
        item.lease_until, item.updated_at = now + timedelta(seconds=lease_seconds), now
        db.add(item)
    db.commit()
    return item


def not_skipped_by(annotator: str) -> Any:
    """A claim's filter: items this annotator has not skipped (in SQL, so the skips never crowd a claim's page)."""
    return ~exists().where(col(QueueSkip.queue_item_id) == col(QueueItem.id), col(QueueSkip.annotator) == annotator)


def complete(db: Session, item_id: int, annotator: str, labels: Iterable[dict[str, Any]], *,
             shown: dict[str, Any] | None = None) -> QueueItem:  # fmt: skip
    """Append the annotator's pattern labels and finish the item (or free it for its second annotator). Every
    pattern or URL must stay on the item's site (`scope.confine`)."""
    rows = list(labels)
    parsed = list(parse_rows(rows, annotator=annotator, source=f"queue:{item_id}"))  # validate before locking
    item = _held(db, item_id, annotator)
    for row in rows:
        try:
            confine(str(row.get("pattern") or row.get("url") or ""), item.domain)
        except ValueError:
            db.rollback()
            raise
    for label in parsed:
        label.annotator, label.queue_item_id, label.round_id = annotator, item_id, item.round_id
        label.shown = shown or {}
    db.add_all(parsed)
    item.labeled_by = [*item.labeled_by, annotator]
    item.details = {**item.details, "finished": {**item.details.get("finished", {}), annotator: utcnow().isoformat()}}
    _free(item, "done" if len(item.labeled_by) >= item.labels_needed else "pending")
    db.add(item)
    db.commit()
    return item


def reopen(db: Session, item_id: int, annotator: str, *, lease_seconds: int = 300) -> QueueItem:
    """Claim an item again for an annotator who finished it (their undo), unless someone else holds it now."""
    now = utcnow()
    _begin_write(db)
    item = db.exec(_locked(select(QueueItem).where(QueueItem.id == item_id))).first()
    taken = item is not None and item.status == "claimed" and item.claimed_by != annotator and lease_left(item, now) > 0
    if item is None or annotator not in (item.labeled_by or []) or taken:
        db.rollback()
        raise LeaseError(f"queue item {item_id} cannot be reopened for {annotator!r}")
    item.labeled_by = [a for a in item.labeled_by if a != annotator]
    item.details = {**item.details, "finished": {k: v for k, v in item.details.get("finished", {}).items()
                                                 if k != annotator}}  # fmt: skip
    item.status, item.claimed_by = "claimed", annotator
    item.lease_until, item.updated_at = now + timedelta(seconds=lease_seconds), now
    db.add(item)
    db.commit()
    return item


def expire(db: Session, *, now: datetime | None = None) -> int:
    """Return claims whose lease ran out to the queue; claim() also takes them over, this keeps counts honest."""
    now = now or utcnow()
    _begin_write(db)
    query = select(QueueItem).where(QueueItem.status == "claimed", col(QueueItem.lease_until) < now)
    stale = db.exec(_locked(query, skip_locked=True)).all()
    for item in stale:
        _free(item)
        db.add(item)
    db.commit()
    return len(stale)


def set_labels_needed(db: Session, round_id: int, labels_needed: int) -> dict[str, int]:
    """Switch double (or n-fold) annotation for a round: its parameter, for items discovery adds later, and every
    item of the round (gold items excepted). A finished item that now needs more labels goes back to the queue;
    a waiting one that has enough is done."""
    if not 1 <= labels_needed <= 10:
        raise ValueError("labels_needed must be between 1 and 10")
    rnd = db.get(Round, round_id)
    if rnd is None:
        raise ValueError(f"round id {round_id} does not exist")
    _begin_write(db)
    rnd.params = params.updated(rnd, labels_needed=labels_needed)
    db.add(rnd)
    out = {"items": 0, "reopened": 0, "finished": 0}
    query = select(QueueItem).where(QueueItem.round_id == round_id, QueueItem.kind != "gold")
    for item in db.exec(_locked(query)):
        out["items"] += 1
        item.labels_needed = labels_needed
        if item.status == "done" and len(item.labeled_by) < labels_needed:
            _free(item)
            out["reopened"] += 1
        elif item.status == "pending" and item.labeled_by and len(item.labeled_by) >= labels_needed:
            _free(item, "done")
            out["finished"] += 1
        db.add(item)
    db.commit()
    return out


def lease_left(item: QueueItem, now: datetime | None = None) -> float:
    """Seconds until the claim lapses (negative once it has)."""
    until = item.lease_until
    return (until - (now or utcnow())).total_seconds() if until else 0.0


def done_domains(db: Session) -> set[str]:
    """Domains with a finished queue item (gold items aside) in any round."""
    query = select(QueueItem.domain).where(QueueItem.status == "done", QueueItem.kind != "gold").distinct()
    return set(db.exec(query).all())


def counts(db: Session, round_id: int | None = None) -> dict[str, Any]:
    """Queue size by status and kind, and the labels received through it (`labelled_kind`: items labelled by at
    least one annotator, by kind)."""
    query = select(QueueItem)
    if round_id is not None:
        query = query.where(QueueItem.round_id == round_id)
    items = db.exec(query).all()
    label_query = select(Label).where(col(Label.queue_item_id).is_not(None))
    if round_id is not None:
        label_query = label_query.where(Label.round_id == round_id)
    skips = select(QueueSkip).join(QueueItem, col(QueueItem.id) == col(QueueSkip.queue_item_id))
    if round_id is not None:
        skips = skips.where(QueueItem.round_id == round_id)
    return {"items": len(items), "status": dict(Counter(i.status for i in items)), "skips": len(db.exec(skips).all()),
            "kind": dict(Counter(i.kind for i in items)), "labels": len(db.exec(label_query).all()),
            "done_kind": dict(Counter(i.kind for i in items if i.status == "done")),
            "labelled_kind": dict(Counter(i.kind for i in items if i.labeled_by))}  # fmt: skip
