"""The round and task lookups every part asks for, written once (core, CLI, API, workers, annotator)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from webrecall.core.db import Round, WarcTask, session
from webrecall.core.settings import Settings

UNFINISHED = ("pending", "running")


def find_round(db: Session, number: int | None = None) -> Round | None:
    """Round `number`, or the latest round when `number` is None; None if there is none."""
    query = select(Round).order_by(col(Round.number).desc())
    if number is not None:
        query = select(Round).where(Round.number == number)
    return db.exec(query).first()


def round_by_number(settings: Settings, number: int | None = None) -> Round:
    """Round `number` (the latest when None); ValueError naming what is missing."""
    with session(settings.db_url) as db:
        rnd = find_round(db, number)
    if rnd is None:
        raise ValueError(f"no round {number}" if number is not None else "no round yet")
    return rnd


def all_rounds(db: Session) -> Sequence[Round]:
    """Every round, newest first."""
    return db.exec(select(Round).order_by(col(Round.number).desc())).all()


def latest_done(db: Session) -> Round | None:
    """The latest finished round (what read-side views show by default)."""
    return db.exec(select(Round).where(Round.status == "done").order_by(col(Round.number).desc())).first()


def previous_done(db: Session, number: int) -> Round | None:
    """The latest finished round before round `number` (the one its growth, domains and read-back compare with)."""
    query = select(Round).where(Round.number < number, Round.status == "done")
    return db.exec(query.order_by(col(Round.number).desc())).first()


def done_warcs(db: Session, round_id: int | None, phase: str = "recall") -> list[str]:
    """The WARC locations whose `phase` task of the round finished, in task order (the completed shards)."""
    rows = db.exec(select(WarcTask.warc_url).where(WarcTask.round_id == round_id, WarcTask.phase == phase,
                                                   WarcTask.status == "done").order_by(col(WarcTask.id)))  # fmt: skip
    return list(rows)


def warc_tasks(settings: Settings, round_id: int) -> Sequence[WarcTask]:
    with session(settings.db_url) as db:
        return db.exec(select(WarcTask).where(WarcTask.round_id == round_id).order_by(col(WarcTask.id))).all()


def pending_tasks(settings: Settings, round_id: int, phase: str) -> list[int]:
    """Ids of the round's unfinished `phase` tasks (pending, or running when a worker was lost)."""
    with session(settings.db_url) as db:
        unfinished = col(WarcTask.status).in_(UNFINISHED)
        rows = db.exec(select(WarcTask.id).where(WarcTask.round_id == round_id, WarcTask.phase == phase, unfinished)
                       .order_by(col(WarcTask.id)))  # fmt: skip
        return [int(r) for r in rows if r is not None]
