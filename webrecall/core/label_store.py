"""URL-pattern labels: append-only history, latest per (pattern, annotator) wins, conflicts kept."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from webrecall.core.db import Label
from webrecall.core.urls.patterns import PatternSet, exact, parse, url_key

LABELS = ("code", "non-code", "mixed")
_ALIASES = {"noncode": "non-code", "non_code": "non-code", "other": "non-code", "not-code": "non-code"}


def normalize_label(value: object) -> str:
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text)
    if text not in LABELS:
        raise ValueError(f"label {value!r} is not one of {', '.join(LABELS)}")
    return text


def parse_rows(rows: Iterable[dict[str, Any]], *, annotator: str = "", source: str = "") -> Iterator[Label]:
    """Validate rows `{"pattern"|"url": ..., "label": ..., "annotator"?, "reason"?, "round"?}` into Labels."""
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"row {n}: expected a JSON object")
        try:
            label = normalize_label(row.get("label", ""))
            if row.get("pattern"):
                pattern, scope = parse(str(row["pattern"])).text, "pattern"
            elif row.get("url"):
                pattern, scope = url_key(str(row["url"])), "url"
            else:
                raise ValueError("needs a 'pattern' or a 'url'")
        except ValueError as exc:
            raise ValueError(f"row {n}: {exc}") from None
        round_no = row.get("round")
        yield Label(
            pattern=pattern, scope=scope, label=label, annotator=str(row.get("annotator") or annotator),
            round_id=int(round_no) if isinstance(round_no, int) else None,
            reason=str(row.get("reason") or row.get("kind") or ""), source=source,
        )  # fmt: skip


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None


def import_labels(db: Session, rows: Iterable[dict[str, Any]], *, annotator: str = "", source: str = "") -> int:
    """Append all rows or none (validation happens before the first write)."""
    labels = list(parse_rows(rows, annotator=annotator, source=source))
    db.add_all(labels)
    db.commit()
    return len(labels)


UNDO, REVIEW = "undo", "review"
"""Label sources with a meaning: an 'undo' row (label 'undo') retracts the label whose id is its
`shown["undoes"]`, so the history stays append-only; a 'review' label settles a conflict on its pattern."""


def history(db: Session) -> Iterator[Label]:
    """Every label ever written, oldest first (the append-only log `labels export` writes)."""
    yield from db.exec(select(Label).order_by(col(Label.id)))


def current(db: Session) -> dict[tuple[str, str], Label]:
    """The latest label per (pattern, annotator); labels retracted by an undo row do not count."""
    rows = list(db.exec(select(Label).order_by(col(Label.id))))
    undone = {int(r.shown.get("undoes", 0)) for r in rows if r.source == UNDO}
    latest: dict[tuple[str, str], Label] = {}
    for label in rows:
        if label.source != UNDO and label.id not in undone:
            latest[(label.pattern, label.annotator)] = label
    return latest


def resolved(db: Session) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(pattern -> label where annotators agree or a reviewer decided, pattern -> labels where they conflict)."""
    by_pattern: dict[str, set[str]] = {}
    reviewed: dict[str, Label] = {}
    for (pattern, _), label in current(db).items():
        by_pattern.setdefault(pattern, set()).add(label.label)
        if label.source == REVIEW and (label.id or 0) > (reviewed[pattern].id or 0 if pattern in reviewed else -1):
            reviewed[pattern] = label
    agreed = {p: next(iter(v)) for p, v in by_pattern.items() if len(v) == 1}
    conflicts = {p: v for p, v in by_pattern.items() if len(v) > 1}
    for pattern, label in reviewed.items():  # the reviewer's word wins over the annotators'
        agreed[pattern] = label.label
        conflicts.pop(pattern, None)
    return agreed, conflicts


def pattern_set(db: Session) -> PatternSet[str]:
    """Agreed labels as a matcher (URL-level labels match that URL only); conflicting patterns are left out."""
    agreed, _ = resolved(db)
    scopes = {label.pattern: label.scope for label in current(db).values()}
    out: PatternSet[str] = PatternSet()
    for pattern, label in agreed.items():
        out.add(exact(pattern) if scopes.get(pattern) == "url" else pattern, label)
    return out


def has_code_labels(db: Session) -> bool:
    return db.exec(select(Label.id).where(Label.label == "code").limit(1)).first() is not None


def coverage_set(db: Session) -> PatternSet[str]:
    """Every current label as a matcher, conflicting ones included: the URLs nobody needs to be asked about."""
    out: PatternSet[str] = PatternSet()
    for label in current(db).values():
        out.add(exact(label.pattern) if label.scope == "url" else label.pattern, label.label)
    return out


def conflict_report(db: Session) -> list[dict[str, object]]:
    """Patterns on which annotators disagree, with who said what (kept, never overwritten)."""
    _, conflicts = resolved(db)
    by_pattern: dict[str, dict[str, str]] = {}
    for (pattern, annotator), label in current(db).items():
        if pattern in conflicts:
            by_pattern.setdefault(pattern, {})[annotator] = label.label
    return [{"pattern": p, "labels": v} for p, v in sorted(by_pattern.items())]
