"""Thin Celery tasks over the round's steps (`webrecall.core.lifecycle.steps`, which the local runner calls
too): ids in, a small summary out, one retry policy.

A round is one canvas, built when it starts: index group -> expand -> train -> recall group -> dedup ->
finalize (the groups followed by a task become chords; no task ever waits on another with `.get()`). Task ids
are derived from the row ids, so a cancel can revoke them without storing anything, and the database stays the
source of truth: train and finalize pass the steps' gate (the task rows) before they run, not only the chord's
counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task, chain, group
from celery.canvas import Signature

from webrecall.core.db import WarcTask, session
from webrecall.core.errors import FatalError, RetryableError
from webrecall.core.lifecycle import dedup_stage, status, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.warc_task import RETRY_ON, process_warc_task
from webrecall.core.queries import pending_tasks, warc_tasks
from webrecall.core.settings import Settings
from webrecall.core.totals import of as totals_of
from webrecall.workers.celery_app import app, settings_of

GATE_COUNTDOWN = 5.0


def _settings() -> Settings:
    return settings_of(app)


def webrecall_task(name: str) -> Callable[[Callable[..., Any]], Any]:
    """The one task policy: explicit name, late acks, time limits, backoff+jitter retries for `RETRY_ON` only
    (network 5xx, timeouts, throttling, a lost database connection); anything else is not retried. Queues come
    from `task_routes`."""
    s = _settings()
    return app.task(
        name=name, bind=True, acks_late=True, autoretry_for=RETRY_ON, retry_backoff=True,
        retry_backoff_max=600, retry_jitter=True, max_retries=s.task_max_retries, time_limit=s.task_time_limit,
        soft_time_limit=max(s.task_time_limit - 60, 1),
    )  # fmt: skip


def task_id(round_id: int, kind: str, row_id: int | None = None) -> str:
    """Deterministic Celery ids: a cancel computes them from the database."""
    return f"webrecall-{round_id}-{kind}" + (f"-{row_id}" if row_id is not None else "")


@webrecall_task("webrecall.warc")
def warc(self: Task, row_id: int) -> dict[str, Any]:
    """One WARC in one phase. A redelivery of a finished task is a no-op; of an interrupted one, a rerun."""
    settings = _settings()
    with session(settings.db_url) as db:
        row = db.get(WarcTask, row_id)
        if row is None:
            raise FatalError(f"WARC task {row_id} does not exist")
        if row.status == "done":
            return _summary(row)
        round_id = row.round_id
    should_stop = status.cancel_check(settings, round_id, settings.cancel_check_seconds)
    result: dict[str, Any] = {}
    try:
        with status.failing_round(settings, round_id):
            result = process_warc_task(settings, row_id, should_stop=should_stop)
    except RetryableError as exc:
        if self.request.retries < (self.max_retries or 0):
            raise  # autoretry_for: backoff with jitter
        steps.warc_failed(settings, row_id, f"gave up after {self.request.retries} retries: {exc}")
    if result.get("status") == "cancelled":
        revoke_round(app, settings, round_id)
    with session(settings.db_url) as db:
        row = db.get(WarcTask, row_id)
        assert row is not None
        return _summary(row)


@webrecall_task("webrecall.expand")
def expand(self: Task, round_id: int) -> Any:
    """Look the labelled patterns up in the crawl's index, then become the group of range-fetch tasks (one per
    WARC file, `webrecall.warc` over `expand` rows) that train follows. Skipped once the round has a model."""
    settings = _settings()
    ids = steps.expand(RoundContext.load(settings, round_id))
    if ids is None:
        return {"round": round_id, "status": "skipped"}
    if not ids:
        return {"round": round_id, "expand": 0}
    fetches = group(self.app.signature("webrecall.warc", args=(i,), task_id=task_id(round_id, "expand", i),
                                       immutable=True) for i in ids)  # fmt: skip
    raise self.replace(fetches)


@webrecall_task("webrecall.train")
def train(self: Task, round_id: int) -> dict[str, Any]:
    """Train the round's model once its index phase is complete (skipped if the round already has one)."""
    settings = _settings()
    ctx = RoundContext.load(settings, round_id)
    model_id = steps.train(ctx) if _go(self, ctx, "index", "expand") else None
    if model_id is None:
        return {"round": round_id, "status": "cancelled"}
    return {"round": round_id, "model": model_id}


@webrecall_task("webrecall.finalize")
def finalize(self: Task, round_id: int) -> dict[str, Any]:
    """Domain stats and totals from the completed shards, once every recall task row is finished."""
    settings = _settings()
    ctx = RoundContext.load(settings, round_id)
    if not _go(self, ctx, "recall"):
        return {"round": round_id, "status": "cancelled"}
    rnd = steps.finalize_round(ctx)
    return {"round": round_id, "status": rnd.status, "recalled": totals_of(rnd).recalled}


@webrecall_task("webrecall.dedup_partition")
def dedup_partition(self: Task, round_id: int, partition: int) -> dict[str, Any]:
    """One LSH grouping task (buckets of one key-hash partition), once every recall task row is finished."""
    settings = _settings()
    ctx = RoundContext.load(settings, round_id)
    if not _go(self, ctx, "recall"):
        return {"round": round_id, "status": "cancelled"}
    with status.failing_round(settings, round_id):
        buckets = dedup_stage.run_partition(ctx, partition)
    return {"round": round_id, "partition": partition, "buckets": buckets}


def _go(self: Task, ctx: RoundContext, *phases: str) -> bool:
    """The steps' gate, the Celery way: False if the round was cancelled; while a task row of `phases` is
    unfinished, this task is retried later (a countdown, not a worker held waiting)."""
    gate = steps.gate(ctx, *phases)
    if gate == "wait":
        wait_budget = int(ctx.settings.broker_visibility_timeout / GATE_COUNTDOWN) + 10
        raise self.retry(countdown=GATE_COUNTDOWN, max_retries=wait_budget)
    return gate == "go"


def _summary(row: WarcTask) -> dict[str, Any]:
    return {"task": row.id, "phase": row.phase, "status": row.status, "html_pages": row.html_pages,
            "recalled": row.recalled, "attempts": row.attempts}  # fmt: skip


def round_canvas(celery: Celery, settings: Settings, round_id: int) -> Signature:
    """index group -> train -> recall group -> finalize, over the round's unfinished task rows (resumable)."""

    def sig(name: str, arg: int, tid: str) -> Signature:
        return celery.signature(name, args=(arg,), task_id=tid, immutable=True)

    steps: list[Signature] = []
    for phase in ("index", "recall"):
        ids = pending_tasks(settings, round_id, phase)
        if ids:
            steps.append(group(sig("webrecall.warc", i, task_id(round_id, phase, i)) for i in ids))
        if phase == "index":  # expand: the labelled patterns' pages across the crawl (a group), then train
            steps.append(sig("webrecall.expand", round_id, task_id(round_id, "expand")))
            steps.append(sig("webrecall.train", round_id, task_id(round_id, "train")))
    parts = range(RoundContext.load(settings, round_id).params.dedup.partitions)
    steps.append(group(celery.signature("webrecall.dedup_partition", args=(round_id, p), immutable=True,
                                        task_id=task_id(round_id, "dedup", p)) for p in parts))  # fmt: skip
    steps.append(sig("webrecall.finalize", round_id, task_id(round_id, "finalize")))
    return chain(*steps)


def start_round(celery: Celery, settings: Settings, round_id: int) -> str:
    """Enqueue a created round; returns the id of the canvas' last task. The round's status says the rest."""
    steps.start(RoundContext.load(settings, round_id))
    result = round_canvas(celery, settings, round_id).apply_async()
    return str(result.id)


def revoke_round(celery: Celery, settings: Settings, round_id: int) -> int:
    """Revoke the round's unfinished tasks (the database's cancel flag already makes them no-ops)."""
    ids = [task_id(round_id, "expand"), task_id(round_id, "train"), task_id(round_id, "finalize")]
    ids += [task_id(round_id, "dedup", p) for p in range(RoundContext.load(settings, round_id).params.dedup.partitions)]
    for row in warc_tasks(settings, round_id):
        if row.status in ("pending", "running"):
            ids.append(task_id(round_id, row.phase, row.id))
    celery.control.revoke(ids)
    return len(ids)


@webrecall_task("webrecall.run_round")
def run_round(self: Task, round_id: int) -> dict[str, Any]:
    """Entry point for senders that know only task names (the API): enqueue the round's canvas and return."""
    return {"round": round_id, "canvas": start_round(app, _settings(), round_id)}
