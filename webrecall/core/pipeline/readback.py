"""The labeled pages of a previous round, for the next round's seeds: from the page cache, else by byte range
(`lifecycle.training` asks for them).

Pages under a positive pattern that a round did not recall are what the next model must learn. Their fast
text is in the page cache when it is still there (the same text the scorer saw); when it is not (pruned, or
another machine's store), the page index says where each record lies, so only those records are read back by
HTTP range and extracted with the scoring extractor: never the whole WARC file again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from webrecall.core.crawl.sources import DEFAULT_READ, ReadOptions
from webrecall.core.page import Stats
from webrecall.core.pipeline.passes import fetch_pages, scoring_texts
from webrecall.core.storage.layout import cache_path, index_path
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import DEFAULT, get_extractor
from webrecall.core.text.features import page_text, with_signals
from webrecall.core.urls.patterns import PatternSet

INDEX_COLUMNS = ["url", "warc", "offset", "length", "score", "kept"]
LOW_SCORE = 0.2
"""Random negatives of a later round come from pages that scored under this (or half the threshold) last round."""


def wanted(index: pa.Table, labels: PatternSet[str]) -> list[dict]:
    """Index rows worth reading back: under a positive pattern and not recalled, or under a negative one."""
    out = []
    for row in index.to_pylist():
        hit = labels.match(row["url"])
        if hit is None:
            continue
        if (hit[1] == "code" and not row["kept"]) or hit[1] == "non-code":
            out.append({**row, "label": hit[1]})
    return out


def readback(
    store: Store, round_no: int, locations: Iterable[str], labels: PatternSet[str], *, stats: Stats,
    extractor: str = DEFAULT, skip: Iterable[str] = (), read: ReadOptions = DEFAULT_READ,
) -> Iterator[tuple[str, str, str]]:  # fmt: skip
    """(url, text, label) of the wanted pages of a round, as `extractor` makes them (its page cache, else the
    records read back); `skip`: cache files the caller reads anyway."""
    skipped, cache_id = set(skip), get_extractor(extractor).id
    for loc in locations:
        cache = cache_path(loc, cache_id)
        if cache in skipped or not store.exists(index_path(round_no, loc)) or not len(labels):
            continue
        rows = wanted(store.read_table(index_path(round_no, loc), columns=INDEX_COLUMNS), labels)
        if not rows:
            continue
        if store.exists(cache):
            cols = ["url", "text"] + (["signals"] if "signals" in store.column_names(cache) else [])
            table = store.read_table(cache, columns=cols).to_pydict()
            texts = dict(zip(table["url"], scoring_texts(table), strict=True))
            for row in rows:
                stats.incr("readback_cache")
                yield row["url"], texts.get(row["url"], ""), row["label"]
            continue
        for row, page in fetch_pages(loc, rows, stats=stats, read=read):
            stats.incr("readback_range")
            got = page_text(page.html, extractor)
            yield row["url"], with_signals(got.text, got.signals), row["label"]


def scores(store: Store, round_no: int, locations: Iterable[str]) -> dict[str, float]:
    """url -> score in a round (for keeping likely-code pages out of the random negatives)."""
    out: dict[str, float] = {}
    for loc in locations:
        if store.exists(index_path(round_no, loc)):
            table = store.read_table(index_path(round_no, loc), columns=["url", "score"])
            out.update(zip(table["url"].to_pylist(), table["score"].to_pylist(), strict=True))
    return out


def still_positive(url: str, labels: PatternSet[str], retracted: PatternSet[str]) -> bool:
    """Whether a previous round's positive may train again: not under a label that now says otherwise, nor only
    under a retracted one (the previous round learnt it from that label)."""
    hit = labels.match(url) if url else None
    if hit is not None:
        return hit[1] == "code"
    return not url or retracted.match(url) is None
