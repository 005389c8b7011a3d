"""Precision, recall and F1 from confusion counts, written once (the classifier's held-out metrics, a round's
measurement against url labels, the bench)."""

from __future__ import annotations


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """(precision, recall, F1); each is 0.0 where its denominator is empty (nothing kept, no positives)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
