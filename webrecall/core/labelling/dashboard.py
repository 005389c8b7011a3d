"""The figures of the Progress page and the API's progress: labels per round and per annotator, queue left,
inter-annotator agreement (Cohen's kappa), gold accuracy, and the rounds' growth and model metrics."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import combinations
from typing import Any

from sqlmodel import Session, col, select

from webrecall.core import totals
from webrecall.core.db import Annotator, Label, QueueItem, Round, utcnow
from webrecall.core.growth import of_round
from webrecall.core.label_store import REVIEW, current
from webrecall.core.labelling import queue
from webrecall.core.labelling.page_items import KIND as PAGE_ITEM
from webrecall.core.labelling.page_items import yields as page_yields
from webrecall.core.labelling.review import gold_accuracy
from webrecall.core.totals import Heldout


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of paired labels (observed vs chance agreement); None without pairs."""
    if not pairs:
        return None
    observed = sum(a == b for a, b in pairs) / len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[k] * second[k] for k in first) / len(pairs) ** 2
    return 1.0 if chance == 1.0 else round((observed - chance) / (1 - chance), 4)


def agreement(db: Session, *, round_id: int | None = None) -> dict[str, Any]:
    """Kappa over every pair of annotators who labeled the same pattern (pooled, and per annotator).

    Every label source counts (the Label page, the API's and the CLI's imports): a vote is a named annotator's
    standing label. A reviewer's resolution is not a vote, and neither is an unnamed import."""
    by_pattern: dict[str, dict[str, str]] = defaultdict(dict)
    for (pattern, annotator), label in current(db).items():
        if annotator and label.source != REVIEW and (round_id is None or label.round_id == round_id):
            by_pattern[pattern][annotator] = label.label
    pooled: list[tuple[str, str]] = []
    mine: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for votes in by_pattern.values():
        for a, b in combinations(sorted(votes), 2):
            pooled.append((votes[a], votes[b]))
            mine[a].append((votes[a], votes[b]))
            mine[b].append((votes[b], votes[a]))
    by_annotator = {a: {"kappa": cohen_kappa(p), "pairs": len(p)} for a, p in sorted(mine.items())}
    return {"kappa": cohen_kappa(pooled), "pairs": len(pooled), "by_annotator": by_annotator}


def today_utc() -> date:
    """The one "today" of the Progress and Label pages and the API: the UTC date (annotators in several zones share
    one day boundary, and the API's clients see the same figures)."""
    return utcnow().date()


def votes(db: Session) -> list[Label]:
    """Every standing label a named annotator gave, whatever the source (the Label page, the API, a CLI import);
    not a reviewer's resolution, as in `agreement`."""
    return [r for r in current(db).values() if r.annotator and r.source != REVIEW]


def finished_on(db: Session, annotator: str, day: date, *, round_id: int | None = None) -> int:
    """Queue items this annotator finished on `day` (with labels or with none). Items finished before the queue
    kept the time fall back on the annotator's labels on them."""
    query = select(QueueItem)
    if round_id is not None:
        query = query.where(QueueItem.round_id == round_id)
    items = [i for i in db.exec(query) if annotator in (i.labeled_by or [])]
    timed = {i.id: i.details["finished"][annotator] for i in items if annotator in i.details.get("finished", {})}
    untimed = {i.id for i in items if i.id not in timed}
    by_labels = {r.queue_item_id for r in votes(db) if r.annotator == annotator and r.queue_item_id in untimed
                 and r.created_at.date() == day}  # fmt: skip
    return sum(datetime.fromisoformat(t).date() == day for t in timed.values()) + len(by_labels)


def progress(db: Session, *, today: date | None = None) -> dict[str, Any]:
    """Per round and per annotator: labels (every source), labels and items of today (UTC), queue left, agreement;
    and the rounds' growth and metrics."""
    today = today or today_utc()
    labels = votes(db)
    rounds = list(db.exec(select(Round).order_by(col(Round.number))))
    per_round = []
    for rnd in rounds:
        counts = queue.counts(db, rnd.id)
        mine = [r for r in labels if r.round_id == rnd.id]
        per_round.append({
            "round": rnd.number, "status": rnd.status, "queue_left": sum(counts["status"].get(s, 0) for s in
                                                                         ("pending", "claimed")),
            "queue_done": counts["status"].get("done", 0), "queue_superseded": counts["status"].get("superseded", 0),
            "labels": len(mine), "labeled_today": sum(r.created_at.date() == today for r in mine),
            "domain_items_labelled": sum(n for k, n in counts["labelled_kind"].items() if k != PAGE_ITEM),
            "page_items_labelled": counts["labelled_kind"].get(PAGE_ITEM, 0),
            **{f"{name} yield": _yield(y) for name, y in page_yields(db, rnd.id or 0).items()},
            "kappa": agreement(db, round_id=rnd.id)["kappa"],
        })  # fmt: skip
    overall = agreement(db)["by_annotator"]
    accuracy = {g["annotator"]: g["accuracy"] for g in gold_accuracy(db)}
    names = sorted({r.annotator for r in labels} | {a.name for a in db.exec(select(Annotator))})
    per_annotator = [{
        "annotator": n, "labeled_today": sum(r.annotator == n and r.created_at.date() == today for r in labels),
        "items_today": finished_on(db, n, today), "labels": sum(r.annotator == n for r in labels),
        "kappa": overall.get(n, {}).get("kappa"), "gold_accuracy": accuracy.get(n),
    } for n in names]  # fmt: skip
    return {"rounds": per_round, "annotators": per_annotator, "growth": growth(rounds), "today": today.isoformat()}


def _yield(y: dict[str, Any]) -> str:
    """A strategy's yield as the Progress page shows it: code pages of those labelled."""
    return f"{y['code']} of {y['labelled']}" if y["labelled"] else f"0 of {y['items']} labelled"


def growth(rounds: list[Round]) -> list[dict[str, Any]]:
    """Round-over-round figures for the chart: recalled pages, related domains, growth, model metrics, of the finished
    rounds (a cancelled or failed one has none: it would plot as 0 recalled)."""
    out = []
    for rnd in (r for r in rounds if r.status == "done"):
        t = totals.of(rnd)
        heldout = t.model.seed_heldout if t.model and t.model.seed_heldout else Heldout()
        out.append({"round": rnd.number, "recalled": t.recalled, "related_domains": t.related_domains,
                    "growth": (of_round(rnd) or {}).get("growth"), "precision": heldout.precision,
                    "recall": heldout.recall, "f1": heldout.f1, "roc_auc": heldout.roc_auc})  # fmt: skip
    return out
