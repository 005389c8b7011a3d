"""Domain discovery: the uncertainty features, the queue's priority order and audit slice, round comparison."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from webrecall.core.db import DomainStat
from webrecall.core.labelling.discovery import DomainFeatures, compare, features, plan_queue, uncertainty
from webrecall.core.urls.patterns import PatternSet


def _index(pages: dict[str, list[float]], threshold: float = 0.5) -> pa.Table:
    rows = [(f"https://{d}/p/{i}.html", d, s, s >= threshold) for d, scores in pages.items() for i, s in
            enumerate(scores)]  # fmt: skip
    return pa.table({k: [r[i] for r in rows] for i, k in enumerate(("url", "domain", "score", "kept"))})


def test_features_count_mid_scores_labels_and_coverage():
    index = _index({"a.org": [0.9, 0.4, 0.1, 0.05], "b.org": [0.2, 0.1]})
    labels = PatternSet([("a.org/p/", "code")])
    feats = features(index, labels, labels)
    a = feats["a.org"]
    assert (a.pages, a.recalled, a.mid, a.labeled, a.covered) == (4, 1, 1, 4, 4)
    assert a.disagreement_sum == pytest.approx(0.1 + 0.6 + 0.9 + 0.95)
    assert (feats["b.org"].labeled, feats["b.org"].covered) == (0, 0)


def test_uncertainty_is_the_stated_weighted_sum_times_page_mass():
    f = DomainFeatures("x.org", pages=99, recalled=10, mid=33, labeled=4, disagreement_sum=2.0)
    u = uncertainty(f, 0.10)
    assert u["near_threshold"] == pytest.approx(1 - (10 / 99 - 0.1) / 0.9, abs=1e-3)  # 10.1% recalled: at the threshold
    assert u["mid_scores"] == pytest.approx(1 / 3, abs=1e-3) and u["disagreement"] == 0.5
    expected = 0.4 * u["near_threshold"] + 0.3 * u["mid_scores"] + 0.3 * 0.5
    assert u["uncertainty"] == pytest.approx(expected, abs=1e-3)
    assert u["priority"] == pytest.approx(u["uncertainty"] * math.log1p(99), rel=1e-3)
    assert uncertainty(DomainFeatures("sure.org", pages=50, recalled=50), 0.1)["priority"] == 0.0
    assert uncertainty(DomainFeatures("none.org", pages=50), 0.1)["priority"] == 0.0


def test_queue_orders_by_priority_skips_labeled_domains_and_audits_a_stratified_slice():
    feats = {
        "near-big.org": DomainFeatures("near-big.org", pages=400, recalled=40, mid=40),  # at the threshold, heavy
        "near-small.org": DomainFeatures("near-small.org", pages=10, recalled=1, mid=1),  # same, light
        "mid.org": DomainFeatures("mid.org", pages=100, recalled=60, mid=60),  # many mid-range scores
        "disagree.org": DomainFeatures("disagree.org", pages=100, labeled=50, covered=50, disagreement_sum=45.0),
        "done.org": DomainFeatures("done.org", pages=100, recalled=10, mid=50, covered=100),  # fully labeled
        "sure.org": DomainFeatures("sure.org", pages=300, recalled=300),
    } | {f"news{i}.org": DomainFeatures(f"news{i}.org", pages=3) for i in range(60)}  # fmt: skip
    items = plan_queue(feats, 1, related_fraction=0.1, seed=7, max_items=40)
    uncertain = [i for i in items if i.kind == "uncertain"]
    assert [i.domain for i in uncertain] == sorted((i.domain for i in uncertain),
                                                   key=lambda d: -uncertainty(feats[d], 0.1)["priority"])  # fmt: skip
    assert [i.domain for i in uncertain] == ["near-big.org", "mid.org", "disagree.org", "near-small.org"]
    assert uncertain[2].reason == "disagreement" and uncertain[0].reason == "near_threshold"
    assert "done.org" not in {i.domain for i in items}  # every page already under a label
    audits = [i for i in items if i.kind == "audit"]
    assert len(audits) == 1 and audits[0].domain not in {i.domain for i in uncertain}
    assert audits[0].details["stratum"] in {"none", "low", "related"}
    again = plan_queue(feats, 1, related_fraction=0.1, seed=7, max_items=40)
    assert [(i.domain, i.kind, i.priority) for i in again] == [(i.domain, i.kind, i.priority) for i in items]
    many = {f"d{i}.org": DomainFeatures(f"d{i}.org", pages=20 + i, recalled=2 + i % 5, mid=i % 7) for i in range(200)}
    big = plan_queue(many | feats, 1, related_fraction=0.1, seed=1, max_items=200)
    share = sum(i.kind == "audit" for i in big) / len(big)
    assert 0.03 <= share <= 0.07  # about 5%


def test_compare_finds_new_grown_and_dropped_related_domains():
    def stat(domain: str, recalled: int, related: bool = True) -> DomainStat:
        return DomainStat(round_id=1, domain=domain, pages=100, recalled=recalled, fraction=recalled / 100,
                          related=related)  # fmt: skip

    before = [stat("kept.org", 20), stat("grew.org", 20), stat("gone.org", 15), stat("quiet.org", 1, False)]
    after = [stat("kept.org", 20), stat("grew.org", 60), stat("gone.org", 5, False), stat("quiet.org", 30)]
    out = compare(before, after)
    assert (out["new"], out["grown"], out["dropped"]) == (1, 1, 1)
    assert out["new_domains"][0]["domain"] == "quiet.org" and out["dropped_domains"] == ["gone.org"]
    assert out["new_domains"][0]["recalled_before"] == 1  # recalled before, only not related yet
    assert out["grown_domains"][0] == {"domain": "grew.org", "pages": 100, "recalled": 60, "fraction": 0.6,
                                       "recalled_before": 20}  # fmt: skip
