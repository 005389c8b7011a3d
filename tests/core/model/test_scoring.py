"""P/R/F1 from confusion counts, including the empty cases the callers rely on."""

import pytest

from webrecall.core.model.scoring import precision_recall_f1


def test_counts_give_precision_recall_and_their_harmonic_mean():
    assert precision_recall_f1(3, 1, 2) == pytest.approx((0.75, 0.6, 2 * 0.75 * 0.6 / 1.35))


@pytest.mark.parametrize(("counts", "expected"), [((0, 0, 0), (0.0, 0.0, 0.0)), ((0, 0, 5), (0.0, 0.0, 0.0)),
                                                  ((0, 4, 0), (0.0, 0.0, 0.0)), ((2, 0, 0), (1.0, 1.0, 1.0))])
def test_empty_denominators_are_zero(counts, expected):
    assert precision_recall_f1(*counts) == expected
