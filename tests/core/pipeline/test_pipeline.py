"""One WARC through both stages, then again as a later round: the later round reuses, never redoes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CACHE_ID, CORPUS
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.scorer import Scorer
from webrecall.core.page import Stats
from webrecall.core.pipeline.passes import Decision, index_warc, recall_warc
from webrecall.core.settings import FastTextParams
from webrecall.core.storage.layout import band_path, cache_path, pages_path
from webrecall.core.storage.store import Store

WARC = CORPUS / "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00002.warc.gz"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    store = Store(str(tmp_path_factory.mktemp("store")))
    stats = Stats()
    index_warc(str(WARC), store=store, stats=stats)
    cache = store.read_table(cache_path(str(WARC), CACHE_ID)).to_pydict()
    labels = ["/docs/" in u or "docs." in u for u in cache["url"]]
    clf = Classifier.train(cache["text"], labels, params=FastTextParams(), vocab_size=4000, version="t")
    return store, clf, stats


def test_index_counts_every_record(built):
    _, _, stats = built
    assert stats["html_pages"] == 500 and stats["records"] == 1501 and stats["stream_opens"] == 1


def test_the_kept_text_is_the_cached_text_and_nothing_is_reread(built):
    """The default kept text: the page cache's (resiliparse, code fenced), so recall_warc never opens the WARC."""
    store, clf, _ = built
    first, second = Stats(), Stats()
    decision = Decision(threshold=0.5, margin=0.2)  # a margin is moot here: re-scoring the same text changes nothing
    recall_warc(str(WARC), round_no=1, store=store, scorer=clf, decision=decision, stats=first)
    recall_warc(str(WARC), round_no=2, store=store, scorer=clf, decision=decision, stats=second)
    assert first["total"] == second["total"] == 500
    assert first["kept"] == second["kept"] > 0
    assert first["kept"] + first["dropped"] == 500
    assert first["token_cache_hit"] == 0 and second["token_cache_hit"] == 1
    assert "tokenize" in first.seconds and "tokenize" not in second.seconds
    assert first["range_reads"] == second["range_reads"] == first["cascade_rescored"] == 0
    assert "extract_keep" not in first.seconds
    cache = store.read_table(cache_path(str(WARC), CACHE_ID)).to_pydict()
    cached = dict(zip(cache["url"], cache["text"], strict=True))
    one = store.read_table(pages_path(1, str(WARC))).to_pydict()
    two = store.read_table(pages_path(2, str(WARC))).to_pydict()
    assert all(cached[u] == t for u, t in zip(one["url"], one["text"], strict=True))
    assert any("\n```\n" in t for t in one["text"])  # docs pages with code blocks keep them fenced
    assert set(one["text_extractor"]) == {"resiliparse"}
    assert sorted(zip(one["url"], one["text"], strict=True)) == sorted(zip(two["url"], two["text"], strict=True))
    assert set(two["round"]) == {2}
    kept_blocks = sum(b for u, b in zip(cache["url"], cache["code_blocks"], strict=True) if u in set(one["url"]))
    assert first["kept_code_blocks"] == kept_blocks > 0
    assert first["kept_code_verbatim"] == sum(
        v for u, v in zip(cache["url"], cache["code_verbatim"], strict=True) if u in set(one["url"])
    )


def test_a_trafilatura_round_refetches_and_reuses_its_kept_text(built):
    store, clf, _ = built
    first, second = Stats(), Stats()
    decision = Decision(threshold=0.5)
    kw = {"text_extractor": "trafilatura"}
    recall_warc(str(WARC), round_no=7, store=store, scorer=clf, decision=decision, stats=first, **kw)
    recall_warc(str(WARC), round_no=8, store=store, scorer=clf, decision=decision, stats=second, **kw)
    assert first["kept"] == second["kept"] > 0
    assert first["range_reads"] > 0 and second["range_reads"] == 0
    assert second["text_reused"] == first["kept"]
    one = store.read_table(pages_path(7, str(WARC))).to_pydict()
    assert set(one["text_extractor"]) == {"trafilatura"}
    assert first["kept_code_blocks"] > 0 and first["kept_code_verbatim"] <= first["kept_code_blocks"]


def test_the_cascade_rescores_the_margin_band_on_trafilatura_text(built):
    store, clf, _ = built
    stats = Stats()
    recall_warc(str(WARC), round_no=3, store=store, scorer=clf, decision=Decision(threshold=0.5, margin=0.2),
                stats=stats, text_extractor="trafilatura")  # fmt: skip
    index = store.read_table(f"rounds/3/index/{pages_path(3, str(WARC)).rsplit('/', 1)[1]}").to_pydict()
    band = sum(0.3 <= s < 0.5 for s in index["score"])  # after promotion, promoted pages score >= 0.5
    kept = store.read_table(pages_path(3, str(WARC))).num_rows
    assert stats["cascade_rescored"] >= band
    assert kept == sum(index["kept"]) == stats["kept"]


def test_a_later_round_reuses_the_texts_of_the_band_it_rejected(built):
    store, clf, _ = built
    decision = Decision(threshold=0.5, margin=0.4)
    earlier, later = Stats(), Stats()
    kw = {"text_extractor": "trafilatura"}  # the cascade exists only for a kept text that is not the cached one
    recall_warc(str(WARC), round_no=5, store=store, scorer=clf, decision=decision, stats=earlier, **kw)
    recall_warc(str(WARC), round_no=6, store=store, scorer=clf, decision=decision, stats=later, **kw)
    rejected = store.read_table(band_path(5, str(WARC))).to_pydict()
    assert rejected["offset"] and all(isinstance(t, str) for t in rejected["text"])
    assert later["cascade_rescored"] == earlier["cascade_rescored"] >= len(rejected["offset"])
    assert later["kept"] == earlier["kept"]
    # every candidate's trafilatura text (kept or rejected in the band) comes from round 5: nothing is re-read
    assert later["range_reads"] == 0 and "extract_keep" not in later.seconds
    assert later["text_reused"] == later["kept"] + len(rejected["offset"])
    assert store.read_table(band_path(6, str(WARC))).to_pydict() == rejected


class CodeBlocksOnly:
    """A second stage over fastText, as the `Scorer` seam takes one: it reads the batch's columns (here the page's
    code blocks) beside the first stage's score and shares its token cache."""

    def __init__(self, first: Classifier) -> None:
        self.first = first

    @property
    def version(self) -> str:
        return f"{self.first.version}+blocks"

    @property
    def input_id(self) -> str:
        return self.first.input_id

    def tokenize(self, texts: list[str]) -> list[str]:
        return self.first.tokenize(texts)

    def score_batch(self, rows, lines):  # type: ignore[no-untyped-def]
        scores = self.first.score_batch(rows, lines)
        return np.where(np.asarray(rows["code_blocks"]) > 0, scores, 0.0).astype(np.float32)

    def score(self, texts: list[str]) -> np.ndarray:
        return self.first.score(texts)


def test_a_second_stage_plugs_in_as_a_scorer(built):
    store, clf, _ = built
    decision = Decision(threshold=0.5)
    recall_warc(str(WARC), round_no=11, store=store, scorer=clf, decision=decision, stats=Stats())
    stats = Stats()
    stage = CodeBlocksOnly(clf)
    assert isinstance(stage, Scorer) and isinstance(clf, Scorer)
    recall_warc(str(WARC), round_no=12, store=store, scorer=stage, decision=decision, stats=stats)
    cache = store.read_table(cache_path(str(WARC), CACHE_ID)).to_pydict()
    blocks = dict(zip(cache["url"], cache["code_blocks"], strict=True))
    first = store.read_table(pages_path(11, str(WARC))).to_pydict()
    second = store.read_table(pages_path(12, str(WARC))).to_pydict()
    assert set(second["url"]) == {u for u in first["url"] if blocks[u] > 0}
    assert 0 < len(second["url"]) < len(first["url"])
    assert set(second["model"]) == {"t+blocks"} and stats["token_cache_hit"] == 1  # the first stage's token lines
