"""After a round's last WARC: per-domain statistics, round totals, and measures against labels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlmodel import col, delete, select

from webrecall.core.db import DomainStat, Label, Model, Round, WarcTask, session, utcnow
from webrecall.core.labelling.label_store import read_jsonl
from webrecall.core.labelling.patterns import url_key
from webrecall.core.lifecycle.queries import done_warcs, find_round, previous_done
from webrecall.core.lifecycle.status import allowed
from webrecall.core.lifecycle.totals import RoundTotals
from webrecall.core.lifecycle.totals import of as totals_of
from webrecall.core.pipeline.passes import index_path
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store

INDEX_COLUMNS = ["url", "domain", "site", "score", "text_len", "kept", "lang"]


def round_index(store: Store, round_no: int, locations: list[str], columns: list[str] | None = None) -> pa.Table:
    """The round's page index over its completed WARC files (completed shards only)."""
    tables = [store.read_table(index_path(round_no, loc), columns=columns or INDEX_COLUMNS) for loc in locations]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in (columns or INDEX_COLUMNS)})
    return pa.concat_tables(tables)


def topk_threshold(scores: np.ndarray, k: int, floor: float) -> float:
    """The score of the K-th best page (ties keep a few more), never under the candidate floor."""
    if len(scores) == 0:
        return 1.0
    if k >= len(scores):
        return floor
    kth = float(np.partition(scores, len(scores) - k)[len(scores) - k])
    return max(kth, floor)


def domain_rows(index: pa.Table, round_id: int, related_fraction: float) -> list[DomainStat]:
    if index.num_rows == 0:
        return []
    recalled_chars = pc.if_else(index["kept"], index["text_len"], 0)
    table = index.append_column("kept_int", pc.cast(index["kept"], pa.int64())).append_column(
        "kept_len", recalled_chars
    )
    grouped = table.group_by(["domain", "site"]).aggregate(
        [
            ("url", "count"), ("kept_int", "sum"), ("text_len", "sum"), ("kept_len", "sum"), ("score", "mean"),
            ("score", "tdigest", pc.TDigestOptions(q=[0.1, 0.5, 0.9])),
        ]
    )  # fmt: skip
    rows = []
    for r in grouped.to_pylist():
        pages, recalled = int(r["url_count"]), int(r["kept_int_sum"] or 0)
        p10, p50, p90 = (float(x) for x in r["score_tdigest"])
        fraction = recalled / pages if pages else 0.0
        rows.append(
            DomainStat(
                round_id=round_id, domain=r["domain"], site=r["site"], pages=pages, recalled=recalled,
                fraction=fraction, chars=int(r["text_len_sum"] or 0), recalled_chars=int(r["kept_len_sum"] or 0),
                score_mean=float(r["score_mean"]), score_p10=p10, score_p50=p50, score_p90=p90,
                related=fraction > related_fraction,
            )
        )  # fmt: skip
    return rows


def measure(urls: list[str], kept: list[bool], labels_path: str) -> dict[str, Any]:
    """Precision/recall of the recalled set against a url-level labels file, on the pages of this round."""
    truth: dict[str, bool] = {}
    for row in read_jsonl(labels_path):
        if row.get("url") and row.get("label") in ("code", "non-code"):
            truth[url_key(row["url"])] = row["label"] == "code"
    tp = fp = fn = tn = 0
    for url, k in zip(urls, kept, strict=True):
        t = truth.get(url_key(url))
        if t is None:
            continue
        tp, fp, fn, tn = tp + (k and t), fp + (k and not t), fn + (not k and t), tn + (not k and not t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"labeled_pages": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}  # fmt: skip


def _recalled(store: Store, rnd: Round, locations: list[str]) -> dict[str, int]:
    """url -> text length of a round's recalled pages (a top-K round re-applies its effective threshold)."""
    index = round_index(store, rnd.number, locations, columns=["url", "score", "text_len", "kept"])
    if index.num_rows == 0:
        return {}
    kept = index["kept"].to_pylist()
    if rnd.top_k is not None and rnd.effective_threshold is not None:
        kept = pc.greater_equal(index["score"], rnd.effective_threshold).to_pylist()
    return {u: n for u, n, k in zip(index["url"].to_pylist(), index["text_len"].to_pylist(), kept, strict=True) if k}


def growth(settings: Settings, store: Store, rnd: Round, index: pa.Table) -> dict[str, Any]:
    """What this round added over the previous one (defined in `growth`): new pages and characters,
    overlap, and whether to stop (growth under `settings.growth_stop`)."""
    from webrecall.core.lifecycle.growth import rate

    kept = index.filter(index["kept"]) if index.num_rows else index  # Python objects for the kept pages only
    now = dict(zip(kept["url"].to_pylist(), kept["text_len"].to_pylist(), strict=True))
    with session(settings.db_url) as db:
        prev = previous_done(db, rnd.number)
        if prev is None:
            return {"previous_round": None, "new_pages": len(now), "new_chars": sum(now.values()),
                    "recalled_chars_before": 0, "growth": None, "stop": False}  # fmt: skip
        prev_done = done_warcs(db, prev.id)
        labels = db.exec(select(Label).where(Label.round_id == prev.id)).all()
    before = _recalled(store, prev, prev_done)
    new = {u: n for u, n in now.items() if u not in before}
    base = sum(before.values())
    value = rate(sum(new.values()), base)
    overlap = len(before.keys() & now.keys()) / len(before) if before else 0.0
    return {
        "previous_round": prev.number, "new_pages": len(new), "new_chars": sum(new.values()),
        "recalled_chars_before": base, "lost_pages": sum(u not in now for u in before), "overlap": round(overlap, 4),
        "growth": value, "stop": value is not None and value < settings.growth_stop, "labels_received": len(labels),
    }  # fmt: skip


def _top_values(column: pa.ChunkedArray, n: int) -> dict[str, int]:
    """The n most frequent values and their counts, computed in Arrow (no Python object per page)."""
    if len(column) == 0:
        return {}
    counts = pc.value_counts(column).to_pylist()
    return {c["values"]: int(c["counts"]) for c in sorted(counts, key=lambda c: -c["counts"])[:n]}


def finalize(settings: Settings, round_id: int) -> Round:
    store = Store(settings.data_dir)
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        assert rnd is not None
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == round_id)).all()
    done = [t.warc_url for t in tasks if t.phase == "recall" and t.status == "done"]
    index = round_index(store, rnd.number, done)
    effective = rnd.threshold
    if rnd.top_k is not None:
        effective = topk_threshold(index["score"].to_numpy(zero_copy_only=False), rnd.top_k, settings.top_k_floor)
        kept = pc.greater_equal(index["score"], effective)
        index = index.set_column(index.schema.get_field_index("kept"), "kept", kept)
    errors: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    seconds = 0.0
    for t in tasks:
        for key, value in t.stats.items():
            if key.startswith("dropped_") and t.phase == "index":
                errors[key[len("dropped_") :]] += int(value)
        if t.phase == "index":
            totals["pages"] += t.pages
            totals["html_pages"] += t.html_pages
        seconds += float(t.stats.get("task_seconds", 0.0))
        if t.status in ("failed", "skipped"):
            errors[f"warc_{t.status}"] += 1
    rows = domain_rows(index, round_id, settings.related_fraction)
    # a later round over the same files hits the page cache: its index pass reads no record, its index counts
    totals["html_pages"] = max(totals["html_pages"], index.num_rows)
    recalled = int(pc.sum(pc.cast(index["kept"], pa.int64())).as_py() or 0) if index.num_rows else 0
    out: dict[str, Any] = {
        **totals, "recalled": recalled, "recalled_chars": sum(r.recalled_chars for r in rows),
        "domains": len(rows), "related_domains": sum(r.related for r in rows), "errors": dict(errors),
        "warcs": len(done), "warcs_failed": sum(t.status in ("failed", "skipped") for t in tasks),
        "task_seconds": round(seconds, 2),
        "pages_per_task_s": round(totals["html_pages"] / seconds, 2) if seconds else 0.0,  # per busy core
        "languages": _top_values(index["lang"], 20),
    }  # fmt: skip
    out["growth"] = growth(settings, store, rnd, index)
    from webrecall.core.pipeline.expand import summary as expansion

    if exp := expansion(settings, round_id):  # labelled patterns across the whole crawl (core.pipeline.expand)
        out["expansion"] = exp
    if rnd.params.get("eval_labels"):
        out["eval"] = measure(index["url"].to_pylist(), index["kept"].to_pylist(), rnd.params["eval_labels"])
    with session(settings.db_url) as db:
        db.exec(delete(DomainStat).where(col(DomainStat.round_id) == round_id))
        db.add_all(rows)
        rnd = db.get(Round, round_id)
        assert rnd is not None
        if rnd.model_id:
            model = db.get(Model, rnd.model_id)
            if model is not None:
                out["model"] = {"version": model.version, **model.metrics}
        if "dedup" in (rnd.totals or {}):  # written by the dedup stage just before (core/pipeline/dedup_stage.py)
            out["dedup"] = rnd.totals["dedup"]
        rnd.totals, rnd.effective_threshold = RoundTotals.model_validate(out).as_json(), effective
        if allowed(rnd.status, "done"):  # the status machine's rule (a cancel is final)
            rnd.status = "done"
        rnd.finished_at = utcnow()
        db.add(rnd)
        db.commit()
        db.refresh(rnd)
        return rnd


def dedup_counts(totals: RoundTotals) -> dict[str, Any] | None:
    """Removed copies per reason (exact URL, exact text, near-dup) and contaminated pages: this round's pages and
    the whole corpus of rounds 1..n (webrecall/core/pipeline/dedup.py)."""
    d = totals.dedup
    if d is None:
        return None
    return {"round": d.round.model_dump(exclude_unset=True), "overall": d.overall.model_dump(exclude_unset=True),
            "config": d.config}  # fmt: skip


def round_report(settings: Settings, number: int | None = None) -> dict[str, Any]:
    """The operator's view of a finished round: did it grow, is the model good, what waits for annotators."""
    from webrecall.core.labelling import label_store as labels_mod
    from webrecall.core.labelling.queue import counts

    with session(settings.db_url) as db:
        rnd = find_round(db, number)
        if rnd is None:
            raise ValueError(f"no round {number}" if number is not None else "no round yet")
        queue, conflicts = counts(db, rnd.id), labels_mod.conflict_report(db)
    from webrecall.core.lifecycle.growth import of_round

    t = totals_of(rnd)
    model = t.model.model_dump(mode="json", exclude_unset=True) if t.model else {}
    disc = t.discovery.model_dump(mode="json", exclude_unset=True) if t.discovery else {}
    grown = of_round(rnd)
    return {
        "round": rnd.number, "status": rnd.status, "recalled": t.recalled,
        "recalled_chars": t.recalled_chars, "growth": grown,
        "stop": bool(grown and grown["stop"]), "growth_stop": settings.growth_stop,
        "eval": t.eval.model_dump(mode="json", exclude_unset=True) if t.eval else None,
        "model": {"version": model.get("version"), "heldout": model.get("seed_heldout"),
                  "seeds": model.get("seeds"), "readback": model.get("readback")},
        "domains": {k: disc.get(k) for k in ("new", "grown", "dropped", "new_domains", "grown_domains",
                                               "dropped_domains")},
        "related_domains": t.related_domains, "queue": queue, "label_conflicts": conflicts,
        "dedup": dedup_counts(t),
        "expansion": t.expansion.model_dump(mode="json", exclude_unset=True) if t.expansion else None,
    }  # fmt: skip
