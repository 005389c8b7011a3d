"""Annotator accounts and the labeling workflow behind the Streamlit app: decide, undo, review, agreement.

The app (`annotator/`) is a view over these functions. Every decision is written the moment it is made and
the claim lives in the queue, so a closed tab, a refresh or a second browser loses nothing: the annotator's
claimed item is found again in the database. Undo and reviews are new rows in the append-only Label history
(see `labels.UNDO`, `labels.REVIEW`), never updates.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from itertools import combinations
from typing import Any

import bcrypt
import numpy as np
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from webrecall.core.db import Annotator, Label, QueueItem, Round, utcnow
from webrecall.core.labelling import queue
from webrecall.core.labelling.label_store import REVIEW, UNDO, current, normalize_label, parse_rows, resolved
from webrecall.core.labelling.patterns import parse
from webrecall.core.lifecycle import totals
from webrecall.core.lifecycle.growth import of_round
from webrecall.core.lifecycle.queries import done_warcs, latest_done
from webrecall.core.lifecycle.totals import Heldout
from webrecall.core.settings import Settings

ROLES = ("annotator", "reviewer", "admin")
REASONS = ("docs", "Q&A", "tutorial", "blog", "forum", "spam", "other")
LEASE_SECONDS = 300
MAX_IDLE_SECONDS = 900
"""An open Label page keeps its lease this long after the annotator's last action."""
TOKEN_SECONDS = 12 * 3600
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=4))

# accounts


def create_account(db: Session, name: str, password: str, role: str = "annotator") -> Annotator:
    """A named account with a bcrypt hash; ValueError if the name is taken or the input is unusable."""
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise ValueError(f"annotator name {name!r}: use 1-64 letters, digits or _.@-")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("the password needs at least 8 characters")
    if db.exec(select(Annotator).where(Annotator.name == name)).first() is not None:
        raise ValueError(f"annotator {name!r} exists")
    account = Annotator(name=name, role=role, password_hash=bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode())
    db.add(account)
    db.commit()
    return account


def get_account(db: Session, name: str) -> Annotator | None:
    return db.exec(select(Annotator).where(Annotator.name == name)).first()


def accounts(db: Session) -> list[Annotator]:
    return list(db.exec(select(Annotator).order_by(col(Annotator.name))))


def set_active(db: Session, name: str, active: bool) -> Annotator:
    """Disable (or enable again) an account: a disabled one cannot log in and its open session ends; its labels
    stay. ValueError for an unknown name."""
    account = get_account(db, name)
    if account is None:
        raise ValueError(f"no annotator {name!r}")
    account.active = active
    db.add(account)
    db.commit()
    return account


def remove_account(db: Session, name: str) -> None:
    """Delete an account (its labels stay in the history under its name; its claim goes back to the queue)."""
    account = get_account(db, name)
    if account is None:
        raise ValueError(f"no annotator {name!r}")
    held = held_item(db, name)
    if held is not None:
        queue.release(db, held.id or 0, name)
    db.delete(account)
    db.commit()


def verify(db: Session, name: str, password: str) -> Annotator | None:
    """The active account if the password matches (an unknown name costs the same bcrypt check)."""
    account = db.exec(select(Annotator).where(Annotator.name == name.strip())).first()
    stored = account.password_hash.encode() if account else _DUMMY_HASH
    ok = bcrypt.checkpw(password.encode(), stored)
    return account if ok and account is not None and account.active else None


def has_role(role: str, needed: str) -> bool:
    """Roles are ordered: an admin may review, a reviewer may label."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def session_token(account: Annotator, *, now: float | None = None) -> str:
    """`name.expiry.mac`, keyed by the account's password hash: a refresh stays logged in, a new password
    invalidates every token, and the server keeps no session table."""
    expiry = int((now or time.time()) + TOKEN_SECONDS)
    mac = hmac.new(account.password_hash.encode(), f"{account.name}.{expiry}".encode(), hashlib.sha256)
    return f"{account.name}.{expiry}.{mac.hexdigest()}"


def from_token(db: Session, token: str, *, now: float | None = None) -> Annotator | None:
    try:
        name, expiry, mac = token.rsplit(".", 2)
        if int(expiry) < (now or time.time()):
            return None
    except ValueError:
        return None
    account = db.exec(select(Annotator).where(Annotator.name == name)).first()
    if account is None or not account.active:
        return None
    expected = hmac.new(account.password_hash.encode(), f"{name}.{expiry}".encode(), hashlib.sha256).hexdigest()
    return account if hmac.compare_digest(expected, mac) else None


# the work: claim, decide, finish, undo


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
            and_(col(QueueItem.status) == "claimed", col(QueueItem.lease_until) < utcnow()))
    ).order_by(col(QueueItem.priority).desc(), col(QueueItem.id)).limit(16)  # fmt: skip
    return next((i for i in db.exec(query) if annotator not in i.labeled_by and i.id != exclude), None)


def round_number(db: Session, round_id: int) -> int:
    rnd = db.get(Round, round_id)
    if rnd is None:
        raise ValueError(f"round id {round_id} does not exist")
    return rnd.number


def domain_pattern(domain: str) -> str:
    """The pattern that labels a whole queued domain (a host): its prefix form."""
    return parse(f"{domain}/").text


def decide(db: Session, item_id: int, annotator: str, pattern: str, label: str, *, reason: str = "",
           shown: dict[str, Any] | None = None, lease_seconds: int = LEASE_SECONDS) -> Label:  # fmt: skip
    """Append one pattern label for a held item and renew its lease (LeaseError if the claim was lost)."""
    if reason and reason not in REASONS:
        raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
    (row,) = parse_rows([{"pattern": pattern, "label": label, "reason": reason}], annotator=annotator,
                        source=f"queue:{item_id}")  # fmt: skip
    item = queue.renew(db, item_id, annotator, lease_seconds=lease_seconds)
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


def decisions(db: Session, annotator: str, item_id: int) -> dict[str, str]:
    """pattern -> label the annotator gave (and did not undo) on this item."""
    return {r.pattern: r.label for r in reversed(history(db, annotator)) if r.queue_item_id == item_id}


def _naive_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive (in UTC), PostgreSQL aware: compare them as naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def undo_last(db: Session, annotator: str, *, lease_seconds: int = LEASE_SECONDS) -> Label | QueueItem | None:
    """Retract the annotator's latest standing decision: a label (returned), or a skipped domain (its item is
    returned, claimed again). If the label belongs to an item they already finished, the current item goes back
    to the queue and that one is claimed again (unless someone else holds it)."""
    last = next(iter(history(db, annotator, limit=1)), None)
    skipped = queue.last_skip(db, annotator)
    if skipped is not None and (
        last is None or _naive_utc(datetime.fromisoformat(skipped.details["skipped_at"])) > _naive_utc(last.created_at)
    ):
        held = held_item(db, annotator)
        item = queue.unskip(db, skipped.id or 0, annotator, lease_seconds=lease_seconds)
        if held is not None:
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


def earlier(db: Session, item: QueueItem) -> dict[str, Any]:
    """What was decided on this domain before this round (earlier rounds, imported labels): every standing label,
    the reviewers' resolutions, and the decisions that stand agreed (pre-filled on the Label page).

    Labels of this round are left out (a second annotator decides blind, or agreement means nothing), and so is
    everything for a gold item (its check would be answered for the annotator)."""
    if item.kind == "gold":
        return {"labels": [], "agreed": {}, "conflicts": []}
    host, numbers = item.domain.lower(), _round_numbers(db)
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


def _round_numbers(db: Session) -> dict[int, int]:
    return {r.id or 0: r.number for r in db.exec(select(Round))}


# review: disagreements and the gold set


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


# agreement and progress


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


def _day(value: datetime) -> date:
    return value.date()


def progress(db: Session, *, today: date | None = None) -> dict[str, Any]:
    """Per round and per annotator: labeled today, queue left, agreement; and the rounds' growth and metrics."""
    today = today or utcnow().date()
    labels = [r for r in current(db).values() if r.queue_item_id is not None]
    rounds = list(db.exec(select(Round).order_by(col(Round.number))))
    per_round = []
    for rnd in rounds:
        counts = queue.counts(db, rnd.id)
        mine = [r for r in labels if r.round_id == rnd.id]
        per_round.append({
            "round": rnd.number, "status": rnd.status, "queue_left": sum(counts["status"].get(s, 0) for s in
                                                                         ("pending", "claimed")),
            "queue_done": counts["status"].get("done", 0), "labels": len(mine),
            "labeled_today": sum(_day(r.created_at) == today for r in mine),
            "kappa": agreement(db, round_id=rnd.id)["kappa"],
        })  # fmt: skip
    overall = agreement(db)["by_annotator"]
    accuracy = {g["annotator"]: g["accuracy"] for g in gold_accuracy(db)}
    names = sorted({r.annotator for r in labels} | {a.name for a in db.exec(select(Annotator))})
    per_annotator = [{
        "annotator": n, "labeled_today": sum(r.annotator == n and _day(r.created_at) == today for r in labels),
        "items_today": len({r.queue_item_id for r in labels if r.annotator == n and _day(r.created_at) == today}),
        "labels": sum(r.annotator == n for r in labels), "kappa": overall.get(n, {}).get("kappa"),
        "gold_accuracy": accuracy.get(n),
    } for n in names]  # fmt: skip
    return {"rounds": per_round, "annotators": per_annotator, "growth": growth(rounds)}


def growth(rounds: list[Round]) -> list[dict[str, Any]]:
    """Round-over-round figures for the chart: recalled pages, related domains, growth, model metrics."""
    out = []
    for rnd in rounds:
        t = totals.of(rnd)
        heldout = t.model.seed_heldout if t.model and t.model.seed_heldout else Heldout()
        out.append({"round": rnd.number, "recalled": t.recalled, "related_domains": t.related_domains,
                    "growth": (of_round(rnd) or {}).get("growth"), "precision": heldout.precision,
                    "recall": heldout.recall, "f1": heldout.f1, "roc_auc": heldout.roc_auc})  # fmt: skip
    return out


# what the label page shows


_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import|#include|\$ |>>> |function |const |let |var |return\b|public |"
    r"private |SELECT |INSERT |CREATE |pip install|npm |git |sudo |for \(|if \(|<\w+[ >])|[;{}]\s*$|\w\(.*\)\s*$"
    r"|^\s*(with|for|while|if|elif|try|except)\b.*:\s*$"
)


def code_like(line: str) -> bool:
    """A line that looks like source code or a shell command (highlighted in sample snippets)."""
    symbols = sum(c in "{}()[];=<>$_" for c in line)
    return bool(_CODE_LINE.search(line)) or (len(line) > 8 and symbols / len(line) > 0.12)


def snippet_lines(text: str, *, max_lines: int = 12, width: int = 160) -> list[tuple[str, bool]]:
    """The first non-empty lines of a page's text, each with whether it looks like code."""
    lines = [ln.strip()[:width] for ln in (text or "").splitlines() if ln.strip()][:max_lines]
    return [(ln, code_like(ln)) for ln in lines]


def item_view(settings: Settings, round_id: int, domain: str, *, samples: int = 5) -> dict[str, Any]:
    """A queued domain as the label page shows it: proposals as a tree (depth-first), samples with lines."""
    from webrecall.core.db import session
    from webrecall.core.labelling import proposals as prop
    from webrecall.core.storage.store import Store

    with session(settings.db_url) as db:
        number = round_number(db, round_id)
        locations = done_warcs(db, round_id)
    pages = prop.domain_pages(Store(settings.data_dir), number, locations, {domain})
    texts = dict(zip(pages["url"].to_pylist(), pages["text"].to_pylist(), strict=True)) \
        if "text" in pages.column_names else {}  # fmt: skip
    found = prop.propose(pages, domain, samples=samples)
    tree = sorted(found, key=lambda p: p.pattern.rstrip("*"))  # parents right before their children
    out = []
    for p in tree:
        d = p.as_dict()
        d["samples"] = [{**s, "lines": snippet_lines(texts.get(s["url"]) or s["snippet"])} for s in d["samples"]]
        out.append(d)
    if not out:
        out = [{"pattern": domain_pattern(domain), "depth": 0, "pages": 0, "recalled": 0, "fraction": 0.0,
                "score_p10": 0.0, "score_p50": 0.0, "score_p90": 0.0, "samples": []}]  # fmt: skip
    return {"round": number, "domain": domain, "proposals": out,
            "score_range": float(np.ptp([p["score_p50"] for p in out])) if out else 0.0}  # fmt: skip


def pattern_view(settings: Settings, pattern: str, *, round_id: int | None = None, samples: int = 5) -> dict[str, Any]:
    """A labelled pattern as the Review page shows it: its pages in a round (default: the latest with a page
    index), their figures, and samples spread over the score range."""
    from webrecall.core.db import session
    from webrecall.core.labelling import proposals as prop
    from webrecall.core.storage.store import Store

    pat = parse(pattern)
    with session(settings.db_url) as db:
        if round_id is None or db.get(Round, round_id) is None:
            rnd = latest_done(db)
            round_id = rnd.id if rnd is not None else None
        if round_id is None or pat.host is None:
            return {"pattern": pat.text, "round": None, "pages": 0, "samples": []}
        number = round_number(db, round_id)
        locations = done_warcs(db, round_id)
    table = prop.domain_pages(Store(settings.data_dir), number, locations, {pat.host})
    rows = [r for r in table.to_pylist() if pat.matches(r["url"])]
    if not rows:
        return {"pattern": pat.text, "round": number, "pages": 0, "samples": []}
    scores = np.array([r["score"] for r in rows], dtype=np.float64)
    p10, p50, p90 = (round(float(x), 4) for x in np.quantile(scores, [0.1, 0.5, 0.9]))
    recalled = sum(bool(r["kept"]) for r in rows)
    picked = prop.spread_samples(rows, samples, 300)
    texts = {r["url"]: r.get("text") or "" for r in rows}
    return {"pattern": pat.text, "round": number, "pages": len(rows), "recalled": recalled,
            "fraction": round(recalled / len(rows), 4), "score_p10": p10, "score_p50": p50, "score_p90": p90,
            "samples": [{**x, "lines": snippet_lines(texts.get(x["url"]) or x["snippet"])}
                        for x in picked]}  # fmt: skip


def shown_record(view: dict[str, Any], pattern: str) -> dict[str, Any]:
    """What the annotator saw when deciding (kept with the label for audits)."""
    selected = next((p for p in view["proposals"] if p["pattern"] == pattern), None)
    samples = [{"url": s["url"], "score": s["score"]} for s in (selected or {}).get("samples", [])]
    return {"round": view["round"], "domain": view["domain"], "pattern": pattern,
            "proposals": [p["pattern"] for p in view["proposals"]], "samples": samples}  # fmt: skip
