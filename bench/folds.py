"""The bench's corpus and models: CC-MAIN-DEV split into host folds by sha1(host) % 2, one model per fold
(BPE fastText, and a plain one for datatrove), cached in bench/.cache by everything that changes them; the
out-of-fold judge and the quality of a kept set."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache"
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
THRESHOLD = 0.5
SCORE_BATCH = 512
FOLDS = 2
FOLD_SCHEME = "sha1(host) % 2"  # in the cache key: changing the split retrains


def warc_files(corpus: Path, crawl: str) -> list[str]:
    return sorted(str(p) for p in (corpus / "crawl-data" / crawl).glob("segments/*/warc/*.warc.gz"))


def read_labels(corpus: Path, crawl: str) -> dict[str, bool]:
    with (corpus / "labels" / f"{crawl}.jsonl").open(encoding="utf-8") as fh:
        return {row["url"]: row["label"] == "code" for row in map(json.loads, fh)}


def _sha(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


# -- the models: one per host fold of DEV, cached by everything that changes them -------------------------------


@lru_cache(maxsize=65536)
def _host_fold(host: str) -> int:
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:8], "big") % FOLDS


def host_fold(url: str) -> int:
    """The DEV fold of a URL: a stable hash of its host, so every page of a site lands in the same fold."""
    from webrecall.core.urls.domains import split_url

    return _host_fold(split_url(url)[0])


def signals_spec(signals: bool) -> dict | None:
    """The code-signals spec a round trains with (`code_signal_repeat`, on by default), or None for a model of the
    text alone (the plain baseline's: its trafilatura text has no markup to count)."""
    from webrecall.core.settings import Settings
    from webrecall.core.text.features import spec

    repeat = Settings().code_signal_repeat
    return spec(repeat) if signals and repeat else None


def model_dirs(corpus: Path, *, signals: bool = True) -> tuple[Path, ...]:
    """Key: fastText params, BPE vocab, code signals, DEV labels, the fold split and the training code;
    `-fold<k>` = trained on fold k only. `signals=True` is the model a round trains (ours); False the text-only
    model of the plain baseline."""
    from webrecall.core.settings import Settings

    settings = Settings()
    key = json.dumps(
        {
            "ft": settings.ft.model_dump(),
            "vocab": settings.bpe_vocab_size,
            "signals": signals_spec(signals),
            "labels": _sha(corpus / "labels" / "CC-MAIN-DEV.jsonl"),
            "code": _sha(*(ROOT / "webrecall/core" / f for f in ("model/classifier.py", "text/tokenizer.py",
                                                                  "text/extract.py", "text/features.py"))),
            "folds": FOLD_SCHEME,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return tuple(CACHE / f"model-{digest}-fold{k}" for k in range(FOLDS))


def ensure_models(corpus: Path, *, signals: bool = True) -> tuple[Path, ...]:
    outs = model_dirs(corpus, signals=signals)
    todo = [k for k, out in enumerate(outs) if not (out / "meta.json").exists()]  # written last by Classifier.save
    # datatrove's plain models go with the text-only pair (the baseline's), whose training pages they share
    plain_todo = [] if signals else [k for k, out in enumerate(outs) if not plain_model(out).exists()]
    if not todo and not plain_todo:
        return outs
    from webrecall.core.model.classifier import Classifier
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import index_warc
    from webrecall.core.settings import Settings
    from webrecall.core.storage.store import Store
    from webrecall.core.text.features import with_signals

    settings, labels, spec = Settings(), read_labels(corpus, "CC-MAIN-DEV"), signals_spec(signals)
    folds: list[tuple[list[str], list[bool], set[str]]] = [([], [], set()) for _ in range(FOLDS)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-dev-") as tmp:
        store = Store(tmp)
        for path in warc_files(corpus, "CC-MAIN-DEV"):
            table = store.read_table(index_warc(path, store=store, stats=Stats()),
                                     columns=["url", "domain", "text", "signals"])
            cols = (table["url"].to_pylist(), table["domain"].to_pylist(), table["text"].to_pylist(),
                    table["signals"].to_pylist())
            for url, host, text, sig in zip(*cols, strict=True):
                if url in labels:
                    texts, ys, hosts = folds[host_fold(url)]
                    texts.append(with_signals(text, sig) if spec else text)  # as a round's seeds carry them
                    ys.append(labels[url])
                    hosts.add(host)
    sizes = ", ".join(f"fold {k}: {len(f[0])} pages ({sum(f[1])} code, {len(f[2])} hosts)" for k, f in enumerate(folds))
    print(f"model: labelled DEV pages indexed in {time.perf_counter() - start:.0f}s; {sizes}", file=sys.stderr)
    for k in todo:
        texts, ys, hosts = folds[k]
        out = outs[k]
        clf = Classifier.train(texts, ys, params=settings.ft, vocab_size=settings.bpe_vocab_size, version=out.name,
                               signals=spec)
        clf.meta["fold"] = {"k": k, "of": FOLDS, "scheme": FOLD_SCHEME, "hosts": len(hosts)}
        print(f"model: fold {k} trained in {clf.meta['train_seconds']}s -> {out}", file=sys.stderr)
        clf.save(out)
    for k in plain_todo:
        train_plain(folds[k][0], folds[k][1], settings.ft, plain_model(outs[k]))  # text-only pair: plain texts
    return outs


def plain_model(bpe_model: Path) -> Path:
    return bpe_model.with_name(f"{bpe_model.name}-plain.bin")


def train_plain(texts: list[str], ys: list[bool], params, out: Path) -> None:
    """A fastText model as a datatrove user trains one: the page text on one line (whitespace words, no BPE), the
    same fold pages and hyper-parameters as the BPE model, so only the tokenization differs."""
    import random

    from webrecall.core.model.classifier import NEGATIVE, POSITIVE, epochs_for, train_fasttext

    start = time.perf_counter()
    lines = [
        f"{POSITIVE if y else NEGATIVE} {' '.join(t.split())}" for t, y in zip(texts, ys, strict=True) if t.strip()
    ]
    random.Random(params.seed).shuffle(lines)
    tokens = sum(line.count(" ") for line in lines)
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-plain-") as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model, _, _ = train_fasttext(str(path), params, epochs_for(params, tokens))  # the round's own training call
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    print(f"model: plain fastText trained in {time.perf_counter() - start:.0f}s -> {out}", file=sys.stderr)


def judge(url: str) -> int:
    """The model that decides a page out-of-fold: model k trained on fold k, so a page of fold 0 is judged by
    model B (1) and a page of fold 1 by model A (0)."""
    return 1 - host_fold(url)


def load_model(path: Path):
    from webrecall.core.model.classifier import Classifier

    return Classifier.load(path)


def quality(kept: list[str], labels: dict[str, bool]) -> dict:
    from webrecall.core.model.scoring import precision_recall_f1

    kept_set = set(kept)
    tp = sum(labels.get(u, False) for u in kept_set)
    positives = sum(labels.values())
    precision, recall, f1 = precision_recall_f1(tp, len(kept_set) - tp, positives - tp)  # unlabelled kept count as fp
    unlabelled = sum(u not in labels for u in kept_set)
    return {"f1": f1, "precision": precision, "recall": recall, "kept": len(kept_set), "unlabelled_kept": unlabelled}


