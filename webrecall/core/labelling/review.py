"""A reviewer's work: the disagreements between annotators and their resolution, and the gold items (known
answers mixed into the queue) with each annotator's accuracy on them. Resolutions are new rows in the Label
history (`label_store.REVIEW`) and win in `label_store.resolved`."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlmodel import Session, col, select

from webrecall.core.db import Label, QueueItem, utcnow
from webrecall.core.label_store import REVIEW, current, normalize_label, parse_rows, resolved
from webrecall.core.labelling import queue
from webrecall.core.urls.patterns import parse


def disagreements(db: Session) -> list[dict[str, Any]]:
    """Patterns on which annotators' standing labels differ, with every label and what was shown."""
    _, conflicts = resolved(db)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (pattern, annotator), label in sorted(current(db).items()):
        if pattern in conflicts:
            out[pattern].append({"annotator": annotator, "label": label.label, "reason": label.reason,
                                 "round_id": label.round_id, "queue_item_id": label.queue_item_id,
                                 "created_at": label.created_at, "shown": label.shown})  # fmt: skip
    return [{"pattern": p, "labels": v} for p, v in sorted(out.items())]


def resolve(db: Session, pattern: str, label: str, reviewer: str, *, reason: str = "") -> Label:
    """A reviewer's decision on a disagreement; it wins in `labels.resolved` and so in the next round's seeds."""
    (row,) = parse_rows([{"pattern": pattern, "label": label, "reason": reason}], annotator=reviewer,
                        source=REVIEW)  # fmt: skip
    db.add(row)
    db.commit()
    return row


def add_gold(db: Session, round_id: int, domain: str, answers: dict[str, str], *, priority: float = 0.0,
             labels_needed: int = 1000) -> int:  # fmt: skip
    """Mix an item with known answers (pattern -> label) into the queue; every annotator gets to label it.
    Returns how many items were added (0 if the domain is already queued in that round)."""
    if not answers:
        raise ValueError("a gold item needs at least one answer (pattern -> label)")
    gold = {parse(p).text: normalize_label(v) for p, v in answers.items()}
    host = domain.strip().lower()
    if any(parse(p).host != host for p in gold):
        raise ValueError(f"every gold answer must be a pattern on {host}")
    item = QueueItem(round_id=round_id, domain=host, priority=priority, kind="gold", reason="gold",
                     details={"gold": gold}, labels_needed=labels_needed)  # fmt: skip
    return queue.enqueue(db, [item])


def gold_items(db: Session) -> list[QueueItem]:
    """The gold items still in use (retired ones are left out)."""
    rows = db.exec(select(QueueItem).where(QueueItem.kind == "gold").order_by(col(QueueItem.id)))
    return [i for i in rows if not i.details.get("retired")]


def remove_gold(db: Session, item_id: int) -> QueueItem:
    """Take a gold item out of the queue. Its answers stay, so the accuracy already measured on it stands."""
    item = db.get(QueueItem, item_id)
    if item is None or item.kind != "gold":
        raise ValueError(f"queue item {item_id} is not a gold item")
    item.status, item.claimed_by, item.lease_until = "done", "", None
    item.details = {**item.details, "retired": True, "retired_at": utcnow().isoformat()}
    db.add(item)
    db.commit()
    return item


def gold_accuracy(db: Session) -> list[dict[str, Any]]:
    """Per annotator: gold patterns answered, answered right, accuracy."""
    gold = {i.id: i.details.get("gold", {}) for i in db.exec(select(QueueItem).where(QueueItem.kind == "gold"))}
    answered: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for label in current(db).values():
        answer = gold.get(label.queue_item_id, {}).get(label.pattern)
        if answer is not None and label.source != REVIEW:
            answered[label.annotator] += 1
            correct[label.annotator] += label.label == answer
    return [{"annotator": a, "answered": n, "correct": correct[a], "accuracy": round(correct[a] / n, 4)}
            for a, n in sorted(answered.items())]  # fmt: skip
