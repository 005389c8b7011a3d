"""The one rule for the score a page of a round needs, written once for the recall tasks, finalize, growth, the
dedup stage, read-back and export.

A round keeps the pages scoring at or above its threshold; with a top-K budget instead, its recall tasks keep every
candidate at or above the recorded floor (`RoundParams.top_k_floor`), and the cut (the K-th best score over all of
its WARC files) is made from their kept partials once they are all done (`top_k_cut`, at finalize, which records it
as `effective_threshold`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from webrecall.core.db import session
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.model.thresholds import for_precision
from webrecall.core.pipeline import partials
from webrecall.core.pipeline.passes import Decision
from webrecall.core.queries import done_warcs


def operating_point(ctx: RoundContext, scores: np.ndarray, labels: list[bool]) -> dict[str, Any]:
    """The threshold a round is trained for, from the held-out seeds' scores (`scores`, `labels`: pages its model never
    trained on): with a recorded target precision, the lowest threshold whose precision there has a Wilson lower
    bound of at least the target (`model.thresholds.for_precision`); the threshold asked for where none has, or
    where the round has no target (an explicit threshold, a top-K budget). Never fitted to evaluation labels."""
    requested = ctx.params.threshold_requested
    requested = float(ctx.round.threshold) if requested is None else requested
    target = ctx.params.threshold_target
    out: dict[str, Any] = {"requested": requested, "target": target, "threshold": requested, "rule": "requested"}
    if target > 0 and 0 < sum(labels) < len(labels):
        got = for_precision(scores, labels, target=target, bound=True)
        out["met"] = got.met
        if got.met:
            out.update(threshold=got.threshold, rule="target_precision")
    return out


def task_threshold(ctx: RoundContext) -> float:
    """The score the round's recall tasks keep pages at (and their partials count as recalled)."""
    return ctx.params.top_k_floor if ctx.round.top_k is not None else float(ctx.round.threshold)


def decision(ctx: RoundContext) -> Decision:
    """How the round's recall tasks decide, from what was recorded with it (so every worker agrees whatever its own
    settings): the threshold and the cascade margin; a top-K round's floor only pre-filters candidates, so it has
    no band to re-score."""
    margin = 0.0 if ctx.round.top_k is not None else ctx.params.cascade_margin
    return Decision(task_threshold(ctx), margin)


def top_k_cut(ctx: RoundContext, locations: list[str], *, pages: int | None = None) -> float:
    """The cut of a top-K round over the kept partials of `locations` (exact: `pipeline.partials.topk_cut`); `pages`:
    the pages of their index, when the caller has them. The caller has made sure the partials exist (`ensure`, once:
    on a remote store each check is a request per WARC)."""
    if ctx.round.top_k is None:
        raise ValueError(f"round {ctx.number} has a threshold, not a top-K budget")
    pages = partials.page_count(ctx.store, ctx.number, locations) if pages is None else pages
    kept = partials.kept_tables(ctx.store, ctx.number, locations)
    return partials.topk_cut(kept, ctx.round.top_k, ctx.params.top_k_floor, pages=pages)


def kept_threshold(ctx: RoundContext) -> float:
    """The score a page of the round needs to be kept: its threshold, or its top-K cut (recorded at finalize; a round
    not finalized yet gets it from its finished recall tasks, as finalize will)."""
    if ctx.round.top_k is None:
        return float(ctx.round.threshold)
    if ctx.round.effective_threshold is not None:
        return float(ctx.round.effective_threshold)
    with session(ctx.settings.db_url) as db:
        done = done_warcs(db, ctx.id)
    partials.ensure(ctx.store, ctx.number, done, task_threshold(ctx))
    return top_k_cut(ctx, done)
