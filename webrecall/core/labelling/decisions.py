"""What an annotator decides on a held item: pattern labels, finishing it, undo, and what was decided before.

Every decision is written the moment it is made. Undo is a new row in the append-only Label history
(`label_store.UNDO`), never an update.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from webrecall.core.db import Label, QueueItem, Round
from webrecall.core.label_store import REVIEW, UNDO, current, parse_rows
from webrecall.core.labelling import queue
from webrecall.core.labelling.claims import LEASE_SECONDS, held_item
from webrecall.core.labelling.scope import confine
from webrecall.core.urls.patterns import parse

REASONS = ("docs", "Q&A", "tutorial", "blog", "forum", "spam", "other")


def domain_pattern(domain: str) -> str:
    """The pattern that labels a whole queued domain (a host): its prefix form."""
    return parse(f"{domain}/").text


def decide(db: Session, item_id: int, annotator: str, pattern: str, label: str, *, reason: str = "",
           shown: dict[str, Any] | None = None, lease_seconds: int = LEASE_SECONDS) -> Label:  # fmt: skip
    """Append one pattern label for a held item and renew its lease (LeaseError if the claim was lost). The pattern
    must stay on the item's site (`scope.confine`: ValueError with the reason otherwise)."""
    if reason and reason not in REASONS:
        raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
    (row,) = parse_rows([{"pattern": pattern, "label": label, "reason": reason}], annotator=annotator,
                        source=f"queue:{item_id}")  # fmt: skip
    item = queue.renew(db, item_id, annotator, lease_seconds=lease_seconds)
    confined = confine(row.pattern, item.domain)
    if confined != row.pattern:  # an IDN host, in its ASCII form
        row.pattern = parse(confined).text
    row.queue_item_id, row.round_id, row.shown = item_id, item.round_id, shown or {}
    db.add(row)
    db.commit()
    return row


def finish(db: Session, item_id: int, annotator: str, *, shown: dict[str, Any] | None = None) -> QueueItem:
    """Done with the item: it leaves the queue (or waits for its second annotator)."""
    return queue.complete(db, item_id, annotator, [], shown=shown)


def decide_domain(db: Session, item: QueueItem, annotator: str, label: str, *, reason: str = "",
                  shown: dict[str, Any] | None = None) -> QueueItem:  # fmt: skip
    """One label for the whole domain, then the item is finished."""
    decide(db, item.id or 0, annotator, domain_pattern(item.domain), label, reason=reason, shown=shown)
    return finish(db, item.id or 0, annotator, shown=shown)


def history(db: Session, annotator: str, *, limit: int | None = None) -> list[Label]:
    """The annotator's decisions that still stand, newest first."""
    rows = list(db.exec(select(Label).where(Label.annotator == annotator).order_by(col(Label.id).desc())))
    undone = {int(r.shown.get("undoes", 0)) for r in rows if r.source == UNDO}
    live = [r for r in rows if r.source != UNDO and r.id not in undone]
    return live[:limit] if limit is not None else live


def item_decisions(db: Session, annotator: str, item_id: int) -> dict[str, str]:
    """pattern -> label the annotator gave (and did not undo) on this item."""
    return {r.pattern: r.label for r in reversed(history(db, annotator)) if r.queue_item_id == item_id}


def undo_last(db: Session, annotator: str, *, lease_seconds: int = LEASE_SECONDS) -> Label | QueueItem | None:
    """Retract the annotator's latest standing decision: a label (returned), or a skipped domain (its item is
    returned, claimed again). If the label belongs to an item they already finished, the current item goes back
    to the queue and that one is claimed again (unless someone else holds it)."""
    last = next(iter(history(db, annotator, limit=1)), None)
    skipped = queue.last_skip(db, annotator)
    if skipped is not None and (last is None or skipped.created_at > last.created_at):
        held = held_item(db, annotator)
        item = queue.unskip(db, skipped.queue_item_id, annotator, lease_seconds=lease_seconds)
        if held is not None and held.id != item.id and item.claimed_by == annotator:
            queue.release(db, held.id or 0, annotator)
        return item
    if last is None:
        return None
    db.add(Label(pattern=last.pattern, scope=last.scope, label=UNDO, annotator=annotator, round_id=last.round_id,
                 source=UNDO, shown={"undoes": last.id, "label": last.label, "queue_item_id": last.queue_item_id}))
    db.commit()
    held = held_item(db, annotator)
    if last.queue_item_id is not None and (held is None or held.id != last.queue_item_id):
        try:
            queue.reopen(db, last.queue_item_id, annotator, lease_seconds=lease_seconds)
            if held is not None:
                queue.release(db, held.id or 0, annotator)
        except queue.LeaseError:
            pass  # someone else holds it now: the label is retracted, the item stays with them
    return last


def decided_before(db: Session, item: QueueItem) -> dict[str, Any]:
    """What was decided on this domain before this round (earlier rounds, imported labels): every standing label,
    the reviewers' resolutions, and the decisions that stand agreed (pre-filled on the Label page).

    Labels of this round are left out (a second annotator decides blind, or agreement means nothing), and so is
    everything for a gold item (its check would be answered for the annotator)."""
    if item.kind == "gold":
        return {"labels": [], "agreed": {}, "conflicts": []}
    host = item.domain.lower()
    numbers = {r.id or 0: r.number for r in db.exec(select(Round))}
    rows: list[dict[str, Any]] = []
    for (pattern, annotator), label in sorted(current(db).items(), key=lambda kv: kv[1].id or 0):
        if label.round_id == item.round_id or parse(pattern).host != host:
            continue
        rows.append({"pattern": pattern, "label": label.label, "annotator": annotator, "reason": label.reason,
                     "round": numbers.get(label.round_id or 0), "reviewed": label.source == REVIEW,
                     "created_at": label.created_at})  # fmt: skip
    votes: dict[str, set[str]] = defaultdict(set)
    review: dict[str, str] = {}
    for r in rows:  # oldest first: the latest review wins, as in labels.resolved
        votes[r["pattern"]].add(r["label"])
        if r["reviewed"]:
            review[r["pattern"]] = r["label"]
    agreed = {p: review.get(p, next(iter(v))) for p, v in votes.items() if p in review or len(v) == 1}
    return {"labels": rows, "agreed": agreed, "conflicts": sorted(p for p in votes if p not in agreed)}
