"""Page items: pages chosen by several strategies under one budget are queued one by one, and one key turns them into
URL labels; per strategy, a round counts how many were code; sites found that way reach the domain queue."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pytest

from tests.core.conftest import DEV_LABELS
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.labelling import queue
from webrecall.core.labelling.discovery import PAGE_CODE, plan_items
from webrecall.core.labelling.page_items import KIND, label_page, plan_page_items, quotas, yields
from webrecall.core.labelling.strategies import STRATEGIES
from webrecall.core.model.prior import code_prior
from webrecall.core.settings import Settings
from webrecall.core.urls.domains import split_url
from webrecall.core.urls.patterns import PatternSet


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in DEV_LABELS.open(encoding="utf-8")]


@pytest.fixture(scope="module")
def index(rows: list[dict], dev_pages: tuple[list[str], list[bool], list[str]]) -> pa.Table:
    """DEV's pages with their real domains, languages and code-structure priors, scored as a round-1 model that
    learnt "documentation site" scores them: the documentation sites high, the web pages and the hand-judged pages
    (code blogs and tutorials, tech news) low, as the misses of the issue scored 0.01-0.25."""
    texts, _, urls = dev_pages
    assert urls == [r["url"] for r in rows]
    score = {"manual": 0.05, "docs": 0.97, "web": 0.02}
    scores = [score[r["kind"]] for r in rows]
    return pa.table({"url": urls, "domain": [split_url(u)[0] for u in urls], "site": [split_url(u)[1] for u in urls],
                     "score": scores, "kept": [s >= 0.5 for s in scores], "lang": [r["lang"] for r in rows],
                     "prior": code_prior(None, texts)})  # fmt: skip


def test_the_budget_is_filled_one_item_per_site_each_with_its_strategy(index: pa.Table, rows: list[dict]) -> None:
    items = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=50)
    assert len(items) == 50  # DEV has hundreds of sites: the budget is spent
    sites = [split_url(i.details["url"])[1] for i in items]
    assert len(set(sites)) == len(sites)  # at most one item per site
    assert all(i.kind == KIND and i.strategy in STRATEGIES and i.reason == f"page:{i.strategy}" for i in items)
    by = Counter(i.strategy for i in items)
    truth = {r["url"]: r["label"] for r in rows}
    # nothing scores in the band: uncertainty has no candidate and its share goes to the others
    assert by["uncertainty"] == 0 and by["disagreement"] >= quotas(50)["disagreement"] and by["audit"] >= 1
    misses = [i for i in items if i.strategy == "disagreement" and i.details["prior_says"] == "code"]
    code = sum(truth[i.details["url"]] == "code" for i in misses)
    unkept = [truth[u] == "code" for u, k in zip(index["url"].to_pylist(), index["kept"].to_pylist(), strict=True)
              if not k]  # fmt: skip
    base = sum(unkept) / len(unkept)
    print(f"disagreement: {code} of {len(misses)} misses are code pages; {base:.3f} of the unkept pages are code")
    # the prior finds the pages the model misses: many times more often code than the unkept pages (18 of 1,410)
    assert len(misses) >= 10 and code / len(misses) >= 5 * base
    cover = [i for i in items if i.strategy == "coverage"]
    assert cover and all(i.details["cell"] for i in cover)
    kept_langs = Counter(r["lang"] for r in rows if r["kind"] == "docs")
    # coverage reaches languages the kept pages lack (English dominates the documentation the model keeps)
    assert {i.details["lang"] for i in cover} - {max(kept_langs, key=kept_langs.__getitem__)}
    again = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=50)
    assert [(i.strategy, i.details["url"]) for i in again] == [(i.strategy, i.details["url"]) for i in items]
    skipped = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains={items[0].domain})
    assert items[0].domain not in {i.domain for i in skipped}  # a domain queued as a domain item is not asked


def test_uncertain_pages_of_small_sites_take_their_share(index: pa.Table, rows: list[dict]) -> None:
    manual = {r["url"] for r in rows if r["kind"] == "manual"}
    mid = index.set_column(3, "score", pa.array([0.45 if u in manual else s for u, s in
                                                 zip(index["url"].to_pylist(), index["score"].to_pylist(),
                                                     strict=True)], pa.float64()))  # fmt: skip
    items = plan_page_items(mid, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=40)
    uncertain = [i for i in items if i.strategy == "uncertainty"]
    assert len(uncertain) >= quotas(40)["uncertainty"] and all(i.details["url"] in manual for i in uncertain)
    assert all(i.details["domain_pages"] < 10 for i in uncertain)


def test_with_fewer_sites_than_the_budget_every_site_gets_one_item(index: pa.Table) -> None:
    small = index.slice(0, 400)
    sites = {s for s, d in zip(small["site"].to_pylist(), small["domain"].to_pylist(), strict=True)}
    items = plan_page_items(small, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=500)
    assert len(items) == len(sites) < 500


def test_yields_count_the_items_labelled_code_per_strategy(index: pa.Table, rows: list[dict], db_url: str) -> None:
    truth = {r["url"]: r["label"] == "code" for r in rows}
    items = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=30)
    expected: dict[str, list[int]] = {}
    with dbm.session(db_url) as db:
        queue.enqueue(db, items)
        for _ in range(20):  # 20 of the 30 labelled, by the truth
            item = queue.claim(db, "ann")
            assert item is not None
            label_page(db, item.id, "ann", code=truth[item.details["url"]])
            expected.setdefault(item.strategy, [0, 0])
            expected[item.strategy][0] += 1
            expected[item.strategy][1] += truth[item.details["url"]]
        got = yields(db, 1)
    assert {k: (v["labelled"], v["code"]) for k, v in got.items() if v["labelled"]} == \
        {k: tuple(v) for k, v in expected.items()}  # fmt: skip
    assert sum(v["items"] for v in got.values()) == 30
    assert all(v["yield"] == (round(v["code"] / v["labelled"], 4) if v["labelled"] else None) for v in got.values())


def test_a_site_whose_page_items_are_code_but_recalls_nothing_is_queued_as_a_domain(
    index: pa.Table, rows: list[dict], db_url: str, tmp_path
) -> None:  # fmt: skip
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=db_url, page_items_max=20)
    truth = {r["url"]: r["label"] for r in rows}
    sizes = Counter(split_url(r["url"])[0] for r in rows if r["kind"] == "docs")
    unseen = min((d for d, n in sizes.items() if n >= 3), key=lambda d: (sizes[d], d))  # a docs site the model misses
    domains = index["domain"].to_pylist()
    scores = [0.05 if d == unseen else s for d, s in zip(domains, index["score"].to_pylist(), strict=True)]
    index = index.set_column(3, "score", pa.array(scores, pa.float64()))
    index = index.set_column(4, "kept", pa.array([s >= 0.5 for s in scores]))
    items = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=50)
    missed = next(i for i in items if i.domain == unseen)
    assert truth[missed.details["url"]] == "code"
    kept = next(i for i in items if truth[i.details["url"]] == "code" and i.details["score"] >= 0.5)
    other = next(i for i in items if truth[i.details["url"]] == "non-code" and i.details["domain_pages"] > 1)
    with dbm.session(db_url) as db:
        queue.enqueue(db, [missed, kept, other])
        for _ in (missed, kept, other):
            claimed = queue.claim(db, "ann")
            assert claimed is not None
            label_page(db, claimed.id, "ann", code=truth[claimed.details["url"]] == "code")
        db.add(dbm.Round(number=2))
        db.commit()
        labels, coverage = label_store.pattern_set(db), label_store.coverage_set(db)
    queued = plan_items(settings, 2, index, threshold=0.5, labels=labels, coverage=coverage)
    followups = [i for i in queued if i.reason == PAGE_CODE]
    assert [i.domain for i in followups] == [missed.domain]  # not the recalled site's, not the non-code page's
    assert followups[0] is queued[0] and followups[0].details["code_pages"] == 1
    assert sum(i.domain == missed.domain for i in queued) == 1  # not also queued as a page item or audit domain
    assert other.domain not in {i.domain for i in queued}  # a site whose page came back non-code is not asked again
    assert any(i.kind == KIND for i in queued)


def test_one_key_makes_a_url_label_for_the_next_round(index: pa.Table, db_url: str) -> None:
    items = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=5)
    with dbm.session(db_url) as db:
        queue.enqueue(db, items)
        first = queue.claim(db, "ann")
        assert first is not None and first.kind == KIND
        url = first.details["url"]
        label_page(db, first.id, "ann", code=True)
        second = queue.claim(db, "ann")
        assert second is not None
        label_page(db, second.id, "ann", code=False)
        got = label_store.pattern_set(db)
        assert got.match(url)[1] == "code" and got.match(second.details["url"])[1] == "non-code"
        assert got.match(url + "other") is None  # a URL label covers that page only
        counts = queue.counts(db, 1)
        assert counts["done_kind"] == {KIND: 2} and counts["labels"] == 2
        coverage = label_store.coverage_set(db)
    later = plan_page_items(index, 2, threshold=0.5, coverage=coverage, skip_domains=set(), max_items=100)
    assert url not in {i.details["url"] for i in later}  # a labelled page is not asked again
