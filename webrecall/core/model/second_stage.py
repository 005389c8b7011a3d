"""Two-stage scoring (coarse to fine): fastText first, then a small model over the page's code structure and the
fastText logit, applied only to the pages fastText scores above a low floor.

fastText reads the tokens of a page; the second stage (scikit-learn's `HistGradientBoostingClassifier`) reads the
numbers `model.prior` computes from its markup and line shapes (the same for every language) together with
fastText's logit, so it can keep a code page whose words the seeds never showed and drop a page whose words look like
documentation but has no code at all. It is trained on the round's labelled pages (positives, hard negatives, page
labels, random negatives): their fastText logits are cross-fitted (each page scored by a fastText model trained
without its host, `CROSS_FOLDS` of them with the round's tokenizer), so the second stage learns how far to trust a
logit on pages fastText has not seen. It is a `Scorer` that wraps the first: the passes take it unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from webrecall.core.model import prior
from webrecall.core.model.classifier import Classifier, load_cached
from webrecall.core.settings import FastTextParams
from webrecall.core.text.features import split_signals
from webrecall.core.urls.domains import split_url

FILE = "second_stage.pkl"
FLOOR = 0.02
"""Pages fastText scores under this keep their fastText score (far from any threshold: the fine stage's cost goes to
the pages that can be kept)."""
CROSS_FOLDS = 3
MIN_PAGES = 40
"""Fewer labelled pages above the floor than this (or only one class) train no second stage."""
EPS = 1e-5


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def inputs(shapes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The second stage's input rows: the page's code-structure numbers and the fastText logit."""
    return np.column_stack([shapes, logit(scores)]).astype(np.float32)


def _shapes_of(texts: list[str]) -> np.ndarray:
    parts = [split_signals(t) for t in texts]
    return prior.vectors([s for s, _ in parts], [t for _, t in parts])


class SecondStage:
    """fastText, then the fine model above `floor`: a `scorer.Scorer`."""

    def __init__(self, first: Classifier, model: Any, *, floor: float = FLOOR) -> None:
        self.first, self.model, self.floor = first, model, floor

    @property
    def version(self) -> str:
        return self.first.version

    @property
    def input_id(self) -> str:
        return self.first.input_id

    @property
    def meta(self) -> dict[str, Any]:
        return self.first.meta

    def tokenize(self, texts: list[str]) -> list[str]:
        return self.first.tokenize(texts)

    def refine(self, scores: np.ndarray, shapes: np.ndarray) -> np.ndarray:
        """The fine stage's P(code) for the pages at or above the floor; the others keep their first score."""
        out = np.asarray(scores, dtype=np.float32).copy()
        idx = np.flatnonzero(out >= self.floor)
        if len(idx):
            out[idx] = self.model.predict_proba(inputs(shapes[idx], out[idx]))[:, 1]
        return out

    def score_batch(self, rows: Mapping[str, Sequence[Any]], lines: list[str]) -> np.ndarray:
        """Each page's code-structure numbers come with the batch (`rows["shape"]`, cached with its token lines) or
        are computed from its signals and text."""
        scores = self.first.score_batch(rows, lines)
        given = rows.get("shape")
        shapes = prior.vectors(rows.get("signals"), list(rows["text"])) if given is None else np.asarray(given)
        return self.refine(scores, shapes.astype(np.float32))

    def score(self, texts: list[str]) -> np.ndarray:
        return self.refine(self.first.score(texts), _shapes_of(texts))

    def save(self, directory: str | Path) -> None:
        """Beside the first stage's files; its meta (written last by `Classifier.save`) says it is there."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / FILE).write_bytes(pickle.dumps(self.model))
        self.first.meta["second_stage"] = {**self.first.meta.get("second_stage", {}), "floor": self.floor}
        self.first.save(out)

    @classmethod
    def load(cls, directory: str | Path, first: Classifier) -> SecondStage:
        meta = first.meta["second_stage"]
        return cls(first, pickle.loads((Path(directory) / FILE).read_bytes()), floor=float(meta["floor"]))


def _host_fold(url: str, folds: int) -> int:
    host = split_url(url)[0] if url else ""
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:8], "big") % folds


def cross_fitted(texts: list[str], labels: list[bool], urls: list[str], *, first: Classifier, params: FastTextParams,
                 folds: int = CROSS_FOLDS) -> np.ndarray:  # fmt: skip
    """Each page's fastText score from a model trained without its host's fold (the first stage's tokenizer and
    signals; a page without URL, a seed file's text, goes by its empty host). A fold whose training part lacks a class
    is scored by the first stage itself."""
    fold = np.asarray([_host_fold(u, folds) for u in urls])
    y = np.asarray(labels, dtype=bool)
    out = np.zeros(len(texts), dtype=np.float32)
    for k in range(folds):
        test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        if not len(test):
            continue
        part = [texts[i] for i in test]
        if y[train].all() or not y[train].any():
            out[test] = first.score(part)
            continue
        model = Classifier.train([texts[i] for i in train], y[train].tolist(), params=params,
                                 tokenizer=first.tokenizer, signals=first.meta.get("signals"),
                                 version=f"{first.version}-cross{k}")  # fmt: skip
        out[test] = model.score(part)
    return out


def train(first: Classifier, texts: list[str], labels: list[bool], urls: list[str], *, params: FastTextParams,
          floor: float = FLOOR, seed: int = 0) -> SecondStage | None:  # fmt: skip
    """The second stage for `first`, trained on its labelled pages (each text behind its signals line, as the seeds
    carry them); None when too few of them score above the floor or they are of one class."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    scores = cross_fitted(texts, labels, urls, first=first, params=params)
    above = np.flatnonzero(scores >= floor)
    y = np.asarray(labels, dtype=bool)[above]
    if len(above) < MIN_PAGES or y.all() or not y.any():
        return None
    x = inputs(_shapes_of([texts[i] for i in above]), scores[above])
    # shallow and regularised: a few thousand labelled pages, about fifteen inputs
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=10,
                                           l2_regularization=1.0, random_state=seed)  # fmt: skip
    model.fit(x, y)
    first.meta["second_stage"] = {"floor": floor, "pages": int(len(above)), "positives": int(y.sum()),
                                  "cross_folds": CROSS_FOLDS}  # fmt: skip
    return SecondStage(first, model, floor=floor)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> SecondStage:
    return SecondStage.load(path, load_cached(path))


def load_scorer(directory: str | Path) -> Classifier | SecondStage:
    """A model directory's scorer: its second stage when it has one, else its fastText model (one per process)."""
    path = os.path.abspath(os.fspath(directory))
    first = load_cached(path)
    return _load_cached(path) if "second_stage" in first.meta else first
