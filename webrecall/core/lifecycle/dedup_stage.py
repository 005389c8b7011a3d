"""The dedup stage of a round, over the database: which signature files make the corpus, the partition tasks and
the merge. `core.lifecycle.local` calls these in-process; `workers.tasks` runs `run_partition` as Celery tasks.

The corpus deduplicated at round n is the union of the recalled pages of every finished round up to n (and so of
every crawl they read): a page recalled in rounds 1-3, or captured in two crawls, is one page of it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from webrecall.core import params, totals
from webrecall.core.db import Round, WarcTask, session
from webrecall.core.page import Stats
from webrecall.core.pipeline import decontam
from webrecall.core.pipeline.dedup import group_partition, merge, write_signatures
from webrecall.core.queries import done_warcs
from webrecall.core.settings import DedupConfig, Settings
from webrecall.core.storage.layout import bucket_path, sigs_path
from webrecall.core.storage.store import Store


def config(rnd: Round) -> DedupConfig:
    """The dedup config recorded with the round (`RoundParams.dedup`), so every worker shingles and bands alike."""
    return params.of(rnd).dedup


def benchmarks(rnd: Round) -> decontam.Benchmarks | None:
    cfg = params.of(rnd).decontam
    return decontam.load(tuple(cfg.benchmarks), cfg.ngram) if cfg.benchmarks else None


def signatures(settings: Settings, store: Store, rnd: Round, location: str, stats: Stats) -> str:
    """The recall task's hook over its kept pages."""
    return write_signatures(store, rnd.number, location, cfg=config(rnd), crawl=rnd.crawl_id,
                            benchmarks=benchmarks(rnd), stats=stats)  # fmt: skip


def index_signatures(settings: Settings, store: Store, rnd: Round, location: str, stats: Stats) -> str:
    """The expansion fetch task's hook over its positives (pipeline.expand: pages under a code label, fetched through
    the crawl's index), so the corpus's dedup covers them too."""
    from webrecall.core.pipeline.expand import write_signatures as write_index_signatures

    return write_index_signatures(store, rnd.number, location, cfg=config(rnd), crawl=rnd.crawl_id,
                                  benchmarks=benchmarks(rnd), stats=stats)  # fmt: skip


def _expanded(settings: Settings, members: dict[int, Round]) -> list[tuple[Round, str]]:
    """The corpus rounds' finished expansion fetches (WARC files whose expanded positives join the corpus)."""
    with session(settings.db_url) as db:
        tasks = db.exec(select(WarcTask).where(
            col(WarcTask.round_id).in_([r.id for r in members.values()]), WarcTask.phase == "expand",
            WarcTask.status == "done")).all()  # fmt: skip
    by_id = {r.id: r for r in members.values()}
    return sorted(((by_id[t.round_id], t.warc_url) for t in tasks), key=lambda x: (x[0].number, x[1]))


def _corpus(settings: Settings, round_id: int) -> tuple[Round, dict[int, Round], list[tuple[Round, str]]]:
    """This round, the rounds of its corpus (finished ones before it, and itself) and their recalled WARC files."""
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        if rnd is None:
            raise ValueError(f"round {round_id} does not exist")
        rounds = db.exec(select(Round).where(Round.number <= rnd.number).order_by(col(Round.number))).all()
        members = {r.number: r for r in rounds if r.id == rnd.id or r.status == "done"}
        tasks = db.exec(
            select(WarcTask).where(col(WarcTask.round_id).in_([r.id for r in members.values()]),
                                   WarcTask.phase == "recall", WarcTask.status == "done")
        ).all()  # fmt: skip
    by_id = {r.id: r for r in members.values()}
    done = sorted(((by_id[t.round_id], t.warc_url) for t in tasks), key=lambda x: (x[0].number, x[1]))
    return rnd, members, done


def sig_files(settings: Settings, round_id: int) -> list[str]:
    """The signature files of the round's corpus (recalled pages, then expanded positives); an earlier round's
    missing ones (a round recalled, or expanded, before this stage covered it) are computed from its shard first."""
    rnd, members, done = _corpus(settings, round_id)
    store = Store(settings.data_dir)
    out = []
    for member, location in done:
        rel = sigs_path(member.number, location)
        if not store.exists(rel):
            signatures(settings, store, member, location, Stats())
        out.append(rel)
    from webrecall.core.storage.layout import expand_sigs_path as index_sigs_path

    for member, location in _expanded(settings, members):  # the expanded positives (webrecall.core.pipeline.expand)
        rel = index_sigs_path(member.number, location)
        if not store.exists(rel):
            index_signatures(settings, store, member, location, Stats())
        out.append(rel)
    return out


def run_partition(settings: Settings, round_id: int, partition: int) -> str:
    """One LSH grouping task: the buckets of one key-hash partition."""
    rnd, _, _ = _corpus(settings, round_id)
    files = sig_files(settings, round_id)
    return group_partition(Store(settings.data_dir), files, partition=partition, cfg=config(rnd),
                           out_round=rnd.number)  # fmt: skip


def partitions(settings: Settings, round_id: int) -> int:
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        if rnd is None:
            raise ValueError(f"round {round_id} does not exist")
    return config(rnd).partitions


def run_partitions(settings: Settings, round_id: int) -> list[str]:
    """The embedded default's loop over the partitions (Celery runs them as a group of tasks instead)."""
    return [run_partition(settings, round_id, p) for p in range(partitions(settings, round_id))]


def _floor(settings: Settings, store: Store, rnd: Round) -> float:
    """The score a page of the round needs to be in the corpus; a top-K round not finalized yet gets its cut here
    (the same computation as `webrecall.core.lifecycle.finalize.finalize`)."""
    if rnd.top_k is None:
        return float(rnd.threshold)
    if rnd.effective_threshold is not None:
        return float(rnd.effective_threshold)
    from webrecall.core.pipeline.partials import ensure, kept_threshold

    with session(settings.db_url) as db:
        done = done_warcs(db, rnd.id)
    ensure(store, rnd.number, done, params.of(rnd).top_k_floor)
    return kept_threshold(settings, store, rnd, done)


def dedup_round(settings: Settings, round_id: int) -> dict[str, Any]:
    """The merge: union-find over the partitions' buckets, the keep rule, counts per reason into the round's
    totals. Partitions not computed yet (a resumed round) are computed here first."""
    rnd, members, _ = _corpus(settings, round_id)
    cfg = config(rnd)
    store = Store(settings.data_dir)
    files = sig_files(settings, round_id)
    for p in range(cfg.partitions):
        if not store.exists(bucket_path(rnd.number, p)):
            run_partition(settings, round_id, p)
    floors = {n: _floor(settings, store, r) for n, r in members.items()}
    result = merge(store, files, [bucket_path(rnd.number, p) for p in range(cfg.partitions)], cfg=cfg,
                   out_round=rnd.number, floors=floors)  # fmt: skip
    result["round"] = result["rounds"].get(str(rnd.number), {})
    with session(settings.db_url) as db:
        row = db.get(Round, round_id)
        assert row is not None
        row.totals = totals.merge(row, dedup=result)  # validated against `RoundTotals.dedup`
        db.add(row)
        db.commit()
    return result
