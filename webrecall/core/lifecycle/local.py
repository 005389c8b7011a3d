"""The in-process runner (the embedded default): a round's steps in this process, each phase's WARC tasks on a
local process pool. Resumable: finished tasks are skipped. Celery runs the same steps as tasks."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any

from webrecall.core.db import Round, utcnow
from webrecall.core.lifecycle import dedup_stage, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.status import failing_round, is_cancelled, set_status
from webrecall.core.lifecycle.warc_task import RETRY_ON, process_warc_task
from webrecall.core.queries import pending_tasks
from webrecall.core.settings import Settings

OnTask = Callable[[dict[str, Any]], None]
"""Called after each WARC task with {round, phase, done, total, task, status, stats...} (a progress bar)."""


def _with_retries(settings: Settings, task_id: int) -> dict[str, Any]:
    """The local retry policy for retryable errors (Celery's is its task decorator's)."""
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    run = retry(
        retry=retry_if_exception_type(RETRY_ON), stop=stop_after_attempt(3),
        wait=wait_random_exponential(multiplier=1, max=30), reraise=True,
    )(process_warc_task)  # fmt: skip
    try:
        return run(settings, task_id)
    except RETRY_ON as exc:
        return steps.warc_failed(settings, task_id, f"gave up after retries: {exc}")


def _run_phase(settings: Settings, round_id: int, phase: str, executor: Executor | None,
               progress: OnTask | None, ids: list[int] | None = None) -> None:  # fmt: skip
    ids = pending_tasks(settings, round_id, phase) if ids is None else ids
    total, done = len(ids), 0

    def report(result: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        if progress:
            progress({"round": round_id, "phase": phase, "done": done, "total": total, **result})

    if executor is None:
        for task_id in ids:
            if is_cancelled(settings, round_id):  # between tasks: a running local task runs to its end
                return
            report(_with_retries(settings, task_id))
        return
    futures = [executor.submit(_with_retries, settings, task_id) for task_id in ids]
    for fut in as_completed(futures):
        report(fut.result())


def run_round(settings: Settings, round_id: int, *, processes: int | None = None,
              progress: OnTask | None = None) -> Round:  # fmt: skip
    """Run a round to the end in this process. FatalError/ValueError fail the round and are raised on."""
    n = processes if processes is not None else (settings.processes or os.cpu_count() or 1)
    executor: Executor | None = ProcessPoolExecutor(max_workers=n) if n > 1 else None

    def cancelled() -> bool:
        return is_cancelled(settings, round_id)

    try:
        with failing_round(settings, round_id):
            ctx = RoundContext.load(settings, round_id)
            ctx = ctx.other(set_status(settings, round_id, "indexing", started_at=utcnow()))
            _run_phase(settings, round_id, "index", executor, progress)
            if cancelled():
                return set_status(settings, round_id, "cancelled")
            expand_ids = steps.expand(ctx)
            if expand_ids is not None:
                _run_phase(settings, round_id, "expand", executor, progress, expand_ids)
            if cancelled() or steps.train(ctx) is None:
                return set_status(settings, round_id, "cancelled")
            _run_phase(settings, round_id, "recall", executor, progress)
            if cancelled():
                return set_status(settings, round_id, "cancelled")
            dedup_stage.run_partitions(ctx)
        return steps.finalize_round(ctx)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
