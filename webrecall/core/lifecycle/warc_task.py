"""The unit of work: one WARC file in one phase (index, expand, recall), the same for both runners.

Idempotent: outputs are replaced, the task row is written last. Errors are classified here, per WARC: a broken
or missing file is skipped, a cancel stops the task, a retryable error goes back to pending for the runner's
retry policy, a fatal one fails the task (and the runner fails the round).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from webrecall.core.crawl.sources import ReadOptions
from webrecall.core.db import Model, Round, WarcTask, session, utcnow
from webrecall.core.errors import Cancelled, FatalError, NotFoundError, RetryableError, SkippableError, StopCheck
from webrecall.core.lifecycle import dedup_stage, model_store, threshold
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.page import Stats
from webrecall.core.pipeline.passes import CACHE_RECORDS, cache_path, index_warc, recall_warc
from webrecall.core.pipeline.wetscan import index_wet, recall_wet
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import wet_cache_path
from webrecall.core.storage.store import Store

RETRY_ON = (RetryableError, OperationalError, InterfaceError)
"""Retried with backoff by either runner: network failures of a source, the database going away."""


@dataclass(slots=True)
class TaskResult:
    """What a WARC task tells its runner: which row, how it ended (`done`, `skipped`, `failed`, `cancelled`), why,
    and its stage counts (`Stats.as_dict`)."""

    task: int
    phase: str
    status: str
    error: str = ""
    stats: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, row: WarcTask) -> TaskResult:
        """The result a task row records (a redelivered task that already ran, or one that gave up)."""
        return cls(row.id or 0, row.phase, row.status, row.error, dict(row.stats or {}))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count_cached(store: Store, rel: str, stats: Stats) -> None:
    """A page-cache hit counts what the index pass that wrote the file counted: its HTML pages and the WARC records
    it read (both from the Parquet footer; no page is read), so a round's `pages` do not depend on the cache."""
    import pyarrow.parquet as pq

    with store.fs.open(store.path(rel), "rb") as fh:
        meta = pq.ParquetFile(fh).metadata
    stats.incr("cache_hit")
    stats.incr("html_pages", int(meta.num_rows))
    if (records := (meta.metadata or {}).get(CACHE_RECORDS.encode())) is not None:
        stats.incr("records", int(records))


def _run(ctx: RoundContext, task: WarcTask, model: Model | None, stats: Stats, should_stop: StopCheck | None) -> None:
    settings, store, recorded = ctx.settings, ctx.store, ctx.params
    read = ReadOptions.of(settings, should_stop)
    if task.phase == "expand":  # a labelled pattern's pages in this WARC file, by byte range (core.pipeline.expand)
        from webrecall.core.pipeline.expand import expand_warc

        expand_warc(task.warc_url, round_no=ctx.number, store=store, stats=stats,
                    extractor=recorded.score_extractor, read=read)  # fmt: skip
        dedup_stage.index_signatures(ctx, task.warc_url, stats)
    elif task.phase == "index":
        wet = recorded.scan == "wet"
        if store.exists(cached := wet_cache_path(task.warc_url) if wet else cache_path(task.warc_url,
                                                                                           recorded.cache_id)):
            _count_cached(store, cached, stats)
        elif wet:
            index_wet(task.warc_url, store=store, stats=stats, read=read)
        else:
            index_warc(task.warc_url, store=store, stats=stats, extractor=recorded.score_extractor, read=read)
    elif task.phase == "sample":  # a WET round's training pages (lifecycle.sampling)
        from webrecall.core.lifecycle.sampling import sample_warc

        sample_warc(ctx, task.warc_url, stats, read)
    elif recorded.scan == "wet":
        from webrecall.core.lifecycle.sampling import capture_index

        if model is None or recorded.wet_prefilter is None or recorded.wet_floor is None:
            raise FatalError(f"round {ctx.number} has no model and pre-filter to score with")
        recall_wet(
            task.warc_url, round_no=ctx.number, store=store, prefilter=model_store.prefilter(settings,
            recorded.wet_prefilter), floor=recorded.wet_floor, mode=recorded.wet_view,
            scorer=model_store.scorer(settings, model), decision=threshold.decision(ctx), stats=stats,
            index=capture_index(ctx), extractor=recorded.score_extractor, read=read,
        )  # fmt: skip
        dedup_stage.signatures(ctx, task.warc_url, stats)
    else:
        if model is None:
            raise FatalError(f"round {ctx.number} has no model to score with")
        recall_warc(
            task.warc_url, round_no=ctx.number, store=store, scorer=model_store.scorer(settings, model),
            decision=threshold.decision(ctx), stats=stats, text_extractor=recorded.text_extractor,
            fallback_extractor=recorded.score_extractor, read=read,
        )  # fmt: skip
        dedup_stage.signatures(ctx, task.warc_url, stats)


def process_warc_task(settings: Settings, task_id: int, *, should_stop: StopCheck | None = None) -> TaskResult:
    """Run one WARC task; `should_stop` is asked between batches (the runner decides how, and how often)."""
    with session(settings.db_url) as db:
        task = db.get(WarcTask, task_id)
        if task is None:
            raise FatalError(f"WARC task {task_id} does not exist")
        rnd = db.get(Round, task.round_id)
        assert rnd is not None
        if rnd.status == "cancelled":
            return TaskResult(task_id, task.phase, "cancelled")
        task.status, task.attempts, task.started_at = "running", task.attempts + 1, utcnow()
        db.add(task)
        db.commit()
        model = db.get(Model, rnd.model_id) if rnd.model_id else None
    stats = Stats()
    status, error = "done", ""
    start = time.perf_counter()
    try:
        _run(RoundContext.of(settings, rnd), task, model, stats, should_stop)
    except (SkippableError, NotFoundError) as exc:  # this WARC is broken or gone: recorded, the round goes on
        status, error = "skipped", str(exc)
    except Cancelled:
        status, error = "cancelled", f"round {rnd.number} was cancelled"
    except (RetryableError, FatalError) as exc:
        retry = isinstance(exc, RetryableError)
        _record(settings, task_id, *(("pending", f"retrying: {exc}") if retry else ("failed", str(exc))))
        raise
    except (OperationalError, InterfaceError):  # the database went away, not this WARC: the caller retries it
        raise
    except Exception as exc:  # noqa: BLE001 - classified per WARC: recorded, the round goes on
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    stats.seconds["task"] = time.perf_counter() - start
    result = stats.as_dict()
    with session(settings.db_url) as db:
        row = db.get(WarcTask, task_id)
        assert row is not None
        row.status, row.error, row.stats, row.finished_at = status, error, result, utcnow()
        row.pages = int(stats["records"]) if task.phase == "index" else int(stats["total"])
        row.html_pages = int(stats["html_pages"]) if task.phase == "index" else int(stats["total"])
        row.recalled = int(stats["kept"]) if task.phase == "recall" else 0
        db.add(row)
        db.commit()
    return TaskResult(task_id, task.phase, status, error, result)


def _record(settings: Settings, task_id: int, status: str, error: str) -> None:
    with session(settings.db_url) as db:
        row = db.get(WarcTask, task_id)
        if row is not None:
            row.status, row.error = status, error
            db.add(row)
            db.commit()
