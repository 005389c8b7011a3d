"""URL-pattern labels: append-only history, latest per (pattern, annotator) wins, conflicts kept."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from webrecall.core.db import Annotator, Label, Round, check_storable
from webrecall.core.storage import jsonl
from webrecall.core.urls.patterns import Pattern, PatternSet, compile_pattern, exact, label_url_key, parse

LABELS = ("code", "non-code", "mixed")
_ALIASES = {"noncode": "non-code", "non_code": "non-code", "other": "non-code", "not-code": "non-code"}


def normalize_label(value: object) -> str:
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text)
    if text not in LABELS:
        raise ValueError(f"label {value!r} is not one of {', '.join(LABELS)}")
    return text


def parse_rows(rows: Iterable[dict[str, Any]], *, annotator: str = "", source: str = "",
               rounds: Mapping[int, int] | None = None) -> Iterator[Label]:  # fmt: skip
    """Validate rows `{"pattern"|"url": ..., "label": ..., "annotator"?, "reason"?, "round"?}` into Labels.

    `rounds` maps the round numbers a row may name to their ids (a row naming another round is refused)."""
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"row {n}: expected a JSON object")
        try:
            label = normalize_label(row.get("label", ""))
            if row.get("pattern"):
                pattern, scope = parse(str(row["pattern"])).text, "pattern"
            elif row.get("url"):
                pattern, scope = label_url_key(str(row["url"])), "url"
            else:
                raise ValueError("needs a 'pattern' or a 'url'")
            round_id = _round_id(row.get("round"), rounds or {})
            reason = str(row.get("reason") or row.get("kind") or "")
            check_storable(reason, what="reason")
        except ValueError as exc:
            raise ValueError(f"row {n}: {exc}") from None
        yield Label(
            pattern=pattern, scope=scope, label=label, annotator=str(row.get("annotator") or annotator),
            round_id=round_id, reason=reason, source=source,
        )  # fmt: skip


def _round_id(number: object, rounds: Mapping[int, int]) -> int | None:
    if number is None:
        return None
    if not isinstance(number, int) or isinstance(number, bool):
        raise ValueError(f"round {number!r} is not a round number")
    if number not in rounds:
        known = f"rounds are {min(rounds)}-{max(rounds)}" if rounds else "there is no round yet"
        raise ValueError(f"unknown round {number} ({known})")
    return rounds[number]


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    return (row for _, row in jsonl.rows(path))


def import_labels(db: Session, rows: Iterable[dict[str, Any]], *, annotator: str = "", source: str = "",
                  accounts_only: bool = False) -> int:  # fmt: skip
    """Append all rows or none (validation happens before the first write). `accounts_only`: every named
    annotator must be an account (an unnamed one makes an operator label, which is no annotator's vote)."""
    rounds = {r.number: r.id or 0 for r in db.exec(select(Round))}
    labels = list(parse_rows(rows, annotator=annotator, source=source, rounds=rounds))
    if accounts_only:
        names = {label.annotator for label in labels} - {""}
        known = set(db.exec(select(Annotator.name).where(col(Annotator.name).in_(names)))) if names else set()
        if unknown := sorted(names - known):
            raise ValueError(f"unknown annotator account {', '.join(map(repr, unknown))} (create it with "
                             "`webrecall annotators add`, or leave the annotator out for an operator label)")
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
    undone = _retracted_ids(rows)
    latest: dict[tuple[str, str], Label] = {}
    for label in rows:
        if label.source != UNDO and label.id not in undone:
            latest[(label.pattern, label.annotator)] = label
    return latest


def _retracted_ids(rows: Iterable[Label]) -> dict[int, int]:
    """id of a retracted label -> id of the undo row that retracted it."""
    return {int(r.shown.get("undoes", 0)): r.id or 0 for r in rows if r.source == UNDO}


def given_on(db: Session, round_id: int) -> int:
    """Labels given on a round's queue that still stand: undo rows and the labels they retracted are not labels."""
    rows = list(db.exec(select(Label).where(Label.round_id == round_id)))
    undone = _retracted_ids(rows)
    return sum(r.source != UNDO and r.id not in undone for r in rows)


def retract(db: Session, label_id: int, *, reason: str, by: str = "operator") -> Label:
    """Retract a label with an undo row (the history stays append-only; the next round ignores the label).
    LookupError if there is no such label; ValueError if it is an undo row or was retracted already."""
    reason = reason.strip()
    if not reason:
        raise ValueError("give the reason for the retraction")
    check_storable(reason, what="reason")
    label = db.get(Label, label_id)
    if label is None:
        raise LookupError(f"no label {label_id}")
    if label.source == UNDO:
        raise ValueError(f"label {label_id} is itself a retraction (of label {label.shown.get('undoes')})")
    undos = db.exec(select(Label).where(Label.source == UNDO, Label.pattern == label.pattern)).all()
    if (by_row := _retracted_ids(undos).get(label_id)) is not None:
        raise ValueError(f"label {label_id} was already retracted (by label {by_row})")
    row = Label(pattern=label.pattern, scope=label.scope, label=UNDO, annotator=label.annotator,
                round_id=label.round_id, reason=reason, source=UNDO,
                shown={"undoes": label_id, "label": label.label, "retracted_by": by})  # fmt: skip
    db.add(row)
    db.commit()
    db.refresh(row)
    return row


def retracted_set(db: Session) -> PatternSet[str]:
    """The retracted labels that no standing label of the same pattern replaced, as a matcher (their label as
    payload): what a later round must stop learning from, even through an earlier round's training set."""
    rows = list(db.exec(select(Label).order_by(col(Label.id))))
    undone, standing = _retracted_ids(rows), {p for p, _ in current(db)}
    out: PatternSet[str] = PatternSet()
    for label in rows:
        if label.id in undone and label.pattern not in standing:
            out.add(_matcher(label.pattern, label.scope), label.label)
    return out


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
        out.add(_matcher(pattern, scopes.get(pattern, "pattern")), label)
    return out


def has_code_labels(db: Session) -> bool:
    """Any standing code label (a retracted one seeds nothing)."""
    return any(label.label == "code" for label in current(db).values())


def coverage_set(db: Session) -> PatternSet[str]:
    """Every current label as a matcher, conflicting ones included: the URLs nobody needs to be asked about."""
    out: PatternSet[str] = PatternSet()
    for label in current(db).values():
        out.add(_matcher(label.pattern, label.scope), label.label)
    return out


def _matcher(pattern: str, scope: str) -> Pattern:
    """A stored label's matcher. Stored patterns were validated when written, so they are compiled as they are:
    a label written under older limits still matches (in linear time) instead of failing every later round."""
    return exact(pattern) if scope == "url" else compile_pattern(pattern)


def conflict_report(db: Session) -> list[dict[str, object]]:
    """Patterns on which annotators disagree, with who said what (kept, never overwritten)."""
    _, conflicts = resolved(db)
    by_pattern: dict[str, dict[str, str]] = {}
    for (pattern, annotator), label in current(db).items():
        if pattern in conflicts:
            by_pattern.setdefault(pattern, {})[annotator] = label.label
    return [{"pattern": p, "labels": v} for p, v in sorted(by_pattern.items())]
