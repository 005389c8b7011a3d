"""A round's plan, declared once: its steps in order, and the retry policy of its WARC tasks. Both runners interpret
it, the in-process loop (`lifecycle.local`) and the Celery canvas (`workers.tasks.round_canvas`); neither spells
the order out again.

    index tasks -> expand (lookup, then its tasks) -> sample tasks (a WET round's training pages) -> train
    -> recall tasks -> dedup partitions -> cut -> domain partitions -> finalize

A step is one of three kinds: the WARC tasks of a phase (one per WARC file, fanned out: a local process pool or a
Celery group), a round-level function (one call, or one Celery task), or partitions (a loop in-process, a Celery
group of one task each: dedup's by LSH key hash, finalize's and discovery's by domain hash). Before a step runs, its
gate (`steps.gate`) stops a cancelled round and makes sure every task of the phases it `needs` has finished (a
Celery chord's counter can run ahead of the task rows after a redelivery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from webrecall.core.lifecycle import dedup_stage, domain_partitions, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.warc_task import RETRY_ON
from webrecall.core.settings import Settings

Kind = Literal["warcs", "round", "partitions"]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    kind: Kind
    phase: str = ""
    """`warcs`: the task phase whose rows are run (they exist from creation, or `run` makes them first)."""
    run: Callable[[RoundContext], Any] | None = None
    """`round`: the step; `warcs`: the planning call that makes the rows and returns their ids (None: nothing to
    run); `partitions`: the in-process loop over them all (Celery runs `partition` once per partition)."""
    partition: Callable[[RoundContext, int], Any] | None = None
    count: Callable[[RoundContext], int] | None = None
    """`partitions`: how many the round has (recorded with it)."""
    needs: tuple[str, ...] = ()
    """Task phases every row of which must be finished before the step runs."""
    isolated: bool = False
    """A `round` step whose work never looks at a cancel (fastText's training loop): the local runner runs it in a
    child process it can kill, Celery's cancel terminates its task."""


PLAN: tuple[Step, ...] = (
    Step("index", "warcs", phase="index"),
    Step("expand", "warcs", phase="expand", run=steps.expand),
    Step("sample", "warcs", phase="sample"),
    Step("train", "round", run=steps.train, needs=("index", "expand", "sample"), isolated=True),
    Step("recall", "warcs", phase="recall"),
    Step("dedup", "partitions", run=dedup_stage.run_partitions, partition=dedup_stage.run_partition,
         count=lambda ctx: ctx.params.dedup.partitions, needs=("recall",)),
    Step("cut", "round", run=steps.cut, needs=("recall",)),
    Step("domains", "partitions", run=domain_partitions.run_partitions, partition=domain_partitions.run_partition,
         count=lambda ctx: ctx.params.finalize_partitions, needs=("recall",)),
    Step("finalize", "round", run=steps.finalize_round, needs=("recall",)),
)


def step(name: str) -> Step:
    return next(s for s in PLAN if s.name == name)


def task_id(round_id: int, kind: str, row_id: int | None = None) -> str:
    """The id a Celery canvas gives a task of the round (deterministic: a cancel computes them from the database)."""
    return f"webrecall-{round_id}-{kind}" + (f"-{row_id}" if row_id is not None else "")


def revoke(ctx: RoundContext, revoke_ids: Callable[..., Any]) -> int:
    """Revoke the round's unfinished tasks with `revoke_ids` (Celery's `control.revoke`, from whichever adapter
    cancels): a queued one never starts, a running WARC task stops at its next batch, and a running isolated step is
    killed (SIGKILL: its C++ loop would not even run a signal handler). Returns how many ids were revoked."""
    from webrecall.core.queries import warc_tasks

    ids = []
    for step in PLAN:
        if step.kind == "partitions":
            ids += [task_id(ctx.id, step.name, p) for p in partitions(ctx, step)]
        elif step.kind == "round" or step.run is not None:
            ids.append(task_id(ctx.id, step.name))
    for row in warc_tasks(ctx.settings, ctx.id):
        if row.status in ("pending", "running"):
            ids.append(task_id(ctx.id, row.phase, row.id))
    revoke_ids(ids)
    revoke_ids([task_id(ctx.id, s.name) for s in PLAN if s.isolated], terminate=True, signal="SIGKILL")
    return len(ids)


def partitions(ctx: RoundContext, step: Step) -> range:
    """The partitions of a `partitions` step of the round (their count is recorded with it)."""
    assert step.count is not None
    return range(step.count(ctx))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How either runner retries a WARC task that failed with a retryable error (a source's 5xx, a timeout,
    throttling, the database going away): up to `max_retries` times, after an exponential backoff with full jitter
    (a random wait up to 1, 2, 4, ... seconds, capped at `backoff_max`); then the task is recorded as failed and the
    round goes on without it. Celery's task decorator and the local runner's tenacity loop read these values."""

    retry_on: tuple[type[BaseException], ...] = RETRY_ON
    max_retries: int = 5
    backoff_max: float = 600.0

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(max_retries=settings.task_max_retries)
