"""After a round's last WARC: per-domain statistics, round totals, and measures against labels."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlmodel import Session, col, delete, select

from webrecall.core import label_store, labelfile
from webrecall.core.bulk import insert_rows
from webrecall.core.db import DomainStat, Model, Round, WarcTask, session, utcnow
from webrecall.core.label_store import read_jsonl
from webrecall.core.lifecycle import domain_partitions, threshold
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.status import allowed
from webrecall.core.model.scoring import precision_recall_f1
from webrecall.core.model.thresholds import wilson
from webrecall.core.pipeline import partials
from webrecall.core.queries import done_warcs, find_round, previous_done
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import index_path, sigs_path
from webrecall.core.storage.store import Store
from webrecall.core.totals import Growth, RoundTotals
from webrecall.core.totals import of as totals_of
from webrecall.core.urls.patterns import url_key


def domain_rows(merged: partials.Merged, round_id: int, related_fraction: float,
                recalled: dict[tuple[str, str], tuple[int, int]] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """`DomainStat` rows (as dicts: a round has as many as it has domains, inserted in bulk) from the merged
    partials; `recalled`: (recalled, recalled_chars) per (domain, site) under a top-K cut (None: as kept)."""
    totals = partials.domain_totals(merged.bins)
    quantiles = partials.quantiles(merged.bins)
    rows = []
    for r in totals.to_pylist():
        key = (r["domain"], r["site"])
        pages = int(r["pages"])
        got, chars = (int(r["recalled"]), int(r["recalled_chars"])) if recalled is None else recalled.get(key, (0, 0))
        p10, p50, p90 = quantiles[key]
        fraction = got / pages if pages else 0.0
        rows.append(
            dict(
                round_id=round_id, domain=r["domain"], site=r["site"], pages=pages, recalled=got, fraction=fraction,
                chars=int(r["chars"]), recalled_chars=chars, score_mean=float(r["score_sum"]) / pages if pages else 0.0,
                score_p10=p10, score_p50=p50, score_p90=p90, related=fraction > related_fraction,
            )
        )  # fmt: skip
    return rows


def _truth(labels_path: str) -> dict[str, bool]:
    truth: dict[str, bool] = {}
    for row in read_jsonl(labels_path):
        if row.get("url") and row.get("label") in ("code", "non-code"):
            truth[url_key(row["url"])] = row["label"] == "code"
    return truth


def _measures(tp: int, fp: int, fn: int, tn: int) -> dict[str, Any]:
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    return {"labeled_pages": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}  # fmt: skip


def _confusion(truth: dict[str, bool], urls: list[str], kept: list[bool]) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for url, k in zip(urls, kept, strict=True):
        t = truth.get(url_key(url))
        if t is None:
            continue
        tp, fp, fn, tn = tp + (k and t), fp + (k and not t), fn + (not k and t), tn + (not k and not t)
    return tp, fp, fn, tn


def measure_round(store: Store, round_no: int, locations: list[str], labels_path: str) -> dict[str, Any]:
    """Precision/recall of the recalled set against a url-level labels file, on the pages of this round: over the
    round's index one WARC at a time, so memory is the labels file and one WARC's index."""
    truth, counts = _truth(labels_path), np.zeros(4, np.int64)
    for loc in locations:
        table = store.read_table(index_path(round_no, loc), columns=["url", "kept"])
        counts += _confusion(truth, table["url"].to_pylist(), table["kept"].to_pylist())
    return _measures(*(int(c) for c in counts))


def measure_holdout(store: Store, round_no: int, locations: list[str], labels_path: str) -> dict[str, Any]:
    """Precision, recall and F1 of the recalled set on the holdout pages, overall, per `kind` and per `lang` where the
    file has them, each with Wilson intervals; one WARC's index at a time."""
    rows = {r.key: r for r in labelfile.read(labels_path)}
    counts: dict[tuple[str, str], Counter[str]] = {}
    seen: set[str] = set()
    for loc in locations:
        table = store.read_table(index_path(round_no, loc), columns=["url", "kept"])
        for url, kept in zip(table["url"].to_pylist(), table["kept"].to_pylist(), strict=True):
            row = rows.get(key := url_key(url))
            if row is None or key in seen:
                continue
            seen.add(key)
            cell = ("tp" if row.code else "fp") if kept else ("fn" if row.code else "tn")
            for group, value in (("overall", ""), ("kind", row.kind), ("lang", row.lang)):
                if value is not None:
                    counts.setdefault((group, value), Counter())[cell] += 1

    def measures(c: Counter[str]) -> dict[str, Any]:
        tp, fp, fn, tn = (c[k] for k in ("tp", "fp", "fn", "tn"))
        return {**_measures(tp, fp, fn, tn), "precision_ci": [round(x, 4) for x in wilson(tp, tp + fp)],
                "recall_ci": [round(x, 4) for x in wilson(tp, tp + fn)]}  # fmt: skip

    out: dict[str, Any] = {"overall": measures(counts.get(("overall", ""), Counter())), "kind": {}, "lang": {},
                           "missing": len(rows) - len(seen)}  # fmt: skip
    for (name, value), c in sorted(counts.items()):
        if name != "overall":
            out[name][value] = measures(c)
    return out


def _write_back_kept(store: Store, round_no: int, locations: list[str], cut: float) -> None:
    """A top-K round's `kept` in its index, so readers need not re-apply the cut (one WARC at a time)."""
    for loc in locations:
        rel = index_path(round_no, loc)
        table = store.read_table(rel)
        kept = pc.greater_equal(table["score"], pa.scalar(cut, pa.float32()))
        if not table["kept"].equals(kept):
            store.write_table(rel, table.set_column(table.schema.get_field_index("kept"), "kept", kept))


def growth(ctx: RoundContext, now: tuple[np.ndarray, np.ndarray]) -> Growth:
    """What this round added over the previous one (the definition is `webrecall.core.growth`): new pages and chars,
    overlap, and whether to stop (growth under the settings' `growth_stop`). `now`: the round's kept URL hashes and text
    lengths (`webrecall.core.pipeline.partials.kept_keys`); the previous round's come from its kept partials."""
    from webrecall.core.growth import rate

    keys, lengths = now
    settings, store = ctx.settings, ctx.store
    with session(settings.db_url) as db:
        prev = previous_done(db, ctx.number)
        if prev is None:
            return Growth(previous_round=None, new_pages=len(keys), new_chars=int(lengths.sum()),
                          recalled_chars_before=0, growth=None, stop=False)  # fmt: skip
        done = done_warcs(db, prev.id)
        labels = label_store.given_on(db, prev.id or 0)
    before_ctx = ctx.other(prev)
    partials.ensure(store, prev.number, done, threshold.task_threshold(before_ctx))
    cut = threshold.kept_threshold(before_ctx) if prev.top_k is not None else None
    before, before_len = partials.kept_keys(partials.kept_at(partials.kept_tables(store, prev.number, done)(), cut))
    is_new = ~np.isin(keys, before, assume_unique=True)
    base = int(before_len.sum())
    new_chars = int(lengths[is_new].sum())
    value = rate(new_chars, base)
    common = int(len(keys) - is_new.sum())
    return Growth(
        previous_round=prev.number, new_pages=int(is_new.sum()), new_chars=new_chars, recalled_chars_before=base,
        lost_pages=int(len(before) - common), overlap=round(common / len(before), 4) if len(before) else 0.0,
        growth=value, stop=value is not None and value < settings.growth_stop, labels_received=labels,
    )  # fmt: skip


def redactions(store: Store, rnd: Round, tasks: list[WarcTask], cut: float | None) -> dict[str, Any] | None:
    """What an export would redact in the round's kept and expanded pages, by kind. The signature step of each
    recall and expand task counts it (it reads every kept text anyway), so this is a sum of task stats; a top-K
    round's recall tasks kept every page above its floor, so their pages are counted from the signature files at
    the cut instead. None for a round whose tasks predate the counts."""
    done = [t for t in tasks if t.status == "done" and t.phase in ("recall", "expand")]
    if not any("redacted_pages" in t.stats for t in done):
        return None
    kinds: Counter[str] = Counter()
    pages = 0
    for t in done:
        if t.phase == "recall" and cut is not None:
            rel = sigs_path(rnd.number, t.warc_url)
            if not store.exists(rel) or "redactions" not in store.column_names(rel):
                continue
            table = store.read_table(rel, columns=["score", "redactions"])
            kept = table.filter(pc.greater_equal(table["score"], pa.scalar(cut, pa.float32())))
            for found in kept["redactions"].to_pylist():
                pages += bool(found)
                kinds.update(dict(found or ()))
            continue
        pages += int(t.stats.get("redacted_pages", 0))
        kinds.update({k[len("redacted_") :]: int(v) for k, v in t.stats.items()
                      if k.startswith("redacted_") and k != "redacted_pages"})  # fmt: skip
    return {"pages": pages, "total": sum(kinds.values()), "kinds": dict(sorted(kinds.items()))}


def cut_round(ctx: RoundContext) -> float | None:
    """Before the domain partitions: the round's partials exist, and a top-K round's cut is made over all of its
    kept partials (exact, `threshold.top_k_cut`), written back to its index and recorded as its effective threshold
    (what the partitions and the dedup merge read). Returns the cut (None for a threshold round)."""
    settings, store, rnd = ctx.settings, ctx.store, ctx.round
    with session(settings.db_url) as db:
        done = done_warcs(db, ctx.id)
    partials.ensure(store, rnd.number, done, threshold.task_threshold(ctx))
    if rnd.top_k is None:
        return None
    cut = threshold.top_k_cut(ctx, done)
    _write_back_kept(store, rnd.number, done, cut)
    with session(settings.db_url) as db:
        row = db.get(Round, ctx.id)
        assert row is not None
        row.effective_threshold = cut
        db.add(row)
        db.commit()
    return cut


def _domain_stats(ctx: RoundContext, db: Session) -> tuple[Counter[str], Counter[str]]:
    """The partitions' `DomainStat` rows into the database, a batch at a time (COPY on PostgreSQL, executemany
    batches elsewhere: no object per domain); returns their sums and the round's languages."""
    sums, languages = Counter[str](), Counter[str]()
    db.exec(delete(DomainStat).where(col(DomainStat.round_id) == ctx.id))
    for p in range(ctx.params.finalize_partitions):
        rel = domain_partitions.path(ctx.number, "domains", p)
        meta = ctx.store.read_table(rel, columns=[]).schema.metadata or {}
        sums["pages"] += int(meta.get(b"pages", b"0"))
        if p == 0:  # every partition reads every WARC's languages
            languages.update(json.loads(meta.get(b"languages", b"{}")))
        for batch in ctx.store.iter_batches(rel, batch_size=50_000):
            rows = batch.to_pylist()
            insert_rows(db, DomainStat, rows)
            sums["domains"] += len(rows)
            for r in rows:
                sums["recalled"] += r["recalled"]
                sums["recalled_chars"] += r["recalled_chars"]
                sums["related_domains"] += r["related"]
    return sums, languages


def finalize(ctx: RoundContext) -> Round:
    """Round totals, domain statistics, growth and measures, reduced from the domain partitions
    (`domain_partitions`, computed here if missing) and the task rows: memory O(one batch of domains), never the
    round's page index. A top-K round's cut was made before the partitions (`cut_round`)."""
    settings, store, rnd, round_id = ctx.settings, ctx.store, ctx.round, ctx.id
    with session(settings.db_url) as db:
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == round_id)).all()
    done = [t.warc_url for t in tasks if t.phase == "recall" and t.status == "done"]
    cut = rnd.effective_threshold if rnd.top_k is not None else None
    effective = cut if cut is not None else rnd.threshold
    partials.ensure(store, rnd.number, done, threshold.task_threshold(ctx))  # made by `cut_round`, unless run alone
    domain_partitions.ensure(ctx)
    kept = partials.kept_tables(store, rnd.number, done)
    errors: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    seconds = 0.0
    for t in tasks:
        for key, value in t.stats.items():
            if t.phase == "index" and (key.startswith("dropped_") or key == "resync_bytes_skipped"):
                errors[key.removeprefix("dropped_")] += int(value)
        if t.phase == "index":
            totals["pages"] += t.pages
            totals["html_pages"] += t.html_pages
        seconds += float(t.stats.get("task_seconds", 0.0))
        if t.status in ("failed", "skipped"):
            errors[f"warc_{t.status}"] += 1
    with session(settings.db_url) as db:
        sums, languages = _domain_stats(ctx, db)
        db.commit()
    # a later round over the same files hits the page cache: its index pass reads no record, its index counts
    totals["html_pages"] = max(totals["html_pages"], sums["pages"])
    out: dict[str, Any] = {
        **totals, "recalled": sums["recalled"], "recalled_chars": sums["recalled_chars"], "domains": sums["domains"],
        "related_domains": sums["related_domains"], "errors": dict(errors),
        "warcs": len(done), "warcs_failed": sum(t.status in ("failed", "skipped") for t in tasks),
        "task_seconds": round(seconds, 2),
        "pages_per_task_s": round(totals["html_pages"] / seconds, 2) if seconds else 0.0,  # per busy core
        "languages": dict(languages.most_common(20)),
    }  # fmt: skip
    out["growth"] = growth(ctx, partials.kept_keys(partials.kept_at(kept(), cut)))
    if (redacted := redactions(store, rnd, list(tasks), cut)) is not None:
        out["redactions"] = redacted
    from webrecall.core.lifecycle.expansion import summary as expansion

    if exp := expansion(ctx):  # labelled patterns across the whole crawl (core.lifecycle.expansion)
        out["expansion"] = exp
    if eval_labels := ctx.params.eval_labels:
        out["eval"] = measure_round(store, rnd.number, done, eval_labels)
    if holdout_labels := ctx.params.holdout_labels:
        out["holdout"] = measure_holdout(store, rnd.number, done, holdout_labels)
    with session(settings.db_url) as db:
        row = db.get(Round, round_id)
        assert row is not None
        if row.model_id:
            model = db.get(Model, row.model_id)
            if model is not None:
                out["model"] = {"version": model.version, **model.metrics}
        if "dedup" in (row.totals or {}):  # written by the dedup stage just before (core/lifecycle/dedup_stage.py)
            out["dedup"] = row.totals["dedup"]
        row.totals, row.effective_threshold = RoundTotals.model_validate(out).as_json(), effective
        if allowed(row.status, "done"):  # the status machine's rule (a cancel is final)
            row.status = "done"
        row.finished_at = utcnow()
        db.add(row)
        db.commit()
        db.refresh(row)
        return row


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
    from webrecall.core.labelling.page_items import yields
    from webrecall.core.labelling.queue import counts

    with session(settings.db_url) as db:
        rnd = find_round(db, number)
        if rnd is None:
            raise ValueError(f"no round {number}" if number is not None else "no round yet")
        queue, conflicts = counts(db, rnd.id), label_store.conflict_report(db)
        queue["page_item_yields"] = yields(db, rnd.id or 0)
    from webrecall.core.growth import of_round

    t = totals_of(rnd)
    model = t.model.model_dump(mode="json", exclude_unset=True) if t.model else {}
    disc = t.discovery.model_dump(mode="json", exclude_unset=True) if t.discovery else {}
    grown = of_round(rnd)
    return {
        "round": rnd.number, "status": rnd.status, "recalled": t.recalled,
        "recalled_chars": t.recalled_chars, "growth": grown,
        "stop": bool(grown and grown["stop"]), "growth_stop": settings.growth_stop,
        "eval": t.eval.model_dump(mode="json", exclude_unset=True) if t.eval else None,
        "holdout": t.holdout.model_dump(mode="json", exclude_unset=True) if t.holdout else None,
        "threshold": model.get("operating_point"),
        "model": {"version": model.get("version"), "heldout": model.get("seed_heldout"),
                  "seeds": model.get("seeds"), "readback": model.get("readback")},
        "domains": {k: disc.get(k) for k in ("new", "grown", "dropped", "new_domains", "grown_domains",
                                               "dropped_domains")},
        "related_domains": t.related_domains, "errors": t.errors or {}, "queue": queue, "label_conflicts": conflicts,
        "dedup": dedup_counts(t),
        "expansion": t.expansion.model_dump(mode="json", exclude_unset=True) if t.expansion else None,
        "redactions": t.redactions.model_dump(mode="json") if t.redactions else None,
    }  # fmt: skip
