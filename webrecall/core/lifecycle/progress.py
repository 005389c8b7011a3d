"""A round's progress, read from its task rows (never a shared counter): files, pages, pages/s, ETA."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import select

from webrecall.core import totals as totals_mod
from webrecall.core.db import Round, WarcTask, session, utcnow
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle.status import TERMINAL
from webrecall.core.settings import Settings

FINISHED = frozenset({"done", "failed", "skipped", "cancelled"})
"""Task statuses that end a task (its time counts for the ETA)."""


class PhaseProgress(BaseModel):
    warcs_done: int
    warcs_total: int
    running: int
    pages: int
    recalled: int


class Progress(BaseModel):
    round: int
    status: str
    index: PhaseProgress
    recall: PhaseProgress
    pages: int
    """Records read (a page-cache hit reads none, its index row counts the cached HTML pages)."""
    html_pages: int
    pages_per_s: float
    """HTML pages per second of wall time, from the round's start to its end (to now while it runs)."""
    eta_seconds: float | None


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value is not None else None


def _eta(tasks: Sequence[WarcTask]) -> float | None:
    """Seconds left: the unfinished tasks of each phase times that phase's mean task time (a phase that has not
    started borrows the index phase's), divided by the parallelism the phase showed. Computed from task times
    only, so it does not grow while the round waits (e.g. during training)."""
    per_phase: dict[str, tuple[float, float]] = {}
    for phase in ("index", "recall"):
        spans = [(_naive(t.started_at), _naive(t.finished_at)) for t in tasks
                 if t.phase == phase and t.status in FINISHED and t.started_at and t.finished_at]  # fmt: skip
        if spans:
            busy = sum((b - a).total_seconds() for a, b in spans if a and b)
            wall = (max(b for _, b in spans if b) - min(a for a, _ in spans if a)).total_seconds()
            per_phase[phase] = (busy / len(spans), max(1.0, busy / wall) if wall > 0 else 1.0)
    if not per_phase:
        return None
    fallback = per_phase.get("index") or per_phase["recall"]
    left = 0.0
    for phase in ("index", "recall"):
        mean, parallel = per_phase.get(phase, fallback)
        left += sum(t.phase == phase and t.status not in FINISHED for t in tasks) * mean / parallel
    return round(left, 1)


def round_progress(settings: Settings, round_id: int) -> Progress:
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == round_id)).all()
    ended = rnd.finished_at if rnd.status in TERMINAL and rnd.finished_at else utcnow()  # a finished round's own end
    start, end = _naive(rnd.started_at), _naive(ended)
    elapsed = (end - start).total_seconds() if start and end else 0.0
    phases = {}
    for phase in ("index", "recall"):
        rows = [t for t in tasks if t.phase == phase]
        done = [t for t in rows if t.status in FINISHED]
        phases[phase] = PhaseProgress(
            warcs_done=len(done), warcs_total=len(rows), running=sum(t.status == "running" for t in rows),
            pages=sum(t.html_pages for t in done), recalled=sum(t.recalled for t in done),
        )  # fmt: skip
    totals = totals_mod.of(rnd)
    # as WARC tasks finish (a page-cache hit reads no record, but its index row counts the cached HTML pages)
    pages = totals.pages if totals.has("pages") else sum(t.pages for t in tasks if t.phase == "index"
                                                         and t.status == "done")  # fmt: skip
    html = totals.html_pages if totals.has("html_pages") else max(phases["index"].pages, phases["recall"].pages)
    return Progress(
        round=rnd.number, status=rnd.status, index=phases["index"], recall=phases["recall"], pages=pages,
        html_pages=html, pages_per_s=round(html / elapsed, 2) if elapsed > 0 else 0.0,
        eta_seconds=_eta(tasks) if rnd.status not in TERMINAL else None,
    )  # fmt: skip
