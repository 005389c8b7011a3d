"""URL-pattern proposals: masking, prefixes by depth, per-prefix figures and samples from the page cache."""

from __future__ import annotations

import pyarrow as pa
import pytest

from webrecall.core.labelling.proposals import domain_pages, mask, prefixes, propose
from webrecall.core.storage.layout import CACHE_SCHEMA, INDEX_SCHEMA, cache_path, index_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import parse


@pytest.mark.parametrize(
    ("segment", "masked"),
    [("123", True), ("2023", True), ("2023-11-05", True), ("9f86d081884c7d65", True),
     ("550e8400-e29b-41d4-a716-446655440000", True), ("article-1234567", True), ("3", False), ("3.11", False),
     ("questions", False), ("library", False), ("en", False)],
)  # fmt: skip
def test_ids_hashes_and_dates_are_masked(segment, masked):
    assert (mask(segment) == "*") is masked


def test_prefixes_stop_at_a_masked_segment():
    assert prefixes("https://stackoverflow.com/questions/123/slug") == [
        "stackoverflow.com/", "stackoverflow.com/questions/", "stackoverflow.com/questions/*"]  # fmt: skip
    assert prefixes("https://Docs.Python.org/3/library/os.html?x=1") == [
        "docs.python.org/", "docs.python.org/3/", "docs.python.org/3/library/"]  # fmt: skip
    assert prefixes("https://a.org/100/2/3/4/5/p.html", max_depth=3)[-1] == "a.org/*"
    assert prefixes("https://a.org/b/c/d/e/f.html")[-1] == "a.org/b/c/d/"  # depth 3 at most
    for url in ("https://stackoverflow.com/questions/123/slug", "https://docs.python.org/3/library/os.html"):
        assert all(parse(p).matches(url) for p in prefixes(url))  # every proposal matches its pages


def _rows(domain: str, paths: list[str], scores: list[float]) -> list[dict]:
    return [{"url": f"https://{domain}{p}", "domain": domain, "site": domain, "path": p, "warc": "w.warc.gz",
             "offset": i * 1000, "length": 1000, "score": s, "lang": "en", "text_len": 100, "kept": s >= 0.5,
             "title": f"title {i}", "text": f"text of page {i} " * 40}
            for i, (p, s) in enumerate(zip(paths, scores, strict=True))]  # fmt: skip


def test_propose_counts_fractions_percentiles_and_samples(tmp_path):
    store = Store(str(tmp_path))
    paths = [f"/questions/{100 + i}/q{i}" for i in range(6)] + [f"/blog/2023/post{i}" for i in range(4)]
    scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.95, 0.1, 0.05, 0.2, 0.01]
    rows = _rows("forum.example.org", paths, scores) + _rows("other.org", ["/a/b.html"], [0.9])
    store.write_table(index_path(1, "w.warc.gz"), pa.Table.from_pylist(rows, schema=INDEX_SCHEMA))
    store.write_table(cache_path("w.warc.gz", "x-1"), pa.Table.from_pylist(rows, schema=CACHE_SCHEMA))
    pages = domain_pages(store, 1, ["w.warc.gz", "missing.warc.gz"], {"forum.example.org"}, cache_id="x-1")
    assert pages.num_rows == 10 and set(pages["domain"].to_pylist()) == {"forum.example.org"}
    props = {p.pattern: p for p in propose(pages, "forum.example.org", samples=5)}
    # `questions/*` has the same pages as `questions/`: not proposed twice; the blog's year is masked
    assert list(props) == ["forum.example.org/", "forum.example.org/questions/", "forum.example.org/blog/"]
    q = props["forum.example.org/questions/"]
    assert (q.pages, q.recalled, q.fraction) == (6, 5, round(5 / 6, 4))
    assert q.score_p10 <= q.score_p50 <= q.score_p90
    assert 3 <= len(q.samples) <= 5
    assert q.samples[0]["score"] == 0.95 and q.samples[-1]["score"] == 0.4  # best, ..., worst
    assert all(s["title"].startswith("title") and s["snippet"].startswith("text of page") for s in q.samples)
    assert len(q.samples[0]["snippet"]) <= 300
    assert props["forum.example.org/blog/"].recalled == 0
    assert props["forum.example.org/"].pages == 10
