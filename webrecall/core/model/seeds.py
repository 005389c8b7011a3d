"""Training sets for a round: positives from URL patterns, labels and seed texts; hard and random negatives.

Pages whose URL hashes into the held-out slice never train a model: they measure it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import pyarrow as pa

from webrecall.core.storage import jsonl
from webrecall.core.storage.layout import SEEDS_SCHEMA, seeds_path
from webrecall.core.storage.store import Store
from webrecall.core.text.features import with_signals
from webrecall.core.urls.patterns import PatternSet


def is_heldout(url: str, fraction: float) -> bool:
    """Deterministic split by URL hash, the same on every machine and round."""
    if fraction <= 0:
        return False
    h = int.from_bytes(hashlib.sha1(url.encode("utf-8", "replace")).digest()[:8], "big")
    return (h % 10_000) < fraction * 10_000


@dataclass(slots=True)
class SeedSet:
    texts: list[str] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, text: str, positive: bool, source: str, url: str = "") -> bool:
        """Add unless empty or a duplicate (same URL or the same exact text by SHA-256)."""
        if not text.strip():
            return False
        keys = [hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()] + ([url] if url else [])
        if any(k in self._seen for k in keys):
            return False
        self._seen.update(keys)
        self.texts.append(text)
        self.labels.append(positive)
        self.sources.append(source)
        self.urls.append(url)
        return True

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"positives": sum(self.labels), "negatives": len(self.labels) - sum(self.labels)}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out


def read_seed_file(path: str | Path) -> list[str]:
    """A JSONL of positive texts: one object per line with a `text` field (other fields ignored)."""
    texts = []
    for n, row in jsonl.rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{n}: expected an object with a string 'text' field")
        texts.append(row["text"])
    return texts


Ref = tuple[int, int]
"""A page of the cache files by position: (file, row)."""


@dataclass(slots=True)
class _Batch:
    urls: list[str]
    texts: pa.Array
    signals: pa.Array | None

    def text(self, i: int) -> str:
        """The classifier input of row i: its text behind its page's code signals (core.text.features)."""
        text = self.texts[i].as_py()
        return with_signals(text, self.signals[i].as_py()) if self.signals is not None else text


def _batches(store: Store, rel: str) -> Iterator[_Batch]:
    signals = "signals" in store.column_names(rel)
    for batch in store.iter_batches(rel, columns=["url", "text"] + (["signals"] if signals else [])):
        yield _Batch(batch.column("url").to_pylist(), batch.column("text"),
                     batch.column("signals") if signals else None)  # fmt: skip


def read_rows(store: Store, files: list[str], refs: Iterable[Ref]) -> dict[Ref, tuple[str, str]]:
    """(url, classifier input) of the pages at `refs`, reading each file that holds one once, in row order."""
    wanted: dict[int, list[int]] = {}
    for f, row in sorted(set(refs)):
        wanted.setdefault(f, []).append(row)
    out: dict[Ref, tuple[str, str]] = {}
    for f, rows in wanted.items():
        start, k = 0, 0
        for batch in _batches(store, files[f]):
            end = start + len(batch.urls)
            while k < len(rows) and rows[k] < end:
                out[(f, rows[k])] = (batch.urls[rows[k] - start], batch.text(rows[k] - start))
                k += 1
            if k == len(rows):
                break
            start = end
    return out


def build_seeds(
    store: Store, cache_files: Iterable[str], *, labels: PatternSet[str], seed_texts: Iterable[str] = (),
    negatives_per_positive: float = 1.0, max_pages: int = 500_000, heldout_fraction: float = 0.1, seed: int = 0,
    previous: Iterable[tuple[str, str]] = (), readback: Iterable[tuple[str, str, str]] = (),
    negative_ok: Callable[[str], bool] | None = None, hard_share: float = 0.5,
    expanded: Iterable[tuple[str, str, str]] = (), synthetic_share: float = 0.0,
    excluded: Callable[[str], bool] | None = None,
) -> tuple[SeedSet, SeedSet]:  # fmt: skip
    """(train, heldout) from the page cache. `labels` maps URL patterns to 'code' / 'non-code' / 'mixed'.

    `previous`: the previous round's positives (url, text); `readback`: (url, text, label) of labeled pages
    read back outside the cache files; `negative_ok(url)`: False for pages too likely code to be random
    negatives (a high score last round). Hard negatives fill at most `hard_share` of the negatives, so the
    model still sees the ordinary web. Positives are capped at half of `max_pages`; negatives balance them.
    `expanded`: (url, text, label) of pages under labelled patterns that the crawl's index found outside the
    round's WARC files (webrecall.core.pipeline.expand), taken like `readback` with the source `index`.
    `synthetic_share`: synthetic positives and as many synthetic hard negatives per positive (core/model/synthetic.py),
    built from this training set's own pages with this `seed`.
    `excluded(url)`: True for pages that must neither train nor measure the seeds (a round's holdout), whatever
    pattern or label matches them.

    Memory: the texts of the pages taken (and of the held-out ones); a random or hard negative candidate of the cache
    files is kept as its position until it is taken, then read back (the reservoir holds up to `max_pages`).
    """
    rng = random.Random(seed)
    train, heldout = SeedSet(), SeedSet()
    for text in seed_texts:
        train.add(text, True, "seed_file")
    keep = (lambda url: True) if excluded is None else (lambda url: not (url and excluded(url)))
    for url, text in filter(lambda p: keep(p[0]), previous):
        if not url or not is_heldout(url, heldout_fraction):
            train.add(text, True, "previous", url)
    given: list[tuple[str, str]] = []  # hard negatives read back or expanded: (url, text), at (-1, i) in `hard`
    hard: list[Ref] = []
    for (url, text, label), source in chain(zip(readback, repeat("readback")), zip(expanded, repeat("index"))):
        if not keep(url):
            continue
        target = heldout if is_heldout(url, heldout_fraction) else train
        if label == "code":
            target.add(text, True, source, url)
        elif target is heldout:
            heldout.add(text, False, "hard_negative", url)
        else:
            hard.append((-1, len(given)))
            given.append((url, text))
    # the pass keeps where a negative candidate is (file, row), not its text: only the pages taken are read back
    files = list(cache_files)
    pool: list[Ref] = []  # reservoir of unlabeled pages: random negatives
    pool_seen = 0
    for f, rel in enumerate(files):
        row = 0
        for batch in _batches(store, rel):
            for i, url in enumerate(batch.urls):
                ref, row = (f, row), row + 1
                if not keep(url):
                    continue
                match = labels.match(url)
                target = heldout if is_heldout(url, heldout_fraction) else train
                if match is not None:
                    if match[1] == "code":
                        target.add(batch.text(i), True, "pattern", url)
                    elif match[1] == "non-code":
                        if target is heldout:
                            heldout.add(batch.text(i), False, "hard_negative", url)
                        else:
                            hard.append(ref)
                    continue
                if target is heldout:
                    heldout.add(batch.text(i), False, "random_negative", url)
                    continue
                if negative_ok is not None and not negative_ok(url):
                    continue
                pool_seen += 1
                if len(pool) < max_pages:
                    pool.append(ref)
                else:
                    j = rng.randrange(pool_seen)
                    if j < max_pages:
                        pool[j] = ref
    _cap_positives(train, max_pages // 2, rng)
    n_pos = sum(train.labels)
    want = max(min(int(round(n_pos * negatives_per_positive)), max_pages - n_pos), 1)
    rng.shuffle(hard)
    taken = hard[: max(int(want * hard_share), 1)]
    pages = read_rows(store, files, [h for h in taken if h[0] >= 0])
    for h in taken:
        url, text = pages[h] if h[0] >= 0 else given[h[1]]
        train.add(text, False, "hard_negative", url)
    rng.shuffle(pool)
    negatives, at = len(train.labels) - n_pos, 0
    while negatives < want and at < len(pool):  # a few duplicates are skipped: read a margin, rarely twice
        chunk = pool[at : at + 2 * (want - negatives) + 64]
        at += len(chunk)
        pages = read_rows(store, files, chunk)
        for ref in chunk:
            if negatives >= want:
                break
            negatives += train.add(pages[ref][1], False, "random_negative", pages[ref][0])
    if synthetic_share > 0:
        from webrecall.core.model.synthetic import synthesize

        generals = [t for t, s in zip(train.texts, train.sources, strict=True) if s == "random_negative"]
        pos, neg = synthesize([t for t, y in zip(train.texts, train.labels, strict=True) if y], generals,
                              share=synthetic_share, rng=rng)  # fmt: skip
        for text in pos:
            train.add(text, True, "synthetic_positive")
        for text in neg:
            train.add(text, False, "synthetic_negative")
    return train, heldout


def _cap_positives(train: SeedSet, cap: int, rng: random.Random) -> None:
    """Keep a random `cap` of the positives (negatives are added after this, so all rows are positives)."""
    if sum(train.labels) <= cap:
        return
    keep = sorted(rng.sample(range(len(train.labels)), cap))
    train.texts, train.labels = [train.texts[i] for i in keep], [train.labels[i] for i in keep]
    train.sources, train.urls = [train.sources[i] for i in keep], [train.urls[i] for i in keep]


def save_seeds(store: Store, round_no: int, train: SeedSet) -> str:
    """The training set of a round, so the next round starts from its positives."""
    table = pa.table({"url": train.urls, "text": train.texts, "label": train.labels, "source": train.sources,
                      "sha256": [hashlib.sha256(t.encode("utf-8", "replace")).hexdigest() for t in train.texts]},
                     schema=SEEDS_SCHEMA)  # fmt: skip
    store.write_table(seeds_path(round_no), table)
    return seeds_path(round_no)


def previous_positives(store: Store, round_no: int) -> list[tuple[str, str]]:
    """(url, text) of a round's training positives; empty if that round saved none."""
    if not store.exists(seeds_path(round_no)):
        return []
    cols = ("url", "text", "label", "source")
    table = store.read_table(seeds_path(round_no), columns=list(cols))
    # synthetic pages are sampled afresh each round, never carried over
    return [(u, t) for u, t, y, s in zip(*(table[c].to_pylist() for c in cols), strict=True)
            if y and not s.startswith("synthetic")]  # fmt: skip
