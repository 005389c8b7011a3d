"""The generalisation check: does a model seeded with a few documentation sites find code elsewhere?

The test pages are the hosts in the first `HOLDOUT_FRACTION` of the plain host hash (`urls.labelfile.host_hash`; on
CC-MAIN-DEV 4 of its 10 documentation hosts, one of them with its pages in 11 languages, and ~240 general pages) and
every hand-judged (`kind: manual`) page, which never trains. Positives are the documentation pages of the other
hosts, negatives their general pages. The threshold is chosen on held-out seeds (a URL-hash slice of the training
pages, never trained on) for a target precision, so nothing is fitted to the test pages. Reported on pages no model
saw: recall on the held-out documentation hosts and on their non-English pages, manual code pages found (of 18),
manual non-code pages kept (of 17), false positives on the held-out general pages, precision and F1 over all of
them, each with its count and a Wilson interval. `bench_quality` measures CC-MAIN-BENCH's F1 the way `bench/run.py`
does (two models, one per DEV host fold, each page judged by the model that never saw its host).
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webrecall.core.labelfile import host_hash
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.seeds import is_heldout
from webrecall.core.model.synthetic import synthesize
from webrecall.core.model.thresholds import at_threshold, for_precision, wilson
from webrecall.core.settings import Settings
from webrecall.core.text.extract import DEFAULT
from webrecall.core.text.features import spec, split_signals
from webrecall.core.urls.domains import split_url

HOLDOUT_FRACTION = 0.2
"""Of the hosts, by the plain host hash: the held-out slice (the demo holds out the same one)."""
CALIBRATION_FRACTION = 0.2
"""Share of the training hosts' pages (by URL hash) held out to choose the threshold."""


@dataclass(slots=True)
class Variant:
    name: str
    signals: bool = False
    synthetic: float = 0.0


VARIANTS = {
    "today": Variant("today"),
    "signals": Variant("signals", signals=True),
    "signals+synthetic": Variant("signals+synthetic", signals=True, synthetic=0.5),
}


def load_pages(corpus: Path, crawl: str, cache_dir: Path, extractor: str = DEFAULT) -> list[dict[str, Any]]:
    """Labelled pages of a crawl as classifier inputs (text behind its code signals), from the project's own index
    pass; cached by the code that computes them."""
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import index_warc, scoring_texts
    from webrecall.core.storage.store import Store

    root = Path(__file__).resolve().parents[1]
    key = hashlib.sha256()
    for name in ("text/features.py", "text/extract.py", "pipeline/passes.py"):
        key.update((root / name).read_bytes())
    key.update((corpus / "labels" / f"{crawl}.jsonl").read_bytes() + b"|lang")
    out = cache_dir / f"generalise-{crawl}-{key.hexdigest()[:16]}.jsonl"
    if out.exists():
        return [json.loads(line) for line in out.open(encoding="utf-8")]
    with (corpus / "labels" / f"{crawl}.jsonl").open(encoding="utf-8") as fh:
        labels = {row["url"]: row for row in map(json.loads, fh)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="webrecall-generalise-") as tmp:
        store = Store(tmp)
        for path in sorted((corpus / "crawl-data" / crawl).glob("segments/*/warc/*.warc.gz")):
            data = store.read_table(index_warc(str(path), store=store, stats=Stats(), extractor=extractor)).to_pydict()
            for url, text in zip(data["url"], scoring_texts(data), strict=True):
                if url in labels:
                    lab = labels[url]
                    rows.append({"url": url, "host": split_url(url)[0], "text": text, "code": lab["label"] == "code",
                                 "kind": lab["kind"], "lang": lab.get("lang")})  # fmt: skip
    cache_dir.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return rows


def train(variant: Variant, texts: list[str], labels: list[bool], *, settings: Settings, seed: int) -> Classifier:
    """A model as a round trains it, with this variant's input and synthetic pages (sampled with `seed`)."""
    texts, labels = list(texts), list(labels)
    if variant.synthetic:
        pos = [t for t, y in zip(texts, labels, strict=True) if y]
        neg = [t for t, y in zip(texts, labels, strict=True) if not y]
        syn_pos, syn_neg = synthesize(pos, neg, share=variant.synthetic, rng=random.Random(seed))
        texts += syn_pos + syn_neg
        labels += [True] * len(syn_pos) + [False] * len(syn_neg)
    if not variant.signals:
        texts = [split_signals(t)[1] for t in texts]
    params = settings.ft.model_copy(update={"seed": seed})
    return Classifier.train(texts, labels, params=params, vocab_size=settings.bpe_vocab_size, version=variant.name,
                            signals=spec(settings.code_signal_repeat) if variant.signals else None)  # fmt: skip


def held_out(row: dict[str, Any]) -> bool:
    """A test page: its host is in the held-out slice, or it was judged by hand."""
    return row["kind"] == "manual" or host_hash(row["host"]) < HOLDOUT_FRACTION


def check(
    rows: list[dict[str, Any]], variant: Variant, *, settings: Settings, seed: int = 0, target: float = 0.99,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """Train on the hosts outside the held-out slice, choose the threshold on held-out seeds, report on the slice."""
    fit: list[dict] = []
    calib: list[dict] = []
    test: list[dict] = []
    for r in rows:
        if held_out(r):
            test.append(r)
        else:
            (calib if is_heldout(r["url"], CALIBRATION_FRACTION) else fit).append(r)
    log(f"{variant.name}: training on {len(fit)} pages ({sum(r['code'] for r in fit)} code)")
    clf = train(variant, [r["text"] for r in fit], [r["code"] for r in fit], settings=settings, seed=seed)
    cal_scores = clf.score([r["text"] for r in calib])
    chosen = for_precision(cal_scores, [r["code"] for r in calib], target=target)
    scores = clf.score([r["text"] for r in test])
    train_hosts = sorted({r["host"] for r in fit if r["kind"] == "docs"})
    test_hosts = sorted({r["host"] for r in test if r["kind"] == "docs"})
    out: dict[str, Any] = {"variant": variant.name, "seed": seed, "train_hosts": train_hosts,
                           "heldout_docs_hosts": test_hosts, "heldout_hosts": len({r["host"] for r in test}),
                           "train": {"pages": len(fit), "code": sum(r["code"] for r in fit)},
                           "calibration": chosen.as_dict(), "at": {}}  # fmt: skip
    for name, t in (("chosen", chosen.threshold), ("0.5", 0.5)):
        out["at"][name] = _report(test, scores, t)
    return out


def _report(test: list[dict], scores: np.ndarray, threshold: float) -> dict[str, Any]:
    kept = scores >= threshold

    def count(pred: Callable[[dict], bool]) -> tuple[int, int]:
        idx = [i for i, r in enumerate(test) if pred(r)]
        return int(sum(kept[i] for i in idx)), len(idx)

    docs = count(lambda r: r["kind"] == "docs")
    other_lang = count(lambda r: r["kind"] == "docs" and r.get("lang") not in ("en", None))
    manual_code = count(lambda r: r["kind"] == "manual" and r["code"])
    manual_other = count(lambda r: r["kind"] == "manual" and not r["code"])
    web = count(lambda r: r["kind"] == "web")
    overall = at_threshold(scores, np.array([r["code"] for r in test]), threshold)
    f1 = 2 * overall.precision * overall.recall / (overall.precision + overall.recall) if overall.tp else 0.0
    return {"threshold": round(threshold, 4), "heldout_docs_recall": round(docs[0] / max(docs[1], 1), 4),
            "heldout_docs": list(docs), "heldout_docs_ci": [round(x, 3) for x in wilson(*docs)],
            "non_english_docs": list(other_lang), "non_english_docs_ci": [round(x, 3) for x in wilson(*other_lang)],
            "manual_code_found": list(manual_code), "manual_noncode_kept": list(manual_other),
            "web_false_positives": list(web), "precision": round(overall.precision, 4),
            "precision_ci": [round(x, 3) for x in overall.precision_ci], "recall": round(overall.recall, 4),
            "f1": round(f1, 4), "pages": len(test)}  # fmt: skip


def _fold(url: str) -> int:
    """bench/run.py's `host_fold`: sha1(host) % 2."""
    return int.from_bytes(hashlib.sha1(split_url(url)[0].encode()).digest()[:8], "big") % 2


def bench_quality(
    dev: list[dict[str, Any]], bench: list[dict[str, Any]], variant: Variant, *, settings: Settings, seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """CC-MAIN-BENCH F1 and precision at 0.5, by bench/run.py's method: model k trains on DEV host fold k and
    judges the BENCH pages of the other fold (`judge`: 1 - host_fold)."""
    scores = np.zeros(len(bench))
    for k in (0, 1):
        part = [r for r in dev if _fold(r["url"]) == k]
        log(f"{variant.name}: BENCH model {k} on {len(part)} DEV pages")
        clf = train(variant, [r["text"] for r in part], [r["code"] for r in part], settings=settings, seed=seed)
        idx = [i for i, r in enumerate(bench) if 1 - _fold(r["url"]) == k]
        for i, s in zip(idx, clf.score([bench[i]["text"] for i in idx]), strict=True):
            scores[i] = s
    got = at_threshold(scores, np.array([r["code"] for r in bench]), 0.5)
    f1 = 2 * got.precision * got.recall / (got.precision + got.recall) if got.tp else 0.0
    return {"variant": variant.name, "pages": len(bench), "code": got.positives, "tp": got.tp, "fp": got.fp,
            "precision": round(got.precision, 4), "recall": round(got.recall, 4), "f1": round(f1, 4)}  # fmt: skip
