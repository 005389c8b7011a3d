"""The in-process runner (the embedded default): a round's steps in this process, each phase's WARC tasks on a
local process pool. Resumable: finished tasks are skipped. Celery runs the same steps as tasks.

A cancel reaches every process of the round within `cancel_check_seconds`: a WARC task looks at the round's status
between batches, this runner between results; training, whose fastText loop no flag reaches, runs in a child process
of its own. Once the round is cancelled the runner kills its pool processes and returns; a child dies with its runner
(Linux's parent-death signal), so killing the runner leaves no orphan either."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import Any

from webrecall.core.db import Round
from webrecall.core.errors import Cancelled, FatalError
from webrecall.core.lifecycle import steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.plan import PLAN, RetryPolicy, Step
from webrecall.core.lifecycle.status import cancel_check, failing_round, is_cancelled, set_status
from webrecall.core.lifecycle.warc_task import TaskResult, process_warc_task
from webrecall.core.queries import pending_tasks
from webrecall.core.settings import Settings

OnTask = Callable[[TaskResult, int, int], None]
"""Called after each WARC task of a phase with its result, how many of the phase's tasks are done, and of how many
(a progress bar)."""


def _die_with_parent() -> None:
    """A pool process's initializer: it gets SIGKILL when its runner dies (Linux's PR_SET_PDEATHSIG), however the
    runner ends, so a killed runner leaves no orphan working on."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=processes, initializer=_die_with_parent)


def _kill(pool: Executor | None) -> None:
    """Kill a pool's processes and whatever they started, then let it go (Python 3.14 has `kill_workers`)."""
    import psutil

    if not isinstance(pool, ProcessPoolExecutor):
        return
    procs = []
    for pid in list(pool._processes or {}):
        try:
            proc = psutil.Process(pid)
            procs += [*proc.children(recursive=True), proc]
        except psutil.NoSuchProcess:
            pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)


def _settle(settings: Settings, round_id: int, futures: set[Future[Any]]) -> Any:
    """Results as they come, with the round's status looked at in between: Cancelled once it is cancelled."""
    every = settings.cancel_check_seconds if settings.cancel_check_seconds > 0 else 2.0
    while futures:
        done, futures = wait(futures, timeout=every, return_when=FIRST_COMPLETED)
        yield from (fut.result() for fut in done)
        if futures and is_cancelled(settings, round_id):
            raise Cancelled(f"round {round_id} was cancelled")


def _with_retries(settings: Settings, task_id: int, round_id: int) -> TaskResult:
    """A WARC task under the round's retry policy (`plan.RetryPolicy`, the values Celery's decorator uses); it stops
    at its next batch once the round is cancelled."""
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    policy = RetryPolicy.of(settings)
    run = retry(
        retry=retry_if_exception_type(policy.retry_on), stop=stop_after_attempt(policy.max_retries + 1),
        wait=wait_random_exponential(multiplier=1, max=policy.backoff_max), reraise=True,
    )(process_warc_task)  # fmt: skip
    try:
        return run(settings, task_id, should_stop=cancel_check(settings, round_id, settings.cancel_check_seconds))
    except policy.retry_on as exc:
        return steps.warc_failed(settings, task_id, f"gave up after {policy.max_retries} retries: {exc}")


def _isolated(settings: Settings, round_id: int, name: str) -> Any:
    """A round-level step in a child process (`Step.isolated`)."""
    step = next(s for s in PLAN if s.name == name)
    assert step.run is not None
    return step.run(RoundContext.load(settings, round_id))


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
            if is_cancelled(settings, round_id):
                raise Cancelled(f"round {round_id} was cancelled")
            report(_with_retries(settings, task_id, round_id))
        return
    for result in _settle(settings, round_id, {executor.submit(_with_retries, settings, t, round_id) for t in ids}):
        report(result)


def _run_step(ctx: RoundContext, step: Step, executor: Executor | None, progress: OnTask | None) -> None:
    """One step of the plan, here: a phase's WARC tasks on the process pool, a round-level call, the partitions."""
    if step.isolated:
        child = _pool(1)
        try:
            next(_settle(ctx.settings, ctx.id, {child.submit(_isolated, ctx.settings, ctx.id, step.name)}))
        except Cancelled:
            _kill(child)
            raise
        finally:
            child.shutdown(wait=False, cancel_futures=True)
        return
    planned = step.run(ctx) if step.run is not None else None
    if step.kind == "warcs" and (step.run is None or planned is not None):
        _run_phase(ctx.settings, ctx.id, step.phase, executor, progress, planned)


def run_round(settings: Settings, round_id: int, *, processes: int | None = None,
              progress: OnTask | None = None) -> Round:  # fmt: skip
    """Run a round to the end in this process, step by step as `plan.PLAN` lists them. FatalError/ValueError fail the
    round and are raised on."""
    n = processes if processes is not None else (settings.processes or os.cpu_count() or 1)
    executor: Executor | None = _pool(n) if n > 1 else None
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
                try:
                    _run_step(ctx, step, executor, progress)
                except Cancelled:
                    executor, killed = None, executor
                    _kill(killed)
                    return set_status(settings, round_id, "cancelled")
                if step.kind == "round":
                    ctx = ctx.refresh()  # what the step changed (its model, a threshold chosen at training)
        return ctx.round
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
