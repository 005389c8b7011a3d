"""The round's status machine: one transition table and one function that every runner (the local one,
the Celery tasks, the API, the CLI) calls; cancel, retry and the failure handling of rounds and tasks.

    pending -> indexing -> [expanding -> training ->] recalling -> finalizing -> done
    any unfinished status -> failed | cancelled;  failed -> pending (retry)

A cancel is final: no later phase overwrites it. A status not allowed from the current one is ignored (the
row is returned unchanged), so a redelivered task never moves a finished round backwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlmodel import col, select

from webrecall.core.db import Round, WarcTask, session, utcnow
from webrecall.core.errors import FatalError, StopCheck
from webrecall.core.settings import Settings

Status = Literal["pending", "indexing", "expanding", "training", "recalling", "finalizing", "done", "failed",
                 "cancelled"]  # fmt: skip
TERMINAL = frozenset({"done", "failed", "cancelled"})
RUNNING = frozenset({"indexing", "expanding", "training", "recalling", "finalizing"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": RUNNING | {"failed", "cancelled"},
    **{s: RUNNING | {"done", "failed", "cancelled"} for s in RUNNING},  # a resumed round starts again at indexing
    "done": frozenset({"done"}),
    "failed": frozenset({"failed", "pending"}),  # only `retry_round` leaves it
    "cancelled": frozenset({"cancelled"}),
}


def allowed(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def set_status(settings: Settings, round_id: int, status: Status, **fields: Any) -> Round:
    """The one transition: row-locked (FOR UPDATE on PostgreSQL) so a concurrent cancel is never overwritten;
    `finished_at` is set when the round becomes failed or cancelled."""
    with session(settings.db_url) as db:
        rnd = db.exec(select(Round).where(Round.id == round_id).with_for_update()).first()
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        if not allowed(rnd.status, status):
            return rnd
        if status in ("failed", "cancelled") and rnd.status != status:
            fields.setdefault("finished_at", utcnow())
        rnd.status = status
        for key, value in fields.items():
            setattr(rnd, key, value)
        db.add(rnd)
        db.commit()
        db.refresh(rnd)
        return rnd


def fail_round(settings: Settings, round_id: int, exc: BaseException | str) -> Round:
    return set_status(settings, round_id, "failed", error=str(exc))


@contextmanager
def failing_round(settings: Settings, round_id: int) -> Iterator[None]:
    """A round-level step: a FatalError or ValueError fails the round (and is raised on)."""
    try:
        yield
    except (FatalError, ValueError) as exc:
        fail_round(settings, round_id, exc)
        raise


def fail_task(settings: Settings, task_id: int, error: str) -> WarcTask | None:
    """A WARC task that gave up (its retries spent): recorded as failed, the round goes on without it."""
    with session(settings.db_url) as db:
        row = db.get(WarcTask, task_id)
        if row is not None:
            row.status, row.error, row.finished_at = "failed", error, utcnow()
            db.add(row)
            db.commit()
            db.refresh(row)
        return row


def is_cancelled(settings: Settings, round_id: int) -> bool:
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        return rnd is None or rnd.status == "cancelled"


def cancel_check(settings: Settings, round_id: int, every_s: float) -> StopCheck | None:
    """A `should_stop` for a running WARC task: looks at the round's status at most every `every_s` seconds
    (None: the task runs to its end, as the local runner's do; it checks between tasks)."""
    if every_s <= 0:
        return None
    due = time.monotonic() + every_s

    def should_stop() -> bool:
        nonlocal due
        if time.monotonic() < due:
            return False
        due = time.monotonic() + every_s
        return is_cancelled(settings, round_id)

    return should_stop


def cancel_round(settings: Settings, round_id: int) -> Round:
    """Cancel: pending WARC tasks are marked cancelled (and are no-ops if they start); running ones too, as their
    runner stops or kills them within `cancel_check_seconds` (one that ends first records how it ended)."""
    rnd = set_status(settings, round_id, "cancelled")
    with session(settings.db_url) as db:
        unfinished = col(WarcTask.status).in_(["pending", "running"])
        for task in db.exec(select(WarcTask).where(WarcTask.round_id == round_id, unfinished)):
            task.status, task.error, task.finished_at = "cancelled", "the round was cancelled", utcnow()
            db.add(task)
        db.commit()
    return rnd


def retry_round(settings: Settings, round_id: int) -> Round:
    """Make a failed round runnable again: its failed, skipped (a file missing, empty or not a WARC file) and
    interrupted WARC tasks go back to pending, every finished one is kept, and so is its model if it has one.
    ValueError unless the round failed."""
    with session(settings.db_url) as db:
        rnd = db.exec(select(Round).where(Round.id == round_id).with_for_update()).first()
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        if rnd.status != "failed":
            raise ValueError(f"round {rnd.number} is {rnd.status}, not failed")
        again = col(WarcTask.status).in_(["failed", "skipped", "running"])
        for task in db.exec(select(WarcTask).where(WarcTask.round_id == round_id, again)):
            task.status, task.error = "pending", f"retried after: {task.error}" if task.error else ""
            db.add(task)
        rnd.status, rnd.error, rnd.finished_at = "pending", "", None
        db.add(rnd)
        db.commit()
        db.refresh(rnd)
        return rnd
