"""The WET-first scan's pre-filter (stage 1): a model of a page's WET text, and the floor its candidates pass.

The pre-filter is the round's kind of model (BPE + fastText, line shapes as its only code signals: markup needs
HTML) trained on the WET text of the round's own training pages, labelled as the round's model is. It only decides
which pages are worth fetching: the keep decision stays the round's model's, on the page's main text and signals.

The floor is calibrated out of host: the training pages are split in two folds by a hash of their host, a
pre-filter is trained on each fold and scores the other, and the floor is the highest score that at least
`recall` (99% by default) of the pages the round's model keeps still reach, among those out-of-host scores. With
too few kept pages to have a 1% tail the floor is the lowest of their scores; with none, 0 (every page is a
candidate, as a WARC scan reads every page).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from webrecall.core.model.classifier import Classifier
from webrecall.core.settings import FastTextParams
from webrecall.core.text.tokenizer import BpeTokenizer
from webrecall.core.text.wettext import View, view
from webrecall.core.urls.domains import split_url

FOLDS = 2


def host_fold(url: str) -> int:
    """The calibration fold of a page's host. Salted: a split of the same hosts made by the plain hash (an
    evaluation's host folds) must not put all of one side's hosts in one fold here."""
    host = split_url(url)[0]
    return int.from_bytes(hashlib.sha1(f"prefilter {host}".encode("utf-8", "replace")).digest()[:8], "big") % FOLDS


@dataclass(slots=True)
class Calibration:
    floor: float
    recall: float
    """The share of the out-of-host kept pages at or above the floor."""
    kept: int
    """Training pages the round's model keeps that have an out-of-host pre-filter score."""
    passing: int
    pages: int
    split: str
    """`host`: two host folds; `url` when one host fold had no positives (a round seeded with one site)."""
    candidates: float = 1.0
    """The share of these pages at or above the floor (biased to code: they are training pages)."""
    others: float = 1.0
    """The share of the pages the model does not keep that are at or above the floor: the fetches that buy nothing,
    what the candidate share of a crawl with little code is made of."""
    lowest_kept: float | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"floor": round(self.floor, 6), "recall": round(self.recall, 4), "kept": self.kept,
                "passing": self.passing, "pages": self.pages, "split": self.split,
                "candidates": round(self.candidates, 4), "others": round(self.others, 4),
                "lowest_kept": None if self.lowest_kept is None else round(self.lowest_kept, 6),
                "curve": self.curve}  # fmt: skip


def floor_for(prescores: np.ndarray, kept: np.ndarray, *, recall: float, cap: float) -> tuple[float, int]:
    """The highest floor that `recall` of the kept pages reach (at most `cap`), and how many reach it."""
    mine = np.sort(prescores[kept])
    if not len(mine):
        return 0.0, 0
    k = int(math.floor(len(mine) * (1.0 - recall) + 1e-9))  # at most k kept pages may fall under it
    floor = float(min(mine[k], cap))
    return floor, int((mine >= floor).sum())


def _curve(prescores: np.ndarray, kept: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for floor in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3):
        passing = prescores >= floor
        out.append({"floor": floor, "candidates": round(float(passing.mean()), 4) if len(passing) else 0.0,
                    "kept_passing": int((passing & kept).sum()), "kept": int(kept.sum())})  # fmt: skip
    return out


def train(
    texts: list[str], labels: list[bool], *, params: FastTextParams, vocab_size: int, version: str, mode: View,
    tokenizer: BpeTokenizer | None = None, signals: dict[str, int] | None = None,
) -> Classifier:  # fmt: skip
    """A pre-filter on WET texts (the part `mode` reads of each)."""
    return Classifier.train([view(t, mode) for t in texts], labels, params=params, vocab_size=vocab_size,
                            version=version, tokenizer=tokenizer, signals=signals)  # fmt: skip


def calibrate(
    urls: list[str], texts: list[str], labels: list[bool], kept: list[bool], *, params: FastTextParams,
    vocab_size: int, mode: View, recall: float, cap: float, tokenizer: BpeTokenizer | None = None,
    signals: dict[str, int] | None = None,
) -> Calibration:  # fmt: skip
    """The floor from out-of-host pre-filter scores of the training pages (`kept`: what the round's model keeps of
    each, on its main text)."""
    folds = np.array([host_fold(u) for u in urls])
    y = np.array(labels, dtype=bool)
    split = "host"
    if any(not (y[folds == k].any() and (~y[folds == k]).any()) for k in range(FOLDS)):
        split = "url"  # a fold without both classes cannot train: split by page instead
        folds = np.array([int.from_bytes(hashlib.sha1(u.encode()).digest()[:8], "big") % FOLDS for u in urls])
    scores = np.zeros(len(urls), dtype=np.float32)
    for k in range(FOLDS):
        train_idx, test_idx = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        if not len(test_idx):
            continue
        clf = train([texts[i] for i in train_idx], [labels[i] for i in train_idx], params=params,
                    vocab_size=vocab_size, version=f"fold{k}", mode=mode, tokenizer=tokenizer, signals=signals)
        scores[test_idx] = clf.score([view(texts[i], mode) for i in test_idx])
    kept_arr = np.array(kept, dtype=bool)
    floor, passing = floor_for(scores, kept_arr, recall=recall, cap=cap)
    n_kept = int(kept_arr.sum())
    return Calibration(
        floor=floor, recall=passing / n_kept if n_kept else 1.0, kept=n_kept, passing=passing, pages=len(urls),
        split=split, candidates=float((scores >= floor).mean()) if len(scores) else 1.0,
        others=float((scores[~kept_arr] >= floor).mean()) if (~kept_arr).any() else 1.0,
        lowest_kept=float(scores[kept_arr].min()) if n_kept else None, curve=_curve(scores, kept_arr),
    )  # fmt: skip
