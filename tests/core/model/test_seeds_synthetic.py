"""Synthetic seeds in a round's training set: switchable, deterministic per round seed, never carried over."""

from __future__ import annotations

import pyarrow as pa
import pytest

from webrecall.core.model.seeds import build_seeds, previous_positives, save_seeds
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import PatternSet


@pytest.fixture(scope="module")
def store(tmp_path_factory, dev_pages: tuple[list[str], list[bool], list[str]]) -> Store:
    texts, labels, urls = dev_pages
    code = [i for i, u in enumerate(urls) if "docs.python.org" in u][:80]
    pick = code + [i for i, y in enumerate(labels) if not y][:160]
    store = Store(str(tmp_path_factory.mktemp("seeds")))
    store.write_table("cache/a.parquet", pa.table({"url": [urls[i] for i in pick], "text": [texts[i] for i in pick],
                                                   "signals": ["pre=0 code=0 tc=100"] * len(pick)}))  # fmt: skip
    return store


def _build(store: Store, share: float, seed: int):
    labels: PatternSet[str] = PatternSet()
    labels.add("docs.python.org/", "code")
    return build_seeds(store, ["cache/a.parquet"], labels=labels, seed=seed, synthetic_share=share)[0]


def test_synthetic_share_adds_both_kinds_deterministically(store: Store) -> None:
    plain, syn = _build(store, 0.0, 1), _build(store, 0.5, 1)
    assert "synthetic_positive" not in plain.counts()
    n = syn.counts()
    assert n["synthetic_positive"] == n["synthetic_negative"] == round(0.5 * plain.counts()["positives"])
    assert syn.texts == _build(store, 0.5, 1).texts
    assert syn.texts != _build(store, 0.5, 2).texts


def test_synthetic_pages_are_not_carried_to_the_next_round(store: Store) -> None:
    syn = _build(store, 0.5, 1)
    save_seeds(store, 1, syn)
    carried = previous_positives(store, 1)
    assert len(carried) == syn.counts()["positives"] - syn.counts()["synthetic_positive"]
    assert all(url for url, _ in carried)
