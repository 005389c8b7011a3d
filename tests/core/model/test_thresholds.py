"""Threshold for a target precision, chosen on held-out seeds, with the counts behind it."""

from __future__ import annotations

import numpy as np

from webrecall.core.model.thresholds import at_threshold, for_precision, wilson


def test_lowest_threshold_that_keeps_the_promise() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.65, 0.35])
    labels = [True, True, True, True, True, False, False, False, False, True]
    got = for_precision(scores, labels, target=0.8)
    # at 0.35: 6 code above, one non-code (0.65): precision 6/7 >= 0.8; at 0.3 another false positive: 6/8 < 0.8
    assert got.threshold == 0.35 and (got.tp, got.fp) == (6, 1) and got.met
    assert got.recall == 1.0 and got.positives == 6 and got.negatives == 4
    assert got.precision_ci[0] < got.precision < got.precision_ci[1]


def test_unreachable_target_is_reported_not_hidden() -> None:
    got = for_precision(np.array([0.9, 0.9, 0.2]), [False, False, True], target=0.99)
    assert not got.met


def test_few_positives_mean_a_wide_interval() -> None:
    lo, hi = wilson(18, 18)
    assert lo < 0.83 and hi == 1.0  # 18 of 18 cannot promise precision 0.95
    assert wilson(1800, 1800)[0] > 0.99
    assert at_threshold(np.array([0.4]), [True], 0.5).tp == 0


def test_a_target_met_by_the_wilson_lower_bound_needs_enough_pages() -> None:
    # 30 held-out positives all kept, no negative kept: precision 1.0, but its lower bound is 0.886
    scores = np.array([0.9] * 30 + [0.1] * 30)
    labels = [True] * 30 + [False] * 30
    assert for_precision(scores, labels, target=0.95).met
    assert not for_precision(scores, labels, target=0.95, bound=True).met
    scores, labels = np.array([0.9] * 100 + [0.1] * 30), [True] * 100 + [False] * 30
    got = for_precision(scores, labels, target=0.95, bound=True)
    assert got.met and got.precision_ci[0] >= 0.95 and got.threshold == 0.9
