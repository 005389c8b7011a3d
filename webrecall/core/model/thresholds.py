"""Thresholds that mean something: chosen on held-out seeds for a target precision, with the counts behind them.

A threshold chosen for precision 0.95 on 18 positives is set by a single page; so every choice reports how many
positives and negatives decided it and a Wilson interval for the precision and recall it promises.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0 and n, unlike the normal approximation)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(slots=True)
class Threshold:
    threshold: float
    target: float
    precision: float
    recall: float
    tp: int
    fp: int
    positives: int
    negatives: int
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    met: bool
    """False when no threshold keeps a page at the target precision: then the best precision is returned."""

    def as_dict(self) -> dict:
        out = asdict(self)
        for k in ("threshold", "precision", "recall"):
            out[k] = round(out[k], 4)
        out["precision_ci"] = [round(x, 4) for x in self.precision_ci]
        out["recall_ci"] = [round(x, 4) for x in self.recall_ci]
        return out


def at_threshold(
    scores: np.ndarray, labels: list[bool] | np.ndarray, threshold: float, target: float = 0.0, *, bound: bool = False
) -> Threshold:
    """`bound`: the target is met by the Wilson lower bound of the precision, not the precision itself."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    pred = s >= threshold
    tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / n_pos if n_pos else 0.0
    return Threshold(threshold=float(threshold), target=target, precision=precision, recall=recall, tp=tp, fp=fp,
                     positives=n_pos, negatives=n_neg, precision_ci=wilson(tp, tp + fp), recall_ci=wilson(tp, n_pos),
                     met=tp > 0 and (wilson(tp, tp + fp)[0] if bound else precision) >= target)  # fmt: skip


def for_precision(
    scores: np.ndarray, labels: list[bool] | np.ndarray, *, target: float, floor: float = 0.05, ceiling: float = 0.95,
    bound: bool = False,
) -> Threshold:
    """The lowest threshold in [floor, ceiling] whose precision on these held-out pages is >= target (the most
    recall that keeps the promise); `bound`: whose precision's Wilson lower bound is. The bounds keep one stray page
    from pushing the threshold to an extreme."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    candidates = sorted({float(v) for v in s if floor <= v <= ceiling} | {floor, ceiling}, reverse=True)
    best: Threshold | None = None
    chosen: Threshold | None = None
    for t in candidates:
        got = at_threshold(s, y, t, target, bound=bound)
        if best is None or got.precision > best.precision:
            best = got
        if got.met:
            chosen = got
    if chosen is not None:
        return chosen
    assert best is not None
    return best
