"""model.prefilter: the floor that lets the pages the round's model keeps through."""

from __future__ import annotations

import numpy as np

from webrecall.core.model.prefilter import floor_for, host_fold


def test_the_floor_lets_the_asked_share_of_kept_pages_through():
    rng = np.random.default_rng(0)
    scores = rng.random(1000).astype(np.float32)
    kept = rng.random(1000) < 0.3
    floor, passing = floor_for(scores, kept, recall=0.99, cap=0.5)
    mine = np.sort(scores[kept])
    assert passing == int((scores[kept] >= floor).sum()) and passing / kept.sum() >= 0.99
    assert floor == mine[int(len(mine) * 0.01)]  # the highest such floor: one more kept page under it breaks 99%
    assert (scores[kept] >= np.nextafter(mine[int(len(mine) * 0.01) + 1], 0)).sum() / kept.sum() < 0.99 + 1e-9


def test_few_kept_pages_give_their_lowest_score_and_none_give_zero():
    scores = np.array([0.9, 0.3, 0.05, 0.7], dtype=np.float32)
    assert floor_for(scores, np.array([True, True, False, True]), recall=0.99, cap=0.5) == (np.float32(0.3), 3)
    assert floor_for(scores, np.zeros(4, bool), recall=0.99, cap=0.5) == (0.0, 0)
    assert floor_for(scores, np.array([True, False, False, False]), recall=0.99, cap=0.5)[0] == 0.5  # capped


def test_host_folds_keep_a_site_together():
    assert host_fold("https://docs.python.org/3/a.html") == host_fold("http://docs.python.org/3/b.html?x=1")
    assert {host_fold(f"https://site{i}.example/") for i in range(20)} == {0, 1}


def test_host_folds_are_independent_of_a_plain_host_hash_split():
    import hashlib

    hosts = [f"site{i}.example" for i in range(200)]
    plain = [h for h in hosts if int.from_bytes(hashlib.sha1(h.encode()).digest()[:8], "big") % 2 == 0]
    assert {host_fold(f"https://{h}/") for h in plain} == {0, 1}  # one side of an evaluation split still splits
