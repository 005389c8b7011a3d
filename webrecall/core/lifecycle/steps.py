"""The round's steps in order, each one function that both runners call (the local runner in `local`, the
Celery tasks in `webrecall.workers.tasks`); only how the WARC tasks of a phase are fanned out differs.

    start -> index tasks -> expand (lookup, a WET round's sample share, then expand tasks) -> sample tasks (a WET
    round's training pages) -> train -> recall tasks -> dedup partitions -> cut -> domain partitions -> finalize

The order is declared once, in `plan.PLAN`; the runners walk it.
"""

from __future__ import annotations

from typing import Literal

from webrecall.core.db import Round, utcnow
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle import dedup_stage, domain_partitions
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.status import fail_task, failing_round, is_cancelled, set_status
from webrecall.core.lifecycle.warc_task import TaskResult
from webrecall.core.queries import pending_tasks, round_by_number
from webrecall.core.settings import Settings

Gate = Literal["stop", "wait", "go"]


def start(ctx: RoundContext) -> RoundContext:
    """The round starts (or resumes) indexing; a round cancelled before stays cancelled (the first gate stops)."""
    return ctx.other(set_status(ctx.settings, ctx.id, "indexing", started_at=utcnow()))


def gate(ctx: RoundContext, *phases: str) -> Gate:
    """Before a step that needs `phases` complete: stop (cancelled), wait (a task row is unfinished; a chord's
    counter can run ahead of the rows after a redelivery, the rows cannot), or go."""
    if is_cancelled(ctx.settings, ctx.id):
        return "stop"
    return "wait" if any(pending_tasks(ctx.settings, ctx.id, p) for p in phases) else "go"


def expand(ctx: RoundContext) -> list[int] | None:
    """Look the labelled patterns up across the crawl; returns the expand tasks to run, None when the step is
    skipped (the round is cancelled or already has its model)."""
    from webrecall.core.lifecycle.expansion import lookup_round

    if is_cancelled(ctx.settings, ctx.id) or ctx.round.model_id is not None:
        return None
    set_status(ctx.settings, ctx.id, "expanding")
    with failing_round(ctx.settings, ctx.id):
        lookup_round(ctx)
        if ctx.params.scan == "wet":  # the share of pages its sample tasks fetch (lifecycle.sampling)
            from webrecall.core.lifecycle.sampling import plan_sample

            plan_sample(ctx)
    return pending_tasks(ctx.settings, ctx.id, "expand")


def every_file_failed(ctx: RoundContext, phase: str) -> str | None:
    """The reason to fail a round none of whose WARC files `phase` could use (None: at least one it could)."""
    from webrecall.core.lifecycle.progress import failed_files
    from webrecall.core.queries import warc_tasks

    rows = [t for t in warc_tasks(ctx.settings, ctx.id) if t.phase == phase]
    failed = failed_files(rows)
    if not rows or len(failed) < len(rows):
        return None
    shown = "; ".join(f.error if f.warc in f.error else f"{f.warc}: {f.error}" for f in failed[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (f"every WARC file failed ({len(failed)} of {len(rows)} in the {phase} phase): {shown}{more}. Fix the "
            f"source, then retry the round (`webrecall round run {ctx.number}`, `POST /rounds/{ctx.number}/retry`)")


def train(ctx: RoundContext) -> int | None:
    """Train the round's model unless it has one; the round then recalls. Returns the model id (None if the
    round was cancelled); a failure to train fails the round."""
    from webrecall.core.lifecycle.training import train_round

    if is_cancelled(ctx.settings, ctx.id):
        return None
    model_id = ctx.round.model_id
    if model_id is None:
        with failing_round(ctx.settings, ctx.id):
            if reason := every_file_failed(ctx, "index"):  # not "not enough seed pages": there were no pages
                raise FatalError(reason)
            set_status(ctx.settings, ctx.id, "training")
            model_id = train_round(ctx).id
    set_status(ctx.settings, ctx.id, "recalling")
    return model_id


def warc_failed(settings: Settings, task_id: int, error: str) -> TaskResult:
    """A WARC task whose retries are spent: recorded as failed, the round goes on without it."""
    row = fail_task(settings, task_id, error)
    return TaskResult.of(row) if row is not None else TaskResult(task_id, "", "failed", error)


def cut(ctx: RoundContext) -> float | None:
    """Finalizing starts: the round's partials exist and a top-K round's cut is made and recorded, before the
    domain partitions read them (`finalize.cut_round`). Returns the cut (None for a threshold round)."""
    from webrecall.core.lifecycle.finalize import cut_round

    ctx = ctx.other(set_status(ctx.settings, ctx.id, "finalizing"))  # as training left it (its threshold)
    with failing_round(ctx.settings, ctx.id):
        if reason := every_file_failed(ctx, "recall"):
            raise FatalError(reason)
        return cut_round(ctx)


def finalize_round(ctx: RoundContext) -> Round:
    """Dedup merge, then the reduce of the domain partitions (`reduce_round`)."""
    with failing_round(ctx.settings, ctx.id):
        dedup_stage.dedup_round(ctx)  # the corpus of rounds 1..n, before the round is done
        return reduce_round(ctx)


def reduce_round(ctx: RoundContext) -> Round:
    """The round's totals and domain stats, then discovery (domains vs the previous round, the queue), from its
    domain partitions."""
    from webrecall.core.labelling.discovery import discover
    from webrecall.core.lifecycle.finalize import finalize

    rnd = finalize(ctx)
    if rnd.status != "done":
        return rnd
    discover(ctx.settings, ctx.id, found=domain_partitions.candidates(ctx), seed=rnd.number,
             features_of=lambda domains: domain_partitions.features_of(ctx, domains),
             page_queue=lambda queued: domain_partitions.page_queue(
                 ctx, queued, seed=rnd.number, max_items=ctx.settings.page_items_max))  # fmt: skip
    return round_by_number(ctx.settings, rnd.number)
