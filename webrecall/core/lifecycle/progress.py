"""A round as operators see it: its progress, read from its task rows (never a shared counter: files, pages, pages/s,
ETA), and `RoundView`, the one view of a round that the CLI prints and the API serves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from webrecall.core import params
from webrecall.core import totals as totals_mod
from webrecall.core.db import Round, WarcTask, session, utcnow
from webrecall.core.errors import FatalError
from webrecall.core.growth import of_round
from webrecall.core.labelling import page_items
from webrecall.core.lifecycle.status import TERMINAL
from webrecall.core.queries import previous_done
from webrecall.core.settings import Settings
from webrecall.core.totals import Growth, Redactions

FINISHED = frozenset({"done", "failed", "skipped", "cancelled"})
"""Task statuses that end a task (its time counts for the ETA)."""


ENDED = frozenset({"done", "failed", "skipped"})
"""Task statuses of a WARC file a phase got through (a cancelled one it did not)."""


class PhaseProgress(BaseModel):
    warcs_done: int = Field(description="WARC files the phase got through: done, skipped or failed")
    warcs_total: int
    running: int
    cancelled: int = Field(0, description="WARC files a cancel stopped or kept from starting")
    pages: int
    recalled: int


class Progress(BaseModel):
    round: int
    status: str
    index: PhaseProgress
    recall: PhaseProgress
    pages: int
    """WARC records of the round's files (a page-cache hit counts those the pass that wrote the cache read)."""
    html_pages: int
    pages_per_s: float
    """HTML pages per second of wall time, from the round's start to its end (to now while it runs)."""
    eta_seconds: float | None
    """Seconds left over every step still to come (None: finished, or nothing measured yet)."""
    eta_partial: bool = False
    """The ETA leaves out a step with no measured time yet (`Eta.partial`): it is a lower bound."""


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value is not None else None


Rate = tuple[float, float]
"""A phase's mean task time and the parallelism it showed."""


def _rate(tasks: Sequence[WarcTask], phase: str) -> Rate | None:
    spans = [(_naive(t.started_at), _naive(t.finished_at)) for t in tasks
             if t.phase == phase and t.status in FINISHED and t.started_at and t.finished_at]  # fmt: skip
    if not spans:
        return None
    busy = sum((b - a).total_seconds() for a, b in spans if a and b)
    wall = (max(b for _, b in spans if b) - min(a for a, _ in spans if a)).total_seconds()
    return busy / len(spans), max(1.0, busy / wall) if wall > 0 else 1.0


def _trained_at(tasks: Sequence[WarcTask]) -> tuple[datetime | None, datetime | None]:
    """When training started (the last task before it ended) and ended (the first recall task started)."""
    before = [_naive(t.finished_at) for t in tasks if t.phase != "recall" and t.finished_at]
    after = [_naive(t.started_at) for t in tasks if t.phase == "recall" and t.started_at]
    return max((b for b in before if b), default=None), min((a for a in after if a), default=None)


def _after_recall(rnd: Round, tasks: Sequence[WarcTask]) -> float | None:
    """Seconds from a finished round's last recall task to its end: dedup and finalize."""
    ends = [_naive(t.finished_at) for t in tasks if t.phase == "recall" and t.finished_at]
    last, end = max((e for e in ends if e), default=None), _naive(rnd.finished_at)
    return (end - last).total_seconds() if last and end and end > last else None


@dataclass(slots=True)
class Eta:
    seconds: float | None
    partial: bool
    """A step still to come has no measured time yet (training or finalize with no finished round before it, or a
    training past the previous round's time): `seconds` is a lower bound (None when nothing else is left)."""


def _eta(rnd: Round, tasks: Sequence[WarcTask], prev: Round | None, before: Sequence[WarcTask]) -> Eta:
    """Seconds left over every step still to come: the unfinished WARC tasks of each phase times that phase's mean
    task time over the parallelism it showed (this round's, else the previous round's, else the index phase's),
    training and finalize as long as the previous finished round's took. From task times only, so it does not grow
    while the round waits; never 0 while work remains."""
    rates = {phase: _rate(tasks, phase) or _rate(before, phase) for phase in ("index", "recall")}
    fallback = rates["index"] or rates["recall"]
    left, partial = 0.0, False
    for phase in ("index", "recall"):
        if unfinished := sum(t.phase == phase and t.status not in FINISHED for t in tasks):
            rate = rates[phase] or fallback
            if rate is None:
                partial = True
            else:
                left += unfinished * rate[0] / rate[1]
    start, end = _trained_at(before)
    took = (end - start).total_seconds() if start and end and end > start else None
    now = _naive(utcnow())
    assert now is not None
    if rnd.model_id is None and rnd.status in ("pending", "indexing", "expanding", "training"):  # to come, or running
        since = _trained_at(tasks)[0] if rnd.status == "training" else None
        gone = (now - since).total_seconds() if since else 0.0
        if took is None or gone >= took:
            partial = True
        else:
            left += took - gone
    after = _after_recall(prev, before) if prev is not None else None
    ends = [_naive(t.finished_at) for t in tasks if t.phase == "recall" and t.finished_at]
    last = max((e for e in ends if e), default=None) if rnd.status == "finalizing" else None
    gone = (now - last).total_seconds() if last else 0.0
    if after is None or gone >= after:
        partial = True
    else:
        left += after - gone
    return Eta(round(left, 1) if left > 0 else None, partial)


def round_progress(settings: Settings, round_id: int) -> Progress:
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == round_id)).all()
        running = rnd.status not in TERMINAL
        prev = previous_done(db, rnd.number) if running else None
        before = db.exec(select(WarcTask).where(WarcTask.round_id == prev.id)).all() if prev is not None else []
    eta = _eta(rnd, tasks, prev, before) if running else Eta(None, False)
    ended = rnd.finished_at if rnd.status in TERMINAL and rnd.finished_at else utcnow()  # a finished round's own end
    start, end = _naive(rnd.started_at), _naive(ended)
    elapsed = (end - start).total_seconds() if start and end else 0.0
    phases = {}
    for phase in ("index", "recall"):
        rows = [t for t in tasks if t.phase == phase]
        done = [t for t in rows if t.status in ENDED]
        phases[phase] = PhaseProgress(
            warcs_done=len(done), warcs_total=len(rows), running=sum(t.status == "running" for t in rows),
            cancelled=sum(t.status == "cancelled" for t in rows),
            pages=sum(t.html_pages for t in done), recalled=sum(t.recalled for t in done),
        )  # fmt: skip
    totals = totals_mod.of(rnd)
    # as WARC tasks finish (a page-cache hit counts what the index pass that wrote it counted)
    pages = totals.pages if totals.has("pages") else sum(t.pages for t in tasks if t.phase == "index"
                                                         and t.status == "done")  # fmt: skip
    html = totals.html_pages if totals.has("html_pages") else max(phases["index"].pages, phases["recall"].pages)
    return Progress(
        round=rnd.number, status=rnd.status, index=phases["index"], recall=phases["recall"], pages=pages,
        html_pages=html, pages_per_s=round(html / elapsed, 2) if elapsed > 0 else 0.0,
        eta_seconds=eta.seconds, eta_partial=eta.partial,
    )  # fmt: skip


def error_counts(db: Session, rnd: Round) -> dict[str, int]:
    """Errors by reason: the finished round's totals, or a running round's task stats so far."""
    if (errors := totals_mod.of(rnd).errors) is not None:
        return dict(errors)
    out: dict[str, int] = {}
    rows = db.exec(select(WarcTask.phase, WarcTask.status, WarcTask.stats).where(WarcTask.round_id == rnd.id)).all()
    for phase, status, stats in rows:
        if phase == "index":
            for key, value in (stats or {}).items():
                if key.startswith("dropped_") or key == "resync_bytes_skipped":
                    out[key.removeprefix("dropped_")] = out.get(key.removeprefix("dropped_"), 0) + int(value)
        if status in ("failed", "skipped"):
            out[f"warc_{status}"] = out.get(f"warc_{status}", 0) + 1
    return out


class FailedFile(BaseModel):
    """A WARC file a phase of the round could not use, and why (`round run` / `POST /rounds/{n}/retry` try again)."""

    warc: str
    phase: str
    status: str = Field(description="`skipped` (missing, empty or not a WARC file) or `failed` (retries spent)")
    error: str


def failed_files(tasks: Sequence[WarcTask]) -> list[FailedFile]:
    return [FailedFile(warc=t.warc_url, phase=t.phase, status=t.status, error=t.error)
            for t in tasks if t.status in ("failed", "skipped")]  # fmt: skip


class RoundFields(BaseModel):
    """What the CLI and the API both show of a round (`RoundView` here, the API's `RoundPublic`)."""

    id: int = Field(description="The round number")
    status: str
    error: str
    crawl_id: str
    base_url: str
    threshold: float
    top_k: int | None
    effective_threshold: float | None
    seed_patterns: list[str]
    limit: int | None
    sample: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wall_seconds: float | None
    pages: int = Field(description="WARC records in the round's files (so far, while the round runs), read now or "
                       "by the round that wrote their page cache")
    html_pages: int = Field(description="HTML pages indexed or scored (so far, while the round runs)")
    recalled: int
    domains: int
    related_domains: int
    errors: dict[str, int] = Field(description="Skipped pages and failed WARC files by reason; `corrupt`: records "
                                   "lost in corrupt stretches of WARC files, `resync_bytes_skipped`: their bytes")
    warcs: int
    warcs_failed: int
    failed_files: list[FailedFile] = Field(default_factory=list, description="The WARC files a phase could not "
                                           "use, with the reason (`warc_skipped`/`warc_failed` in `errors` count them)")
    pages_per_task_s: float | None = Field(description="HTML pages per second of task time (per busy core)")
    eval: dict[str, Any] | None
    holdout: dict[str, Any] | None = Field(
        default=None, description="Precision, recall and F1 on the round's holdout labels (pages that never trained "
        "it), with 95% Wilson intervals: `overall`, per `kind`, per `lang`")
    growth: Growth | None
    dedup: dict[str, Any] | None = Field(
        default=None, description="Copies removed per reason (exact_url, exact_text, near_dup) and contaminated "
        "pages: `round` (this round's pages), `overall` (the corpus of rounds 1..n), `config`")
    redactions: Redactions | None = Field(default=None, description="What its export redacts (none before the "
                                          "round's pages were counted)")
    second_stage: bool = Field(default=False, description="Whether the round was asked to score with a second stage")
    page_item_yields: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Its page items per strategy (uncertainty, disagreement, coverage, audit): "
        "`items` queued, `labelled`, `code` (labelled code by the majority of their annotators), `yield` (code / "
        "labelled)")


class RoundView(RoundFields):
    """A round for its operators, built once (`round_view`): the CLI prints it (`round start/status/list/run`), the
    API serves it (`RoundPublic`). Figures come from the totals once the round is finalized, from its task rows
    while it runs."""

    progress: Progress
    model: dict[str, Any]
    """The model's figures as training recorded them (version, seeds, held-out measures)."""


def round_view(settings: Settings, rnd: Round) -> RoundView:
    from webrecall.core.lifecycle.finalize import dedup_counts

    progress = round_progress(settings, rnd.id or 0)
    t, recorded, grown = totals_mod.of(rnd), params.of(rnd), of_round(rnd)
    wall = (rnd.finished_at - rnd.started_at).total_seconds() if rnd.finished_at and rnd.started_at else None
    with session(settings.db_url) as db:
        errors, yields = error_counts(db, rnd), page_items.yields(db, rnd.id or 0)
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == rnd.id).order_by(col(WarcTask.id))).all()
        failed = failed_files(tasks)
    return RoundView(
        id=rnd.number, status=rnd.status, error=rnd.error, crawl_id=rnd.crawl_id, base_url=rnd.base_url,
        threshold=rnd.threshold, top_k=rnd.top_k, effective_threshold=rnd.effective_threshold,
        seed_patterns=recorded.seed_patterns, limit=recorded.limit, sample=recorded.sample, created_at=rnd.created_at,
        started_at=rnd.started_at, finished_at=rnd.finished_at, wall_seconds=round(wall, 2) if wall else None,
        progress=progress, pages=progress.pages, html_pages=progress.html_pages,
        recalled=t.recalled if t.has("recalled") else progress.recall.recalled, domains=t.domains,
        related_domains=t.related_domains, errors=errors, warcs=t.warcs, warcs_failed=t.warcs_failed,
        failed_files=failed, pages_per_task_s=t.pages_per_task_s,
        model=t.model.model_dump(mode="json", exclude_unset=True) if t.model else {},
        eval=t.eval.model_dump(mode="json", exclude_unset=True) if t.eval else None,
        holdout=t.holdout.model_dump(mode="json") if t.holdout else None,
        growth=Growth(**grown) if grown else None, dedup=dedup_counts(t),
        redactions=t.redactions, page_item_yields=yields, second_stage=recorded.second_stage,
    )  # fmt: skip
