"""build_seeds keeps positions, not texts, of its negative candidates: the same pages as when it held every text,
and memory bounded by the pages it takes."""

from __future__ import annotations

import random
import tracemalloc

import pyarrow as pa
import pytest

from webrecall.core.model.seeds import SeedSet, build_seeds, is_heldout
from webrecall.core.storage.store import Store
from webrecall.core.text.features import with_signals
from webrecall.core.urls.patterns import PatternSet

FILES = ["cache/a.parquet", "cache/b.parquet", "cache/c.parquet"]


def _in_memory(store: Store, labels: PatternSet[str], *, seed: int, max_pages: int, heldout_fraction: float,
               negative_ok, hard_share: float = 0.5) -> tuple[SeedSet, SeedSet]:  # fmt: skip
    """The rule as it read when every candidate's text was held (cache files only): the reference."""
    rng = random.Random(seed)
    train, heldout = SeedSet(), SeedSet()
    hard: list[tuple[str, str]] = []
    pool: list[tuple[str, str]] = []
    seen = 0
    for rel in FILES:
        t = store.read_table(rel)
        sig = t["signals"].to_pylist() if "signals" in t.column_names else [None] * t.num_rows
        for url, text, s in zip(t["url"].to_pylist(), t["text"].to_pylist(), sig, strict=True):
            text = with_signals(text, s)
            match, target = labels.match(url), heldout if is_heldout(url, heldout_fraction) else train
            if match is not None:
                if match[1] == "code":
                    target.add(text, True, "pattern", url)
                elif target is heldout:
                    heldout.add(text, False, "hard_negative", url)
                else:
                    hard.append((url, text))
            elif target is heldout:
                heldout.add(text, False, "random_negative", url)
            elif negative_ok(url):
                seen += 1
                if len(pool) < max_pages:
                    pool.append((url, text))
                elif (j := rng.randrange(seen)) < max_pages:
                    pool[j] = (url, text)
    if sum(train.labels) > max_pages // 2:
        keep = sorted(rng.sample(range(len(train.labels)), max_pages // 2))
        train.texts, train.labels = [train.texts[i] for i in keep], [train.labels[i] for i in keep]
        train.sources, train.urls = [train.sources[i] for i in keep], [train.urls[i] for i in keep]
    n_pos = sum(train.labels)
    want = max(min(n_pos, max_pages - n_pos), 1)
    rng.shuffle(hard)
    for url, text in hard[: max(int(want * hard_share), 1)]:
        train.add(text, False, "hard_negative", url)
    rng.shuffle(pool)
    for url, text in pool:
        if len(train.labels) - sum(train.labels) >= want:
            break
        train.add(text, False, "random_negative", url)
    return train, heldout


@pytest.fixture(scope="module")
def store(tmp_path_factory, dev_pages: tuple[list[str], list[bool], list[str]]) -> Store:
    """CC-MAIN-DEV's pages in three cache files (one without signals), a few texts repeated under other URLs (the
    duplicates a negative pass skips)."""
    texts, _, urls = dev_pages
    store = Store(str(tmp_path_factory.mktemp("seeds-memory")))
    n = len(texts) // 3
    for k, rel in enumerate(FILES):
        part = list(range(k * n, (k + 1) * n))
        page_texts = [texts[i] for i in part] + [texts[i] for i in part[:40]]
        page_urls = [urls[i] for i in part] + [f"https://copy.example/{k}/{i}" for i in part[:40]]
        cols = {"url": page_urls, "text": page_texts}
        if k != 1:
            cols["signals"] = [f"pre={i % 3} code={i % 5} tc=100" for i in range(len(page_urls))]
        store.write_table(rel, pa.table(cols))
    return store


@pytest.mark.parametrize(("seed", "max_pages"), [(0, 400), (1, 120), (7, 5000)])
def test_the_same_pages_as_when_every_text_was_held(store: Store, seed: int, max_pages: int) -> None:
    labels: PatternSet[str] = PatternSet()
    labels.add("docs.python.org/", "code")
    labels.add("stackoverflow.com/", "code")
    labels.add("en.wikipedia.org/", "non-code")
    ok = lambda url: len(url) % 7 != 0  # noqa: E731
    got = build_seeds(store, FILES, labels=labels, seed=seed, max_pages=max_pages, heldout_fraction=0.1,
                      negative_ok=ok)  # fmt: skip
    want = _in_memory(store, labels, seed=seed, max_pages=max_pages, heldout_fraction=0.1, negative_ok=ok)
    for a, b in zip(got, want, strict=True):
        assert (a.urls, a.sources, a.labels, a.texts) == (b.urls, b.sources, b.labels, b.texts)
    assert got[0].counts()["random_negative"] > 0 and got[0].counts()["hard_negative"] > 0


def test_memory_is_the_pages_taken_not_the_candidates(tmp_path) -> None:
    """2,000 unlabelled pages of 20 kB and 10 positives: the set takes 10 negatives, so the pass must not hold the
    2,000 candidates' 40 MB of text (traced Python allocations)."""
    store = Store(str(tmp_path))
    n, size = 2000, 20_000
    urls = [f"https://site{i % 97}.example/p/{i}" for i in range(n)] + [f"https://code.example/{i}" for i in range(10)]
    texts = [f"page {i} " + "x" * size for i in range(n + 10)]
    store.write_table("cache/big.parquet", pa.table({"url": urls, "text": texts}))
    del texts
    labels: PatternSet[str] = PatternSet()
    labels.add("code.example/", "code")
    tracemalloc.start()
    try:
        train, _ = build_seeds(store, ["cache/big.parquet"], labels=labels, heldout_fraction=0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert train.counts()["positives"] == 10 and train.counts()["random_negative"] == 10
    assert peak < 10 * 1024 * 1024, peak  # the old reservoir held n * size = 40 MB
