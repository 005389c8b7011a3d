"""Thin Celery tasks over the round's plan (`webrecall.core.lifecycle.plan`, which the local runner walks too): ids
in, a small summary out, the plan's retry policy.

A round is one canvas, built from the plan when it starts: index group -> expand -> (a WET round's sample group) ->
train -> recall group -> dedup group -> cut -> domain group -> finalize (the groups followed by a task become
chords; no task ever waits on another with `.get()`). Task ids are derived from the row ids, so a cancel can revoke
them without storing anything, and the database stays the source of truth: a step passes its gate (`steps.gate`: the
task rows of the phases it needs) before it runs, not only the chord's counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task, chain, group
from celery.canvas import Signature

from webrecall.core.db import WarcTask, session
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle import plan, status, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.plan import PLAN, RetryPolicy, task_id
from webrecall.core.lifecycle.warc_task import TaskResult, process_warc_task
from webrecall.core.queries import pending_tasks
from webrecall.core.settings import Settings
from webrecall.core.totals import of as totals_of
from webrecall.workers.celery_app import app, settings_of

GATE_COUNTDOWN = 5.0
TASKS = {"expand": "webrecall.expand", "train": "webrecall.train", "dedup": "webrecall.dedup_partition",
         "cut": "webrecall.cut", "domains": "webrecall.domain_partition", "finalize": "webrecall.finalize"}  # fmt: skip
"""The Celery task of each step of the plan that is not a phase's WARC tasks (those are `webrecall.warc`)."""


def _settings() -> Settings:
    return settings_of(app)


def webrecall_task(name: str) -> Callable[[Callable[..., Any]], Any]:
    """The one task policy: explicit name, late acks, time limits, and the plan's retry policy (backoff with
    jitter, for its retryable errors only: network 5xx, timeouts, throttling, a lost database connection); anything
    else is not retried. Queues come from `task_routes`."""
    s, policy = _settings(), RetryPolicy.of(_settings())
    return app.task(
        name=name, bind=True, acks_late=True, autoretry_for=policy.retry_on, retry_backoff=True,
        retry_backoff_max=int(policy.backoff_max), retry_jitter=True, max_retries=policy.max_retries,
        time_limit=s.task_time_limit, soft_time_limit=max(s.task_time_limit - 60, 1),
    )  # fmt: skip


@webrecall_task("webrecall.warc")
def warc(self: Task, row_id: int) -> dict[str, Any]:
    """One WARC in one phase. A redelivery of a finished task is a no-op; of an interrupted one, a rerun."""
    settings = _settings()
    with session(settings.db_url) as db:
        row = db.get(WarcTask, row_id)
        if row is None:
            raise FatalError(f"WARC task {row_id} does not exist")
        if row.status == "done":
            return TaskResult.of(row).as_dict()
        round_id = row.round_id
    should_stop = status.cancel_check(settings, round_id, settings.cancel_check_seconds)
    result: TaskResult | None = None
    try:
        with status.failing_round(settings, round_id):
            result = process_warc_task(settings, row_id, should_stop=should_stop)
    except RetryPolicy.of(settings).retry_on as exc:
        if self.request.retries < (self.max_retries or 0):
            raise  # autoretry_for: backoff with jitter
        steps.warc_failed(settings, row_id, f"gave up after {self.request.retries} retries: {exc}")
    if result is not None and result.status == "cancelled":
        revoke_round(app, settings, round_id)
    with session(settings.db_url) as db:
        row = db.get(WarcTask, row_id)
        assert row is not None
        return TaskResult.of(row).as_dict()


def _step(self: Task, name: str, round_id: int) -> tuple[RoundContext, plan.Step] | None:
    """The step's gate, the Celery way: None if the round was cancelled; while a task row of the phases it needs is
    unfinished, this task is retried later (a countdown, not a worker held waiting)."""
    ctx, step = RoundContext.load(_settings(), round_id), plan.step(name)
    gate = steps.gate(ctx, *step.needs)
    if gate == "wait":
        wait_budget = int(ctx.settings.broker_visibility_timeout / GATE_COUNTDOWN) + 10
        raise self.retry(countdown=GATE_COUNTDOWN, max_retries=wait_budget)
    return (ctx, step) if gate == "go" else None


def _run(self: Task, name: str, round_id: int) -> Any:
    """A round-level step of the plan, past its gate; None if the round was cancelled."""
    found = _step(self, name, round_id)
    if found is None:
        return None
    ctx, step = found
    assert step.run is not None
    return step.run(ctx)


@webrecall_task(TASKS["expand"])
def expand(self: Task, round_id: int) -> Any:
    """Look the labelled patterns up in the crawl's index, then become the group of range-fetch tasks (one per
    WARC file, `webrecall.warc` over `expand` rows) that train follows. Skipped once the round has a model."""
    ids = _run(self, "expand", round_id)
    if ids is None:
        return {"round": round_id, "status": "skipped"}
    if not ids:
        return {"round": round_id, "expand": 0}
    raise self.replace(group([_warc(self.app, round_id, "expand", i) for i in ids]))


@webrecall_task(TASKS["train"])
def train(self: Task, round_id: int) -> dict[str, Any]:
    """Train the round's model once its index phase is complete (skipped if the round already has one)."""
    model_id = _run(self, "train", round_id)
    if model_id is None:
        return {"round": round_id, "status": "cancelled"}
    return {"round": round_id, "model": model_id}


@webrecall_task(TASKS["finalize"])
def finalize(self: Task, round_id: int) -> dict[str, Any]:
    """Domain stats and totals from the completed shards, once every recall task row is finished."""
    rnd = _run(self, "finalize", round_id)
    if rnd is None:
        return {"round": round_id, "status": "cancelled"}
    return {"round": round_id, "status": rnd.status, "recalled": totals_of(rnd).recalled}


@webrecall_task(TASKS["cut"])
def cut(self: Task, round_id: int) -> dict[str, Any]:
    """Finalizing starts (a top-K round's cut), once every recall task row is finished."""
    found = _step(self, "cut", round_id)
    if found is None:
        return {"round": round_id, "status": "cancelled"}
    ctx, step = found
    assert step.run is not None
    return {"round": round_id, "cut": step.run(ctx)}


def _partition(self: Task, name: str, round_id: int, partition: int) -> dict[str, Any]:
    """One task of a `partitions` step of the plan, past its gate."""
    found = _step(self, name, round_id)
    if found is None:
        return {"round": round_id, "status": "cancelled"}
    ctx, step = found
    assert step.partition is not None
    with status.failing_round(ctx.settings, round_id):
        out = step.partition(ctx, partition)
    return {"round": round_id, "partition": partition, "output": out}


@webrecall_task(TASKS["dedup"])
def dedup_partition(self: Task, round_id: int, partition: int) -> dict[str, Any]:
    """One LSH grouping task (buckets of one key-hash partition), once every recall task row is finished."""
    return _partition(self, "dedup", round_id, partition)


@webrecall_task(TASKS["domains"])
def domain_partition(self: Task, round_id: int, partition: int) -> dict[str, Any]:
    """One domain-hash partition of finalize and discovery (its domains' stats, queue candidates), once the round's
    cut is made."""
    return _partition(self, "domains", round_id, partition)


def _warc(celery: Celery, round_id: int, phase: str, row_id: int) -> Signature:
    return celery.signature("webrecall.warc", args=(row_id,), task_id=task_id(round_id, phase, row_id), immutable=True)


def round_canvas(celery: Celery, settings: Settings, round_id: int) -> Signature:
    """The plan as a chain, over the round's unfinished task rows (resumable): a phase's WARC tasks as a group, the
    dedup partitions as a group, a round-level step as one task (expand plans its rows, then becomes their group)."""
    ctx = RoundContext.load(settings, round_id)
    parts: list[Signature] = []
    for step in PLAN:  # groups get lists: celery reads a generator lazily, after `step` has moved on
        if step.kind == "warcs" and step.run is None:
            if ids := pending_tasks(settings, round_id, step.phase):
                parts.append(group([_warc(celery, round_id, step.phase, i) for i in ids]))
        elif step.kind == "partitions":
            parts.append(group([celery.signature(TASKS[step.name], args=(round_id, p), immutable=True,
                                                 task_id=task_id(round_id, step.name, p))
                                for p in plan.partitions(ctx, step)]))  # fmt: skip
        else:
            parts.append(celery.signature(TASKS[step.name], args=(round_id,), task_id=task_id(round_id, step.name),
                                          immutable=True))  # fmt: skip
    return chain(*parts)


def enqueue(celery: Celery, settings: Settings, round_id: int) -> str:
    """Start a created round on the workers; returns the id of the canvas' last task. The round's status says the
    rest. FatalError for a round that was cancelled."""
    ctx = steps.start(RoundContext.load(settings, round_id))
    if ctx.round.status == "cancelled":
        raise FatalError(f"round {ctx.number} is cancelled")
    result = round_canvas(celery, settings, round_id).apply_async()
    return str(result.id)


def revoke_round(celery: Celery, settings: Settings, round_id: int) -> int:
    """Revoke the round's unfinished tasks and kill its training (`plan.revoke`); the database's cancel flag already
    makes the others no-ops."""
    return plan.revoke(RoundContext.load(settings, round_id), celery.control.revoke)


@webrecall_task("webrecall.run_round")
def run_round(self: Task, round_id: int) -> dict[str, Any]:
    """Entry point for senders that know only task names (the API): enqueue the round's canvas and return."""
    return {"round": round_id, "canvas": enqueue(app, _settings(), round_id)}
