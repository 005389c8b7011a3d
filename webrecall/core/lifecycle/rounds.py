"""Round orchestration: create -> index pass -> train -> recall pass -> finalize.

Every step is a plain function over ids, so the embedded default (a local process pool) and the Celery
workers run exactly the same code. A WARC task writes its files first and its completion row last.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col, select

from webrecall.core.crawl.http import check_ranges
from webrecall.core.crawl.listing import resolve_crawl
from webrecall.core.crawl.listing import select as select_paths
from webrecall.core.db import Model, Round, WarcTask, session, utcnow
from webrecall.core.errors import FatalError, NotFoundError, RetryableError, SkippableError
from webrecall.core.labelling import label_store as labels_mod
from webrecall.core.model.classifier import Classifier, load_cached, load_tokenizer
from webrecall.core.model.classifier import metrics as metrics_at
from webrecall.core.model.seeds import SeedSet, build_seeds, read_seed_file, save_seeds
from webrecall.core.model.thresholds import at_threshold, for_precision
from webrecall.core.page import Stats
from webrecall.core.pipeline import dedup_stage
from webrecall.core.pipeline.passes import Decision, index_warc, recall_warc
from webrecall.core.pipeline.readback import from_previous_round
from webrecall.core.settings import FastTextParams, Settings
from webrecall.core.storage.layout import cache_path
from webrecall.core.storage.store import Store
from webrecall.core.text import features
from webrecall.core.text.tokenizer import BpeTokenizer
from webrecall.core.urls.patterns import parse

Progress = Callable[[dict[str, Any]], None]
TERMINAL = {"done", "failed", "cancelled"}


@dataclass(slots=True)
class RoundSpec:
    crawl_id: str = ""
    base_url: str = ""
    warcs: list[str] = field(default_factory=list)
    limit: int | None = None
    sample: float | None = None
    sample_seed: int = 0
    seed_patterns: list[str] = field(default_factory=list)
    seed_file: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    eval_labels: str | None = None
    """A url-level labels JSONL used only to measure the round (never to train)."""
    labels_needed: int = 1
    """Annotators per queued domain (2: double annotation, for agreement); `queue.set_labels_needed` switches it."""


def create_round(settings: Settings, spec: RoundSpec) -> Round:
    """Validate the spec, resolve the WARC list and write the round with its tasks. Raises ValueError/FatalError."""
    if spec.threshold is not None and spec.top_k is not None:
        raise ValueError("give a threshold or a top-K budget, not both")
    if spec.threshold is not None and not 0.0 < spec.threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1 (exclusive)")
    if spec.top_k is not None and spec.top_k < 1:
        raise ValueError("top-K must be a positive number of pages")
    if not 1 <= spec.labels_needed <= 10:
        raise ValueError("labels_needed must be between 1 and 10")
    for pattern in spec.seed_patterns:
        parse(pattern)
    seed_texts = read_seed_file(spec.seed_file) if spec.seed_file else []
    base_url = spec.base_url or settings.source_base_url
    if spec.warcs:
        locations = list(spec.warcs)
    elif spec.crawl_id:
        locations = resolve_crawl(spec.crawl_id, base_url, timeout=settings.http_timeout, retries=settings.http_retries)
    else:
        raise ValueError("give a crawl id or WARC paths/URLs")
    locations = select_paths(locations, limit=spec.limit, sample=spec.sample, seed=spec.sample_seed)
    if not locations:
        raise ValueError("the selection contains no WARC file")
    check_ranges(locations, timeout=settings.http_timeout, retries=settings.http_retries)  # before any work
    with session(settings.db_url) as db:
        previous = db.exec(select(Round).order_by(col(Round.number).desc())).first()
        if previous is None and not (spec.seed_patterns or seed_texts or labels_mod.has_code_labels(db)):
            raise ValueError("the first round needs seeds: --seed-pattern, --seed-file or imported code labels")
        number = previous.number + 1 if previous else 1
        if previous is not None and not (spec.seed_patterns or spec.seed_file):
            # a later round keeps the operator's seeds; imported labels are added at training time
            spec.seed_patterns = list(previous.params.get("seed_patterns", []))
            spec.seed_file = previous.params.get("seed_file")
            seed_texts = read_seed_file(spec.seed_file) if spec.seed_file else []
        rnd = Round(
            number=number, crawl_id=spec.crawl_id, base_url=base_url,
            threshold=settings.threshold if spec.threshold is None else spec.threshold, top_k=spec.top_k,
            params={
                "seed_patterns": spec.seed_patterns, "seed_file": spec.seed_file, "seed_texts": len(seed_texts),
                "eval_labels": spec.eval_labels, "limit": spec.limit, "sample": spec.sample,
                "ft": settings.ft.model_dump(), "score_extractor": settings.score_extractor,
                "text_extractor": settings.text_extractor, "cascade_margin": cascade_margin(settings),
                "dedup": dedup_stage.params(settings), "labels_needed": spec.labels_needed,
            },
        )  # fmt: skip
        db.add(rnd)
        db.flush()
        for phase in ("index", "recall"):
            for loc in locations:
                db.add(WarcTask(round_id=rnd.id or 0, phase=phase, warc_url=loc))
        db.commit()
        db.refresh(rnd)
        return rnd


def _store(settings: Settings) -> Store:
    return Store(settings.data_dir)


def set_status(settings: Settings, round_id: int, status: str, **fields: Any) -> Round:
    """Row-locked (FOR UPDATE on PostgreSQL) so a concurrent cancel is never overwritten by a later phase."""
    with session(settings.db_url) as db:
        rnd = db.exec(select(Round).where(Round.id == round_id).with_for_update()).first()
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        if rnd.status == "cancelled" and status != "cancelled":
            return rnd
        rnd.status = status
        for key, value in fields.items():
            setattr(rnd, key, value)
        db.add(rnd)
        db.commit()
        return rnd


def is_cancelled(settings: Settings, round_id: int) -> bool:
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        return rnd is None or rnd.status == "cancelled"


class Cancelled(Exception):
    """The round was cancelled while this WARC task ran: its partial outputs are discarded."""


class _CancelCheck(Stats):
    """Stats that look at the round's status every `every` seconds, so a running task stops between batches.

    The stages count into their Stats after every record batch; this is the one hook they all share.
    """

    __slots__ = ("_settings", "_round_id", "_every", "_next")

    def __init__(self, settings: Settings, round_id: int, every: float) -> None:
        super().__init__()
        self._settings, self._round_id, self._every = settings, round_id, every
        self._next = time.monotonic() + every

    def incr(self, name: str, n: int = 1) -> None:
        super().incr(name, n)
        if self._every > 0 and time.monotonic() >= self._next:
            self._next = time.monotonic() + self._every
            if is_cancelled(self._settings, self._round_id):
                raise Cancelled(f"round {self._round_id} was cancelled")


def cancel_round(settings: Settings, round_id: int) -> Round:
    """Cancel: pending WARC tasks are marked cancelled (and are no-ops if they start), running ones stop at their
    next batch."""
    rnd = set_status(settings, round_id, "cancelled", finished_at=utcnow())
    with session(settings.db_url) as db:
        for task in db.exec(select(WarcTask).where(WarcTask.round_id == round_id, WarcTask.status == "pending")):
            task.status, task.error, task.finished_at = "cancelled", "the round was cancelled", utcnow()
            db.add(task)
        db.commit()
    return rnd


def retry_round(settings: Settings, round_id: int) -> Round:
    """Make a failed round runnable again: its failed (and interrupted) WARC tasks go back to pending, every
    finished one is kept, and so is its model if it has one. ValueError unless the round failed."""
    with session(settings.db_url) as db:
        rnd = db.exec(select(Round).where(Round.id == round_id).with_for_update()).first()
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        if rnd.status != "failed":
            raise ValueError(f"round {rnd.number} is {rnd.status}, not failed")
        for task in db.exec(select(WarcTask).where(WarcTask.round_id == round_id,
                                                   col(WarcTask.status).in_(["failed", "running"]))):  # fmt: skip
            task.status, task.error = "pending", f"retried after: {task.error}" if task.error else ""
            db.add(task)
        rnd.status, rnd.error, rnd.finished_at = "pending", "", None
        db.add(rnd)
        db.commit()
        db.refresh(rnd)
        return rnd


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if value is not None else None


def _eta(tasks: Sequence[WarcTask], finished: set[str]) -> float | None:
    """Seconds left: the unfinished tasks of each phase times that phase's mean task time (a phase that has not
    started borrows the index phase's), divided by the parallelism the phase showed. Computed from task times
    only, so it does not grow while the round waits (e.g. during training)."""
    per_phase: dict[str, tuple[float, float]] = {}
    for phase in ("index", "recall"):
        spans = [(_naive(t.started_at), _naive(t.finished_at)) for t in tasks
                 if t.phase == phase and t.status in finished and t.started_at and t.finished_at]  # fmt: skip
        if spans:
            busy = sum((b - a).total_seconds() for a, b in spans)
            wall = (max(b for _, b in spans) - min(a for a, _ in spans)).total_seconds()
            per_phase[phase] = (busy / len(spans), max(1.0, busy / wall) if wall > 0 else 1.0)
    if not per_phase:
        return None
    fallback = per_phase.get("index") or per_phase["recall"]
    left = 0.0
    for phase in ("index", "recall"):
        mean, parallel = per_phase.get(phase, fallback)
        left += sum(t.phase == phase and t.status not in finished for t in tasks) * mean / parallel
    return round(left, 1)


def round_progress(settings: Settings, round_id: int) -> dict[str, Any]:
    """Progress computed from the task rows (never a shared counter): files done/total, pages, pages/s, ETA."""
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == round_id)).all()
    out: dict[str, Any] = {"round": rnd.number, "status": rnd.status}
    ended = rnd.finished_at if rnd.status in TERMINAL and rnd.finished_at else utcnow()  # a finished round's own end
    elapsed = (_naive(ended) - _naive(rnd.started_at)).total_seconds() if rnd.started_at else 0.0
    finished = {"done", "failed", "skipped", "cancelled"}
    for phase in ("index", "recall"):
        rows = [t for t in tasks if t.phase == phase]
        done = [t for t in rows if t.status in finished]
        out[phase] = {
            "warcs_done": len(done), "warcs_total": len(rows), "running": sum(t.status == "running" for t in rows),
            "pages": sum(t.html_pages for t in done), "recalled": sum(t.recalled for t in done),
        }  # fmt: skip
    totals = rnd.totals or {}
    # as WARC tasks finish (a page-cache hit reads no record, but its index row counts the cached HTML pages)
    out["pages"] = int(totals.get("pages", sum(t.pages for t in tasks if t.phase == "index" and t.status == "done")))
    out["html_pages"] = int(totals.get("html_pages", max(out["index"]["pages"], out["recall"]["pages"])))
    out["pages_per_s"] = round(out["html_pages"] / elapsed, 2) if elapsed > 0 else 0.0
    out["eta_seconds"] = _eta(tasks, finished) if rnd.status not in TERMINAL else None
    return out


def local_model_dir(settings: Settings, model_path: str) -> str:
    """Models live in the store; workers on other hosts copy one down once per process."""
    store = _store(settings)
    if store.local:
        return store.path(model_path)
    target = Path(tempfile.gettempdir()) / "webrecall-models" / model_path.replace("/", "_")
    if not (target / "model.bin").exists():
        store.get_dir(model_path, str(target))
    return str(target)


def cascade_margin(settings: Settings) -> float:
    """The cascade re-scores band pages on the round's own kept text: none when that is the cached text."""
    return settings.cascade_margin if settings.text_extractor != settings.score_extractor else 0.0


def round_decision(settings: Settings, rnd: Round) -> Decision:
    """How a round's recall phase decides: the threshold and cascade margin recorded with the round (so every
    worker agrees whatever its own settings); with a top-K budget the floor only pre-filters candidates (the cut
    is made at finalize), so there is no band to re-score."""
    if rnd.top_k is not None:
        return Decision(settings.top_k_floor, 0.0)
    return Decision(rnd.threshold, float(rnd.params.get("cascade_margin", settings.cascade_margin)))


def process_warc_task(settings: Settings, task_id: int, *, cancel_check_s: float = 0.0) -> dict[str, Any]:
    """The unit of work: one WARC in one phase. Idempotent: outputs are replaced, the row written last.

    With `cancel_check_s` > 0 a running task looks at the round's status that often and stops if cancelled.
    """
    with session(settings.db_url) as db:
        task = db.get(WarcTask, task_id)
        if task is None:
            raise FatalError(f"WARC task {task_id} does not exist")
        rnd = db.get(Round, task.round_id)
        assert rnd is not None
        if rnd.status == "cancelled":
            return {"task": task_id, "status": "cancelled"}
        task.status, task.attempts, task.started_at = "running", task.attempts + 1, utcnow()
        db.add(task)
        db.commit()
        model = db.get(Model, rnd.model_id) if rnd.model_id else None
    store, stats = _store(settings), _CancelCheck(settings, task.round_id, cancel_check_s)
    io: dict[str, Any] = {"max_record_bytes": settings.max_record_bytes, "timeout": settings.http_timeout,
                          "retries": settings.http_retries}  # fmt: skip
    status, error = "done", ""
    start = time.perf_counter()
    try:
        if task.phase == "expand":  # a labelled pattern's pages in this WARC file, by byte range (core.pipeline.expand)
            from webrecall.core.pipeline.expand import expand_warc

            expand_warc(task.warc_url, round_no=rnd.number, store=store, stats=stats,
                        extractor=settings.score_extractor, **io)  # fmt: skip
            dedup_stage.index_signatures(settings, store, rnd, task.warc_url, stats)
        elif task.phase == "index":
            if store.exists(cache_path(task.warc_url)):
                stats.incr("cache_hit")
                stats.incr("html_pages", _cached_pages(store, cache_path(task.warc_url)))
            else:
                index_warc(task.warc_url, store=store, stats=stats, extractor=settings.score_extractor, **io)
        else:
            if model is None:
                raise FatalError(f"round {rnd.number} has no model to score with")
            clf = load_cached(local_model_dir(settings, model.path))
            recall_warc(
                task.warc_url, round_no=rnd.number, store=store, classifier=clf, decision=round_decision(settings, rnd),
                stats=stats, text_extractor=str(rnd.params.get("text_extractor", settings.text_extractor)),
                fallback_extractor=str(rnd.params.get("score_extractor", settings.score_extractor)), **io,
            )  # fmt: skip
            dedup_stage.signatures(settings, store, rnd, task.warc_url, stats)
    except (SkippableError, NotFoundError) as exc:  # this WARC is broken or gone: recorded, the round goes on
        status, error = "skipped", str(exc)
    except Cancelled as exc:
        status, error = "cancelled", str(exc)
    except (RetryableError, FatalError) as exc:
        retry = isinstance(exc, RetryableError)
        with session(settings.db_url) as db:
            row = db.get(WarcTask, task_id)
            if row is not None:
                row.status, row.error = ("pending", f"retrying: {exc}") if retry else ("failed", str(exc))
                db.add(row)
                db.commit()
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
    return {"task": task_id, "phase": task.phase, "status": status, "error": error, "stats": result}


def _cached_pages(store: Store, rel: str) -> int:
    """HTML pages in a page-cache file, from its Parquet footer (no page is read)."""
    import pyarrow.parquet as pq

    with store.fs.open(store.path(rel), "rb") as fh:
        return int(pq.ParquetFile(fh).metadata.num_rows)


def pending_tasks(settings: Settings, round_id: int, phase: str) -> list[int]:
    with session(settings.db_url) as db:
        rows = db.exec(
            select(WarcTask.id).where(
                WarcTask.round_id == round_id, WarcTask.phase == phase, col(WarcTask.status).in_(["pending", "running"])
            )
        ).all()
        return [int(r) for r in rows if r is not None]


def previous_tokenizer(settings: Settings, rnd: Round) -> BpeTokenizer | None:
    """The tokenizer of the loop's first model: one tokenizer for all rounds, as the papers use one."""
    with session(settings.db_url) as db:
        first = db.exec(select(Model).where(col(Model.round_id) != rnd.id).order_by(col(Model.id))).first()
    if first is None:
        return None
    return load_tokenizer(local_model_dir(settings, first.path))[1]


def heldout_thresholds(clf: Classifier, heldout: SeedSet, threshold: float, target: float) -> dict[str, Any]:
    """What the round's threshold means on its held-out seeds (precision and recall with their counts and Wilson
    intervals), and the threshold that a target precision would choose there (issue 14)."""
    scores = clf.score(heldout.texts)
    out: dict[str, Any] = {
        "seed_heldout": metrics_at(scores, heldout.labels, threshold=threshold).as_dict(),
        "threshold_heldout": at_threshold(scores, heldout.labels, threshold).as_dict(),
    }
    if target > 0:
        out["threshold_for_precision"] = for_precision(scores, heldout.labels, target=target).as_dict()
    return out


def train_round(settings: Settings, round_id: int) -> Model:
    """Seeds from the page cache + labels -> BPE + fastText -> saved, versioned, evaluated model."""
    store = _store(settings)
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        assert rnd is not None
        caches = [
            cache_path(t.warc_url)
            for t in db.exec(
                select(WarcTask)
                .where(WarcTask.round_id == round_id, WarcTask.phase == "index")
                .order_by(col(WarcTask.id))  # the same seeds, hence the same model, on SQLite and PostgreSQL
            )
            if t.status == "done"
        ]
        label_set = labels_mod.pattern_set(db)
    for pattern in rnd.params.get("seed_patterns", []):
        label_set.add(pattern, "code")
    seed_texts = read_seed_file(rnd.params["seed_file"]) if rnd.params.get("seed_file") else []
    caches = [c for c in caches if store.exists(c)]
    # the previous round's positives, and its labeled pages outside these cache files (read back by range)
    prior, readback_counts = from_previous_round(settings, store, rnd.number, label_set, caches)
    from webrecall.core.pipeline.expand import expanded_pages

    train, heldout = build_seeds(
        store, caches, labels=label_set, seed_texts=seed_texts,
        negatives_per_positive=settings.negatives_per_positive, max_pages=settings.max_seed_pages,
        heldout_fraction=settings.heldout_fraction, seed=rnd.number, expanded=expanded_pages(settings, round_id),
        synthetic_share=settings.synthetic_share,
        **prior,
    )  # fmt: skip
    counts = train.counts()
    if counts["positives"] < 2 or counts["negatives"] < 2:
        raise FatalError(
            f"not enough seed pages to train: {counts['positives']} positives, {counts['negatives']} negatives "
            "(do the seed patterns match any page of these WARC files?)"
        )
    version = f"r{rnd.number}-{int(time.time())}"
    params = FastTextParams(**{**settings.ft.model_dump(), **rnd.params.get("ft", {})})  # the round's own
    clf = Classifier.train(train.texts, train.labels, params=params, vocab_size=settings.bpe_vocab_size,
                           version=version, tokenizer=previous_tokenizer(settings, rnd),
                           signals=features.spec(settings.code_signal_repeat) if settings.code_signal_repeat else None,
                           )  # fmt: skip
    save_seeds(store, rnd.number, train)
    metrics: dict[str, Any] = {"seeds": counts, "heldout": heldout.counts(), "readback": readback_counts}
    if heldout.labels and 0 < sum(heldout.labels) < len(heldout.labels):
        metrics.update(heldout_thresholds(clf, heldout, rnd.threshold, settings.threshold_target_precision))
    rel = f"models/{version}"
    with tempfile.TemporaryDirectory() as tmp:
        clf.save(tmp)
        store.put_dir(tmp, rel)
    with session(settings.db_url) as db:
        model = Model(version=version, round_id=round_id, path=rel, params=params.model_dump(), metrics=metrics)
        db.add(model)
        db.flush()
        rnd = db.get(Round, round_id)
        assert rnd is not None
        rnd.model_id = model.id
        chosen = metrics.get("threshold_for_precision")
        if chosen and settings.threshold_target_precision > 0 and chosen["met"]:  # every worker reads it from here
            rnd.params = {**rnd.params, "threshold_requested": rnd.threshold}
            rnd.threshold = float(chosen["threshold"])
        db.add(rnd)
        db.commit()
        db.refresh(model)
        return model


def _run_phase(
    settings: Settings, round_id: int, phase: str, executor: Executor | None, progress: Progress | None
) -> None:
    ids = pending_tasks(settings, round_id, phase)
    total = len(ids)
    done = 0

    def report(result: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        if progress:
            progress({"round": round_id, "phase": phase, "done": done, "total": total, **result})

    if executor is None:
        for task_id in ids:
            if is_cancelled(settings, round_id):
                return
            report(_with_retries(settings, task_id))
        return
    futures = [executor.submit(_with_retries, settings, task_id) for task_id in ids]
    for fut in as_completed(futures):
        report(fut.result())


_RETRY_ON = (RetryableError, OperationalError, InterfaceError)


def _with_retries(settings: Settings, task_id: int) -> dict[str, Any]:
    """In-process retry policy for retryable errors (Celery has its own)."""
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    run = retry(
        retry=retry_if_exception_type(_RETRY_ON), stop=stop_after_attempt(3),
        wait=wait_random_exponential(multiplier=1, max=30), reraise=True,
    )(process_warc_task)  # fmt: skip
    try:
        return run(settings, task_id)
    except _RETRY_ON as exc:
        with session(settings.db_url) as db:
            row = db.get(WarcTask, task_id)
            if row is not None:
                row.status, row.error, row.finished_at = "failed", f"gave up after retries: {exc}", utcnow()
                db.add(row)
                db.commit()
        return {"task": task_id, "status": "failed", "error": str(exc), "stats": {}}


def run_round(
    settings: Settings, round_id: int, *, processes: int | None = None, progress: Progress | None = None
) -> Round:
    """Run a round to the end in this process (with a local process pool). Resumable: done tasks are skipped."""
    n = processes if processes is not None else (settings.processes or os.cpu_count() or 1)
    set_status(settings, round_id, "indexing", started_at=utcnow())
    executor: Executor | None = ProcessPoolExecutor(max_workers=n) if n > 1 else None
    try:
        _run_phase(settings, round_id, "index", executor, progress)
        if is_cancelled(settings, round_id):
            return set_status(settings, round_id, "cancelled")
        with session(settings.db_url) as db:
            rnd = db.get(Round, round_id)
            has_model = rnd is not None and rnd.model_id is not None
        if not has_model:
            from webrecall.core.pipeline.expand import lookup_round

            set_status(settings, round_id, "expanding")  # labelled patterns across the whole crawl, then train
            lookup_round(settings, round_id)
            _run_phase(settings, round_id, "expand", executor, progress)
            if is_cancelled(settings, round_id):
                return set_status(settings, round_id, "cancelled")
            set_status(settings, round_id, "training")
            train_round(settings, round_id)
        set_status(settings, round_id, "recalling")
        _run_phase(settings, round_id, "recall", executor, progress)
        if is_cancelled(settings, round_id):
            return set_status(settings, round_id, "cancelled")
        dedup_stage.run_partitions(settings, round_id)
        return finalize_round(settings, round_id)
    except (FatalError, ValueError) as exc:
        set_status(settings, round_id, "failed", error=str(exc), finished_at=utcnow())
        raise
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def finalize_round(settings: Settings, round_id: int) -> Round:
    from webrecall.core.labelling.discovery import discover
    from webrecall.core.lifecycle.finalize import finalize

    set_status(settings, round_id, "finalizing")
    dedup_stage.dedup_round(settings, round_id)  # the corpus of rounds 1..n, before the round is done
    rnd = finalize(settings, round_id)
    if rnd.status != "done":
        return rnd
    discover(settings, round_id, seed=rnd.number)  # domains vs the previous round, the annotation queue
    return round_by_number(settings, rnd.number)


def round_by_number(settings: Settings, number: int | None) -> Round:
    with session(settings.db_url) as db:
        query = select(Round).order_by(col(Round.number).desc())
        if number is not None:
            query = select(Round).where(Round.number == number)
        rnd = db.exec(query).first()
    if rnd is None:
        raise ValueError(f"no round {number}" if number is not None else "no round yet")
    return rnd


def round_classifier(settings: Settings, number: int | None) -> Classifier:
    """The model a round scores with (the latest round's by default); ValueError if it has none yet."""
    rnd = round_by_number(settings, number)
    with session(settings.db_url) as db:
        model = db.get(Model, rnd.model_id) if rnd.model_id else None
    if model is None:
        raise ValueError(f"round {rnd.number} has no model yet")
    return load_cached(local_model_dir(settings, model.path))


def warc_tasks(settings: Settings, round_id: int) -> Sequence[WarcTask]:
    with session(settings.db_url) as db:
        return db.exec(select(WarcTask).where(WarcTask.round_id == round_id).order_by(col(WarcTask.id))).all()
