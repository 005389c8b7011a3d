"""Page items: uncertain pages of small domains are queued one by one, and one key turns them into URL labels."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tests.core.conftest import DEV_LABELS
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.labelling import queue
from webrecall.core.labelling.page_items import KIND, label_page, plan_page_items
from webrecall.core.urls.domains import split_url
from webrecall.core.urls.patterns import PatternSet


@pytest.fixture(scope="module")
def index() -> pa.Table:
    """DEV's URLs with their real domains; the manual pages (one per small site) score in the band around 0.5,
    the documentation sites (hundreds of pages each) and the web pages far from it."""
    rows = [json.loads(line) for line in DEV_LABELS.open(encoding="utf-8")]
    score = {"manual": 0.45, "docs": 0.97, "web": 0.02}
    return pa.table({"url": [r["url"] for r in rows], "domain": [split_url(r["url"])[0] for r in rows],
                     "score": [score[r["kind"]] for r in rows]})  # fmt: skip


def test_small_domains_uncertain_pages_become_items(index: pa.Table) -> None:
    items = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=100)
    uncertain = [i for i in items if i.reason == "page:uncertain"]
    manual_domains = {split_url(r["url"])[0] for r in map(json.loads, DEV_LABELS.open()) if r["kind"] == "manual"}
    assert {i.domain for i in uncertain} <= manual_domains and len(uncertain) >= 25
    assert all(i.kind == KIND and i.details["url"] for i in items)
    assert len({i.domain for i in items}) == len(items)  # one item per domain and round (the queue's key)
    audits = [i for i in items if i.reason == "page:audit"]
    assert 1 <= len(audits) <= 3 and all(i.details["audit"] for i in audits)
    again = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains=set(), max_items=100)
    assert [(i.domain, i.details["url"]) for i in again] == [(i.domain, i.details["url"]) for i in items]
    # no item for docs hosts (too big for a page item) nor for a domain already queued as a domain item
    skipped = plan_page_items(index, 1, threshold=0.5, coverage=PatternSet(), skip_domains={uncertain[0].domain})
    assert uncertain[0].domain not in {i.domain for i in skipped}


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
