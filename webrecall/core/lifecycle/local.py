"""The in-process runner (the embedded default): a round's steps in this process, each phase's WARC tasks on a
local process pool. Resumable: finished tasks are skipped. Celery runs the same steps as tasks."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed

from webrecall.core.db import Round
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle import dedup_stage, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.plan import PLAN, RetryPolicy, Step
from webrecall.core.lifecycle.status import failing_round, is_cancelled, set_status
from webrecall.core.lifecycle.warc_task import TaskResult, process_warc_task
from webrecall.core.queries import pending_tasks
from webrecall.core.settings import Settings

OnTask = Callable[[TaskResult, int, int], None]
"""Called after each WARC task of a phase with its result, how many of the phase's tasks are done, and of how many
(a progress bar)."""


def _with_retries(settings: Settings, task_id: int) -> TaskResult:
    """A WARC task under the round's retry policy (`plan.RetryPolicy`, the values Celery's decorator uses)."""
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    policy = RetryPolicy.of(settings)
    run = retry(
        retry=retry_if_exception_type(policy.retry_on), stop=stop_after_attempt(policy.max_retries + 1),
        wait=wait_random_exponential(multiplier=1, max=policy.backoff_max), reraise=True,
    )(process_warc_task)  # fmt: skip
    try:
        return run(settings, task_id)
    except policy.retry_on as exc:
        return steps.warc_failed(settings, task_id, f"gave up after {policy.max_retries} retries: {exc}")


def _run_phase(settings: Settings, round_id: int, phase: str, executor: Executor | None,
               progress: OnTask | None, ids: list[int] | None = None) -> None:  # fmt: skip
    ids = pending_tasks(settings, round_id, phase) if ids is None else ids
    total, done = len(ids), 0

    def report(result: TaskResult) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(result, done, total)

    if executor is None:
        for task_id in ids:
            if is_cancelled(settings, round_id):  # between tasks: a running local task runs to its end
                return
            report(_with_retries(settings, task_id))
        return
    futures = [executor.submit(_with_retries, settings, task_id) for task_id in ids]
    for fut in as_completed(futures):
        report(fut.result())


def _run_step(ctx: RoundContext, step: Step, executor: Executor | None, progress: OnTask | None) -> None:
    """One step of the plan, here: a phase's WARC tasks on the process pool, a round-level call, the partitions."""
    if step.kind == "partitions":
        dedup_stage.run_partitions(ctx)  # the corpus's signature files listed once for every partition
        return
    planned = step.run(ctx) if step.run is not None else None
    if step.kind == "warcs" and (step.run is None or planned is not None):
        _run_phase(ctx.settings, ctx.id, step.phase, executor, progress, planned)


def run_round(settings: Settings, round_id: int, *, processes: int | None = None,
              progress: OnTask | None = None) -> Round:  # fmt: skip
    """Run a round to the end in this process, step by step as `plan.PLAN` lists them. FatalError/ValueError fail the
    round and are raised on."""
    n = processes if processes is not None else (settings.processes or os.cpu_count() or 1)
    executor: Executor | None = ProcessPoolExecutor(max_workers=n) if n > 1 else None
    try:
        with failing_round(settings, round_id):
            ctx = steps.start(RoundContext.load(settings, round_id))
            for step in PLAN:
                gate = steps.gate(ctx, *step.needs)
                if gate == "stop":
                    return set_status(settings, round_id, "cancelled")
                if gate == "wait":  # this runner ran them all: a row left unfinished is a fault, not a wait
                    raise FatalError(f"round {ctx.number}: {step.name} needs every {'/'.join(step.needs)} task "
                                     "finished, and one is still pending")  # fmt: skip
                _run_step(ctx, step, executor, progress)
                if step.kind == "round":
                    ctx = ctx.refresh()  # what the step changed (its model, a threshold chosen at training)
        return ctx.round
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
