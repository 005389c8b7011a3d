"""Calibrating the cascade margin: the smallest band that keeps the plain pipeline's code pages."""

import numpy as np
import pytest

from webrecall.core.model.calibration import calibrate_margin, cascade_keeps

# page:        0     1     2     3     4     5
FAST = [0.90, 0.46, 0.32, 0.10, 0.60, 0.20]  # noqa: E241 - scores on the resiliparse text
FULL = [0.95, 0.70, 0.80, 0.90, 0.40, 0.10]  # noqa: E241 - scores on the trafilatura text
CODE = [True, True, True, True, False, False]


def test_cascade_keeps_the_fast_decision_and_promotes_the_band():
    keeps = cascade_keeps(np.array(FAST), np.array(FULL), threshold=0.5, margin=0.2)
    # 0 and 4 on the fast score; 2 (0.32) is in [0.3, 0.5) and passes on trafilatura; 3 lies outside the band
    assert keeps.tolist() == [True, True, True, False, True, False]


def test_the_margin_is_the_smallest_that_reaches_the_target():
    # the plain pipeline keeps code pages 0-3; the cascade needs the band to reach 0.10 (page 3) for all four
    cal = calibrate_margin(FAST, FULL, CODE, threshold=0.5, target=1.0, step=0.05)
    assert cal.reference_pages == 4 and cal.pages == 6
    assert cal.margin == pytest.approx(0.40) and cal.kept_share == 1.0
    assert cal.rescored_share == pytest.approx(4 / 6)  # pages 1, 2, 3 and 5 fall in [0.1, 0.5)
    by_margin = {round(p["margin"], 2): p["kept_share"] for p in cal.curve}
    assert by_margin[0.0] == 0.25 and by_margin[0.05] == 0.5 and by_margin[0.2] == 0.75
    # a looser target needs a narrower band
    assert calibrate_margin(FAST, FULL, CODE, threshold=0.5, target=0.75).margin == pytest.approx(0.20)


def test_margin_zero_when_the_fast_score_already_keeps_them_all():
    cal = calibrate_margin([0.9, 0.8, 0.1], [0.9, 0.6, 0.2], [True, True, False], threshold=0.5)
    assert cal.margin == 0.0 and cal.kept_share == 1.0 and cal.rescored_share == 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0.9], [0.2], [True]), {}, "nothing to calibrate"),
        (([0.9, 0.1], [0.9], [True]), {}, "differ in length"),
        (([0.9], [0.9], [True]), {"target": 0.0}, "target"),
        (([0.9], [0.9], [True]), {"step": 0.9}, "step"),
    ],
)
def test_unmeasurable_input_is_a_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate_margin(*args, **kwargs)
