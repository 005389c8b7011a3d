"""A round as operators see it: its progress, read from its task rows (never a shared counter: files, pages, pages/s,
ETA), and `RoundView`, the one view of a round that the CLI prints and the API serves."""

from __future__ import annotations

from collections.abc import Sequence
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
        eta_seconds=_eta(tasks) if rnd.status not in TERMINAL else None,
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
        growth=Growth(**grown) if grown else None, dedup=dedup_counts(t),
        redactions=t.redactions, page_item_yields=yields, second_stage=recorded.second_stage,
    )  # fmt: skip
