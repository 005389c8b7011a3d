"""The fastText code-page classifier on BPE-pre-tokenized text: train, save/load, score, evaluate."""

from __future__ import annotations

import functools
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webrecall.core.model.allocator import zeroed_allocations
from webrecall.core.model.scoring import precision_recall_f1
from webrecall.core.settings import FastTextParams
from webrecall.core.text.features import prefix, spec_id, split_signals
from webrecall.core.text.tokenizer import BpeTokenizer

POSITIVE = "__label__code"
NEGATIVE = "__label__other"
MODEL_FILE, TOKENIZER_FILE, META_FILE = "model.bin", "tokenizer.json", "meta.json"


@dataclass(slots=True)
class Metrics:
    n: int
    positives: int
    precision: float
    recall: float
    f1: float
    roc_auc: float
    accuracy: float
    threshold: float

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def epochs_for(params: FastTextParams, tokens: int) -> int:
    """The papers' epoch count assumes ~1M seed pages; small seeds get passes until enough updates."""
    needed = math.ceil(params.min_epoch_updates / max(tokens, 1))
    return max(1, min(params.max_epoch, max(params.epoch, needed)))


def load_tokenizer(directory: str | Path) -> tuple[dict[str, Any], BpeTokenizer]:
    """A saved model's meta and tokenizer without its fastText weights (a later round needs only these)."""
    src = Path(directory)
    meta = json.loads((src / META_FILE).read_text(encoding="utf-8"))
    return meta, BpeTokenizer.load(src / TOKENIZER_FILE, max_tokens=int(meta["max_tokens"]))


class Classifier:
    """A fastText model over BPE-pretokenized text (and code-signal tokens): a `scorer.Scorer`."""

    def __init__(self, model: Any, tokenizer: BpeTokenizer, *, version: str, meta: dict[str, Any]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.version = version
        self.meta = meta
        labels = list(model.get_labels())
        if POSITIVE not in labels:
            raise ValueError(f"model has no {POSITIVE} label: {labels}")

    @classmethod
    def train(
        cls,
        texts: list[str],
        labels: list[bool],
        *,
        params: FastTextParams,
        vocab_size: int = 16_000,
        version: str = "r1",
        tokenizer: BpeTokenizer | None = None,
        signals: dict[str, int] | None = None,
    ) -> Classifier:
        """Train BPE (unless `tokenizer` is given: later rounds keep round 1's, as the papers keep one) + fastText.

        `signals`: a `core.text.features.spec`; the model then reads code-structure tokens before each page's BPE."""
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        pairs = [(t, y) for t, y in zip(texts, labels, strict=True) if t.strip()]
        if not any(y for _, y in pairs) or all(y for _, y in pairs):
            raise ValueError("training needs both code and other pages with text")
        start = time.perf_counter()
        if tokenizer is None:
            tokenizer = BpeTokenizer.train(
                (split_signals(t)[1] for t, _ in pairs), vocab_size=vocab_size, max_tokens=params.max_tokens
            )
        lines = _lines(tokenizer, signals, [t for t, _ in pairs])
        tokens = sum(line.count(" ") + 1 for line in lines)
        epochs = epochs_for(params, tokens)
        with tempfile.TemporaryDirectory(prefix="webrecall-ft-") as tmp:
            path = Path(tmp) / "train.txt"
            # fastText reads its file in order and never shuffles: seeds come grouped (positives, then negatives), and
            # one SGD pass over sorted blocks learns the last block best (round 2 recall on CC-MAIN-DEV 0.92 -> 0.99)
            order = list(range(len(lines)))
            random.Random(params.seed).shuffle(order)
            with path.open("w", encoding="utf-8") as f:
                for i in order:
                    f.write(f"{POSITIVE if pairs[i][1] else NEGATIVE} {lines[i]}\n")
            model, lr, seed = train_fasttext(str(path), params, epochs)
        meta = {
            "version": version,
            "params": params.model_dump(),
            "vocab_size": vocab_size,
            "max_tokens": tokenizer.max_tokens,
            "train": {"n": len(pairs), "positives": sum(y for _, y in pairs), "tokens": tokens},
            "epochs_used": epochs,
            "lr_used": lr,
            "seed_used": seed,
            "train_seconds": round(time.perf_counter() - start, 2),
        }
        if signals:
            meta["signals"] = signals
        return cls(model, tokenizer, version=version, meta=meta)

    def save(self, directory: str | Path) -> None:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(out / MODEL_FILE))
        self.tokenizer.save(out / TOKENIZER_FILE)
        # meta.json last: its presence marks a complete model directory
        (out / META_FILE).write_text(json.dumps(self.meta, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        import fasttext

        src = Path(directory)
        meta, tokenizer = load_tokenizer(src)
        model = fasttext.load_model(str(src / MODEL_FILE))
        return cls(model, tokenizer, version=str(meta["version"]), meta=meta)

    def score(self, texts: list[str]) -> np.ndarray:
        """P(code) per text as float32; a text with no content scores 0.0."""
        return self.score_lines(self.tokenize(texts))

    @property
    def input_id(self) -> str:
        """What turns a text into this model's input line: the token-cache key (tokenizer + code-signals spec)."""
        sid = spec_id(self.meta.get("signals"))
        return f"{self.tokenizer.id}-s{sid}" if sid else self.tokenizer.id

    def tokenize(self, texts: list[str]) -> list[str]:
        """The fastText input line per text ('' for a text with no content). A text may start with its page's
        signals line (`webrecall.core.text.features.with_signals`)."""
        parts = [split_signals(t) for t in texts]
        idx = [i for i, (_, t) in enumerate(parts) if t and not t.isspace()]
        lines = [""] * len(texts)
        for i, line in zip(idx, _lines(self.tokenizer, self.meta.get("signals"), [texts[i] for i in idx]), strict=True):
            lines[i] = line
        return lines

    def score_batch(self, rows: Mapping[str, Sequence[Any]], lines: list[str]) -> np.ndarray:
        """The `Scorer` seam: fastText reads the input lines only."""
        return self.score_lines(lines)

    def score_lines(self, lines: list[str]) -> np.ndarray:
        """Score already tokenized lines (e.g. from the token cache); an empty line scores 0.0."""
        scores = np.zeros(len(lines), dtype=np.float32)
        idx = [i for i, line in enumerate(lines) if line]
        if not idx:
            return scores
        labels, probs = self.model.predict([lines[i] for i in idx], k=-1, threshold=0.0)
        for j, (labs, ps) in enumerate(zip(labels, probs, strict=True)):
            # k=-1 returns every label; with two labels P(code) is its entry (fastText clips probs at 1e-5)
            p = ps[0] if labs[0] == POSITIVE else (ps[1] if len(ps) > 1 else 1.0 - ps[0])
            scores[idx[j]] = p
        return np.clip(scores, 0.0, 1.0)

    def evaluate(self, texts: list[str], labels: list[bool], *, threshold: float = 0.5) -> Metrics:
        return metrics(self.score(texts), labels, threshold=threshold)


SEED_RETRIES = 2
"""Retries at the same learning rate with the next fastText seeds when training diverges ("Encountered NaN")."""
LR_HALVINGS = 6
"""Then retries at half the rate, as many times: a rate that still diverges is a configuration error."""


def train_fasttext(path: str, params: FastTextParams, epochs: int) -> tuple[Any, float, int]:
    """fastText trained on the labelled lines in `path`; (model, the learning rate and the seed that trained it).

    Heap memory is zero-filled while it trains (`allocator.zeroed_allocations`: fastText leaves 90% of its input
    matrix uninitialised). SGD at a too high rate still diverges (fastText raises "Encountered NaN"): a retry at
    the same rate with another seed comes first, since a lower rate may underfit (the one bench fold model that fell
    back to lr 0.25, before the guard, scored BENCH F1 0.51 against 0.74); the rate is halved only when the seeds do
    not help. The model's meta records both, so a round says how it was trained."""
    import fasttext

    attempts = [(params.lr, params.seed + k) for k in range(SEED_RETRIES + 1)]
    attempts += [(params.lr / 2**k, params.seed) for k in range(1, LR_HALVINGS + 1)]
    for n, (lr, seed) in enumerate(attempts):
        try:
            with zeroed_allocations():
                model = fasttext.train_supervised(
                    input=path, dim=params.dim, lr=lr, wordNgrams=params.word_ngrams, minCount=params.min_count,
                    epoch=epochs, bucket=params.bucket, loss=params.loss, thread=params.threads, seed=seed,
                    verbose=0,
                )  # fmt: skip
            return model, lr, seed
        except RuntimeError as exc:
            if "NaN" not in str(exc) or n == len(attempts) - 1:
                raise
    raise AssertionError("unreachable")


def _lines(tokenizer: BpeTokenizer, signals: dict[str, Any] | None, texts: list[str]) -> list[str]:
    parts = [split_signals(t) for t in texts]
    lines = tokenizer.pretokenize([t for _, t in parts])
    if not signals:
        return lines
    return [f"{prefix(signals, sig, text)} {line}" for (sig, text), line in zip(parts, lines, strict=True)]


def metrics(scores: np.ndarray, labels: list[bool], *, threshold: float = 0.5) -> Metrics:
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    accuracy = float(np.mean(pred == y)) if len(y) else 0.0
    return Metrics(
        n=len(y),
        positives=int(y.sum()),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(s, y),
        accuracy=accuracy,
        threshold=threshold,
    )


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney U with average ranks for ties; NaN when only one class is present."""
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average rank of each run of equal scores
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Classifier:
    return Classifier.load(path)


def load_cached(directory: str | Path) -> Classifier:
    """One Classifier per model directory per process (workers score many WARCs with one model)."""
    return _load_cached(os.path.abspath(os.fspath(directory)))
