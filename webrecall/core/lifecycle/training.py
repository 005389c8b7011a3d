"""A round's model: seeds from the page cache and labels -> BPE + fastText -> saved, versioned, evaluated."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from webrecall.core import label_store, labelfile, params
from webrecall.core.crawl.sources import ReadOptions
from webrecall.core.db import Model, Round, session
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle import model_store
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.threshold import kept_threshold, operating_point
from webrecall.core.model import prefilter, second_stage
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.classifier import metrics as metrics_at
from webrecall.core.model.seeds import SeedSet, build_seeds, previous_positives, read_seed_file, save_seeds
from webrecall.core.model.thresholds import at_threshold, for_precision
from webrecall.core.page import Stats
from webrecall.core.pipeline import readback
from webrecall.core.pipeline.passes import cache_path
from webrecall.core.queries import done_warcs, previous_done
from webrecall.core.storage.store import Store
from webrecall.core.text import features
from webrecall.core.text.tokenizer import MAX_TOKENS, BpeTokenizer
from webrecall.core.totals import ModelTotals
from webrecall.core.urls.patterns import PatternSet, url_key


def heldout_thresholds(scores: np.ndarray, heldout: SeedSet, threshold: float, target: float) -> dict[str, Any]:
    """What the round's threshold means on its held-out seeds (precision and recall with their counts and Wilson
    intervals), and the threshold that a target precision (by its Wilson lower bound) would choose there."""
    out: dict[str, Any] = {
        "seed_heldout": metrics_at(scores, heldout.labels, threshold=threshold).as_dict(),
        "threshold_heldout": at_threshold(scores, heldout.labels, threshold).as_dict(),
    }
    if target > 0:
        out["threshold_for_precision"] = for_precision(scores, heldout.labels, target=target, bound=True).as_dict()
    return out


def crawl_sample(store: Store, caches: list[str], *, size: int, seed: int, excluded: Callable[[str], bool]
                 ) -> list[str]:  # fmt: skip
    """A seeded reservoir of `size` page texts of the round's page cache (their heads: what the tokenizer reads),
    so the tokenizer learns every script the crawl has, not only the seeds'. Held-out pages are left out."""
    rng, out, seen = random.Random(seed), list[str](), 0
    limit = MAX_TOKENS * 4
    for rel in caches:
        for batch in store.iter_batches(rel, columns=["url", "text"]):
            for url, text in zip(batch.column("url").to_pylist(), batch.column("text").to_pylist(), strict=True):
                if not text or excluded(url):
                    continue
                seen += 1
                if len(out) < size:
                    out.append(text[:limit])
                elif (j := rng.randrange(seen)) < size:
                    out[j] = text[:limit]
    return out


def _tokenizer(ctx: RoundContext, train: SeedSet, excluded: Callable[[str], bool]) -> BpeTokenizer:
    """The loop's tokenizer, trained once (round 1) on the seeds and a sample of the crawl's own text."""
    settings = ctx.settings
    sample = crawl_sample(ctx.store, _caches(ctx), size=settings.bpe_crawl_sample, seed=ctx.number,
                          excluded=excluded) if settings.bpe_crawl_sample > 0 else []  # fmt: skip
    texts = chain((features.split_signals(t)[1] for t in train.texts), sample)
    return BpeTokenizer.train(texts, vocab_size=settings.bpe_vocab_size, max_tokens=ctx.params.ft.max_tokens)


def _caches(ctx: RoundContext) -> list[str]:
    """The page cache files the round trains from, in task order (the same seeds on SQLite and PostgreSQL)."""
    with session(ctx.settings.db_url) as db:
        caches = [cache_path(loc, ctx.params.cache_id) for loc in done_warcs(db, ctx.id, "index")]
    if ctx.params.scan == "wet":  # no page cache of every page: the training pages the sample step fetched
        from webrecall.core.lifecycle.sampling import sample_files

        caches = sample_files(ctx)
    return [c for c in caches if ctx.store.exists(c)]


def never_train(ctx: RoundContext) -> Callable[[str], bool]:
    """True for a URL of the round's holdout labels: such a page never trains, whatever pattern matches it."""
    held = labelfile.keys(ctx.params.holdout_labels)
    return lambda url: url_key(url) in held


def from_previous_round(
    ctx: RoundContext, labels: PatternSet[str], caches: Iterable[str]
) -> tuple[dict[str, Any], dict[str, float]]:
    """`build_seeds` keyword arguments from the latest finished round before this one, and read-back counts (a page
    read back is extracted as this round scores: with its `score_extractor`)."""
    settings, store = ctx.settings, ctx.store
    with session(settings.db_url) as db:
        prev = previous_done(db, ctx.number)
        if prev is None:
            return {}, {}
        locations = done_warcs(db, prev.id)
        retracted = label_store.retracted_set(db)
    stats = Stats()
    if ctx.params.scan == "wet":  # its sample step fetched the labelled pages of its files (each once)
        labels = PatternSet()
    pages = list(readback.readback(
        store, prev.number, locations, labels, stats=stats, extractor=ctx.params.score_extractor, skip=caches,
        read=ReadOptions.of(settings),
    ))  # fmt: skip
    seen = readback.scores(store, prev.number, locations)
    low = min(readback.LOW_SCORE, kept_threshold(ctx.other(prev)) / 2)
    previous = [(u, t) for u, t in previous_positives(store, prev.number)
                if readback.still_positive(u, labels, retracted)]  # fmt: skip
    kwargs = {"previous": previous, "readback": pages,
              "negative_ok": lambda url: seen.get(url, 0.0) < low}  # fmt: skip
    return kwargs, {"previous_round": prev.number, **stats.as_dict()}


def _seed_sets(ctx: RoundContext) -> tuple[SeedSet, SeedSet, dict[str, Any]]:
    from webrecall.core.lifecycle.expansion import expanded_pages

    settings, store, rnd = ctx.settings, ctx.store, ctx.round
    with session(settings.db_url) as db:
        label_set = label_store.pattern_set(db)
    caches = _caches(ctx)
    for pattern in ctx.params.seed_patterns:
        label_set.add(pattern, "code")
    seed_texts = read_seed_file(ctx.params.seed_file) if ctx.params.seed_file else []
    # the previous round's positives, and its labeled pages outside these cache files (read back by range)
    prior, readback_counts = from_previous_round(ctx, label_set, caches)
    evaluated = labelfile.keys(ctx.params.eval_labels)  # measured pages are no random negatives
    unlabelled_ok = prior.pop("negative_ok", None)
    prior["negative_ok"] = lambda url: url_key(url) not in evaluated and (unlabelled_ok is None or unlabelled_ok(url))
    train, heldout = build_seeds(
        store, caches, labels=label_set, seed_texts=seed_texts,
        negatives_per_positive=settings.negatives_per_positive, max_pages=settings.max_seed_pages,
        heldout_fraction=settings.heldout_fraction, seed=rnd.number, expanded=expanded_pages(ctx),
        synthetic_share=settings.synthetic_share, excluded=never_train(ctx),
        **prior,
    )  # fmt: skip
    return train, heldout, readback_counts


def _prefilter(ctx: RoundContext, clf: Classifier, train: SeedSet, heldout: SeedSet, threshold: float
               ) -> tuple[str, prefilter.Calibration]:  # fmt: skip
    """A WET round's pre-filter, trained on the WET text of the round's training pages (labelled as for its model),
    and its floor, calibrated out of host on what the round's model keeps of the same pages."""
    from webrecall.core.lifecycle.sampling import wet_texts

    settings, recorded = ctx.settings, ctx.params
    wet = wet_texts(ctx)
    urls, texts, labels, mains = [], [], [], []
    for seeds in (train, heldout):
        for url, text, label in zip(seeds.urls, seeds.texts, seeds.labels, strict=True):
            if url in wet and wet[url].strip():
                urls.append(url)
                texts.append(wet[url])
                labels.append(label)
                mains.append(text)
    if not any(labels) or all(labels):
        raise FatalError(f"the pre-filter needs code and other training pages with WET text: {sum(labels)} of "
                         f"{len(labels)} are code")  # fmt: skip
    kept = (clf.score(mains) >= threshold).tolist()
    signals = features.spec(settings.code_signal_repeat) if settings.code_signal_repeat else None
    tokenizer = model_store.prefilter_tokenizer(settings, ctx.round)
    calibration = prefilter.calibrate(urls, texts, labels, kept, params=recorded.ft, vocab_size=settings.bpe_vocab_size,
                                      mode=recorded.wet_view, recall=recorded.wet_floor_recall, cap=threshold,
                                      tokenizer=tokenizer, signals=signals)  # fmt: skip
    pre = prefilter.train(texts, labels, params=recorded.ft, vocab_size=settings.bpe_vocab_size,
                          version=f"{clf.version}-prefilter", mode=recorded.wet_view, tokenizer=tokenizer,
                          signals=signals)  # fmt: skip
    return model_store.save_model(settings, pre), calibration


def train_round(ctx: RoundContext) -> Model:
    """Train, save and record the round's model; with a target precision met on the held-out seeds, the round's
    threshold becomes the one chosen there (every worker reads it from the round)."""
    settings, store, rnd, round_id = ctx.settings, ctx.store, ctx.round, ctx.id
    train, heldout, readback_counts = _seed_sets(ctx)
    counts = train.counts()
    if counts["positives"] < 2 or counts["negatives"] < 2:
        raise FatalError(
            f"not enough seed pages to train: {counts['positives']} positives, {counts['negatives']} negatives "
            "(do the seed patterns match any page of these WARC files?)"
        )
    version = f"r{rnd.number}-{int(time.time())}"
    ft = ctx.params.ft  # the round's own
    tokenizer = model_store.first_tokenizer(settings, rnd) or _tokenizer(ctx, train, never_train(ctx))
    clf = Classifier.train(train.texts, train.labels, params=ft, vocab_size=settings.bpe_vocab_size,
                           version=version, tokenizer=tokenizer,
                           signals=features.spec(settings.code_signal_repeat) if settings.code_signal_repeat else None,
                           )  # fmt: skip
    save_seeds(store, rnd.number, train)
    scorer: Classifier | second_stage.SecondStage = clf
    if ctx.params.second_stage:  # fine stage over the code structure and the logit, on the same labelled pages
        scorer = second_stage.train(clf, train.texts, train.labels, train.urls, params=ft, seed=rnd.number) or clf
    metrics: dict[str, Any] = {"seeds": counts, "heldout": heldout.counts(), "readback": readback_counts}
    scores = scorer.score(heldout.texts) if heldout.texts else np.zeros(0, np.float32)
    point = operating_point(ctx, scores, heldout.labels)
    metrics["operating_point"] = point
    if heldout.labels and 0 < sum(heldout.labels) < len(heldout.labels):
        metrics.update(heldout_thresholds(scores, heldout, point["threshold"], ctx.params.threshold_target))
    if ctx.params.second_stage:
        metrics["second_stage"] = clf.meta.get("second_stage") or {"trained": False}
    metrics = ModelTotals.model_validate(metrics).model_dump(mode="json", exclude_unset=True)  # the totals' shape
    rel = model_store.save_model(settings, scorer)
    with session(settings.db_url) as db:
        model = Model(version=version, round_id=round_id, path=rel, params=ft.model_dump(), metrics=metrics)
        db.add(model)
        db.flush()
        row = db.get(Round, round_id)
        assert row is not None
        row.model_id = model.id
        row.threshold = float(point["threshold"])  # what every worker keeps pages at
        if ctx.params.scan == "wet":
            path, calibration = _prefilter(ctx, clf, train, heldout, row.threshold)
            row.params = params.updated(row, wet_prefilter=path, wet_floor=calibration.floor)
            model.metrics = {**metrics, "prefilter": calibration.as_dict()}
        db.add(row)
        db.commit()
        db.refresh(model)
        return model
