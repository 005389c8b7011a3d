"""The dedup stage of a round, over the database: which signature files make the corpus, the partition tasks and
the merge. `core.lifecycle.local` calls these in-process; `workers.tasks` runs `run_partition` as Celery tasks.

The corpus deduplicated at round n is the union of the recalled pages of every finished round up to n (and so of
every crawl they read): a page recalled in rounds 1-3, or captured in two crawls, is one page of it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from webrecall.core import totals
from webrecall.core.db import Round, WarcTask, session
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.threshold import kept_threshold
from webrecall.core.page import Stats
from webrecall.core.pipeline import decontam
from webrecall.core.pipeline.dedup import group_partition, merge, write_signatures
from webrecall.core.pipeline.expand import write_signatures as write_index_signatures
from webrecall.core.storage.layout import bucket_path, expand_sigs_path, sigs_path


def benchmarks(ctx: RoundContext) -> decontam.Benchmarks | None:
    cfg = ctx.params.decontam
    return decontam.load(tuple(cfg.benchmarks), cfg.ngram) if cfg.benchmarks else None


def signatures(ctx: RoundContext, location: str, stats: Stats) -> str:
    """The recall task's hook over its kept pages, with the dedup config recorded with the round (`RoundParams`), so
    every worker shingles and bands alike."""
    return write_signatures(ctx.store, ctx.number, location, cfg=ctx.params.dedup, crawl=ctx.round.crawl_id,
                            benchmarks=benchmarks(ctx), stats=stats)  # fmt: skip


def index_signatures(ctx: RoundContext, location: str, stats: Stats) -> str:
    """The expansion fetch task's hook over its positives (pipeline.expand: pages under a code label, fetched through
    the crawl's index), so the corpus's dedup covers them too."""
    return write_index_signatures(ctx.store, ctx.number, location, cfg=ctx.params.dedup, crawl=ctx.round.crawl_id,
                                  benchmarks=benchmarks(ctx), stats=stats)  # fmt: skip


Shards = list[tuple[RoundContext, str]]
"""(round, WARC location) pairs of a corpus, in round then location order."""


def _corpus(ctx: RoundContext) -> tuple[list[RoundContext], Shards, Shards]:
    """The rounds of the round's corpus (finished ones before it, and itself, as they are now), their recalled WARC
    files and the WARC files their expansion fetched from (whose positives join the corpus)."""
    with session(ctx.settings.db_url) as db:
        rounds = db.exec(select(Round).where(Round.number <= ctx.number).order_by(col(Round.number))).all()
        members = {r.id: ctx.other(r) for r in rounds if r.id == ctx.id or r.status == "done"}
        tasks = db.exec(select(WarcTask).where(
            col(WarcTask.round_id).in_(list(members)), col(WarcTask.phase).in_(["recall", "expand"]),
            WarcTask.status == "done")).all()  # fmt: skip
    shards = {phase: sorted(((members[t.round_id], t.warc_url) for t in tasks if t.phase == phase),
                            key=lambda x: (x[0].number, x[1])) for phase in ("recall", "expand")}  # fmt: skip
    return list(members.values()), shards["recall"], shards["expand"]


def sig_files(ctx: RoundContext) -> list[str]:
    """The signature files of the round's corpus (recalled pages, then expanded positives); an earlier round's
    missing ones (a round recalled, or expanded, before this stage covered it) are computed from its shard first."""
    _, recalled, expanded = _corpus(ctx)
    out = []
    for kind, shards, path in (("recall", recalled, sigs_path), ("expand", expanded, expand_sigs_path)):
        for member, location in shards:
            rel = path(member.number, location)
            if not ctx.store.exists(rel):
                (signatures if kind == "recall" else index_signatures)(member, location, Stats())
            out.append(rel)
    return out


def run_partition(ctx: RoundContext, partition: int, files: list[str] | None = None) -> str:
    """One LSH grouping task: the buckets of one key-hash partition (`files`: the corpus's signature files, when the
    caller has them)."""
    files = sig_files(ctx) if files is None else files
    return group_partition(ctx.store, files, partition=partition, cfg=ctx.params.dedup, out_round=ctx.number)


def run_partitions(ctx: RoundContext) -> list[str]:
    """The embedded default's loop over the partitions (Celery runs them as a group of tasks instead)."""
    files = sig_files(ctx)
    return [run_partition(ctx, p, files) for p in range(ctx.params.dedup.partitions)]


def dedup_round(ctx: RoundContext) -> dict[str, Any]:
    """The merge: union-find over the partitions' buckets, the keep rule, counts per reason into the round's
    totals. Partitions not computed yet (a resumed round) are computed here first."""
    members = _corpus(ctx)[0]
    cfg, files = ctx.params.dedup, sig_files(ctx)
    for p in range(cfg.partitions):
        if not ctx.store.exists(bucket_path(ctx.number, p)):
            run_partition(ctx, p, files)
    floors = {m.number: kept_threshold(m) for m in members}  # a top-K round not finalized yet: its cut now
    result = merge(ctx.store, files, [bucket_path(ctx.number, p) for p in range(cfg.partitions)], cfg=cfg,
                   out_round=ctx.number, floors=floors)  # fmt: skip
    result["round"] = result["rounds"].get(str(ctx.number), {})
    with session(ctx.settings.db_url) as db:
        row = db.get(Round, ctx.id)
        assert row is not None
        row.totals = totals.merge(row, dedup=result)  # validated against `RoundTotals.dedup`
        db.add(row)
        db.commit()
    return result
