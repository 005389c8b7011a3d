"""The one threshold rule: the operating point a round is trained for."""

from __future__ import annotations

import numpy as np

from webrecall.core.db import Round
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.threshold import operating_point
from webrecall.core.params import RoundParams
from webrecall.core.storage.store import Store


def _ctx(settings, *, target: float, requested: float = 0.5) -> RoundContext:  # type: ignore[no-untyped-def]
    params = RoundParams(threshold_requested=requested, threshold_target=target)
    rnd = Round(id=1, number=1, crawl_id="", base_url="", threshold=requested, params=params.as_json())
    return RoundContext.of(settings, rnd, store=Store(settings.data_dir))


def test_a_target_precision_chooses_the_lowest_threshold_its_lower_bound_allows(settings) -> None:
    scores = np.array([0.95] * 80 + [0.3] * 60 + [0.2] * 8 + [0.05] * 200)
    labels = [True] * 140 + [False] * 208  # at 0.2 eight negatives join 140 positives: lower bound 0.90
    point = operating_point(_ctx(settings, target=0.95), scores, labels)
    assert point == {"requested": 0.5, "target": 0.95, "threshold": 0.3, "rule": "target_precision", "met": True}


def test_too_few_held_out_pages_keep_the_threshold_asked_for(settings) -> None:
    scores, labels = np.array([0.9] * 30 + [0.1] * 30), [True] * 30 + [False] * 30
    point = operating_point(_ctx(settings, target=0.95), scores, labels)
    assert point["threshold"] == 0.5 and point["rule"] == "requested" and point["met"] is False


def test_no_target_keeps_the_threshold_asked_for(settings) -> None:
    scores = np.array([0.95] * 80 + [0.3] * 60 + [0.05] * 200)
    point = operating_point(_ctx(settings, target=0.0, requested=0.7), scores, [True] * 140 + [False] * 200)
    assert point == {"requested": 0.7, "target": 0.0, "threshold": 0.7, "rule": "requested"}
