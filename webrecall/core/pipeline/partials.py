"""Per-WARC partial aggregates of a round's page index, and their merge: what finalize needs, in O(domains).

A recall task writes, next to its WARC's page index (`webrecall.core.storage.layout`):
- the domain partial: one row per (domain, site, score bin) with pages, recalled pages, characters, recalled
  characters and the sum of scores; its metadata holds the WARC's language counts and the task's threshold;
- the kept partial: the pages kept at the task's threshold (a top-K round's floor) as 64-bit URL hashes with
  score and text length, a few percent of the pages at 16 bytes each.

Finalize folds the domain partials into one running aggregate (`merge_domains`, memory: the round's domains times
their occupied score bins, never its pages), cuts a top-K budget exactly from the kept partials (`topk_cut`: a
histogram finds the bin of the K-th score, a second pass reads the scores in that bin only), and reads growth from
the kept partials. A WARC whose partials are missing (written before they existed) gets them computed from its
index on the fly, one WARC at a time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrecall.core.storage.layout import (
    DOMAINS_SCHEMA,
    INDEX_SCHEMA,
    KEPT_SCHEMA,
    SCORE_BINS,
    domains_partial_path,
    index_path,
    kept_partial_path,
    url_hash,
)  # fmt: skip
from webrecall.core.storage.store import Store

SUMS = ["pages", "recalled", "chars", "recalled_chars", "score_sum"]
KEYS = ["domain", "site", "bin"]
FINE_BINS = 1 << 20
"""Bins of the histogram `topk_cut` locates the K-th score with; only the scores in its bin are read back."""
FOLD_ROWS = 2_000_000
"""Rows of domain partials gathered before they are folded into the running aggregate (bounds the memory)."""
INDEX_COLUMNS = ["url", "domain", "site", "score", "text_len", "kept", "lang"]


def score_bins(scores: np.ndarray, bins: int = SCORE_BINS) -> np.ndarray:
    """Bin of each score in [0, 1] (a score of 1.0 falls in the last bin)."""
    return np.clip((scores.astype(np.float64) * bins).astype(np.int64), 0, bins - 1)


def _group(table: pa.Table, keys: list[str] = KEYS, sums: list[str] = SUMS) -> pa.Table:
    grouped = table.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in sums])
    return pa.table({**{k: grouped[k] for k in keys}, **{c: grouped[f"{c}_sum"] for c in sums}})


def _fold(tables: Iterable[pa.Table], keys: list[str], sums: list[str]) -> pa.Table | None:
    """Sum `sums` by `keys` over many tables: memory O(distinct keys). Tables gather until they hold as many rows
    as the running aggregate (at least `FOLD_ROWS`), then fold into it: each row is folded O(log) times."""
    running: pa.Table | None = None
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        pending.append(table.select(keys + sums).replace_schema_metadata(None))
        rows += table.num_rows
        if rows >= max(FOLD_ROWS, running.num_rows if running is not None else 0):
            running = _group(pa.concat_tables([running, *pending] if running is not None else pending), keys, sums)
            pending, rows = [], 0
    if pending:
        running = _group(pa.concat_tables([running, *pending] if running is not None else pending), keys, sums)
    return running


@dataclass(slots=True)
class WarcPartials:
    """The partials of one WARC's index, built batch by batch as the index is written."""

    threshold: float
    domains: list[pa.Table] = field(default_factory=list)
    kept: list[pa.Table] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    """Page rows in `domains` not grouped yet."""

    def add(self, index: pa.Table) -> None:
        scores = index["score"].to_numpy()
        kept = index["kept"].combine_chunks() if isinstance(index["kept"], pa.ChunkedArray) else index["kept"]
        text_len = pc.cast(index["text_len"], pa.int64())
        self.domains.append(pa.table({
            "domain": index["domain"], "site": index["site"], "bin": pa.array(score_bins(scores), pa.int16()),
            "pages": pa.array(np.ones(len(scores), np.int64)), "recalled": pc.cast(kept, pa.int64()),
            "chars": text_len, "recalled_chars": pc.if_else(kept, text_len, 0),
            "score_sum": pa.array(scores.astype(np.float64)),
        }))  # fmt: skip
        self.pending += len(scores)
        if self.pending >= max(FOLD_ROWS // 16, self.domains[0].num_rows):  # group page rows now and then
            self.domains, self.pending = [_group(pa.concat_tables(self.domains))], 0
        chosen = index.filter(kept)
        hashes = pa.array([url_hash(u) for u in chosen["url"].to_pylist()], pa.uint64())
        self.kept.append(pa.table({"domain": chosen["domain"], "site": chosen["site"], "url_hash": hashes,
                                   "score": chosen["score"], "text_len": chosen["text_len"]}, schema=KEPT_SCHEMA))
        for row in pc.value_counts(index["lang"]).to_pylist():
            self.languages[row["values"]] += int(row["counts"])

    def tables(self) -> tuple[pa.Table, pa.Table]:
        domains = _group(pa.concat_tables(self.domains)) if self.domains else DOMAINS_SCHEMA.empty_table()
        meta = {"languages": json.dumps(dict(self.languages)), "threshold": repr(float(self.threshold))}
        domains = domains.cast(DOMAINS_SCHEMA).replace_schema_metadata(meta)
        kept = pa.concat_tables(self.kept) if self.kept else KEPT_SCHEMA.empty_table()
        return domains, kept

    def write(self, store: Store, round_no: int, location: str) -> None:
        domains, kept = self.tables()
        store.write_table(domains_partial_path(round_no, location), domains)
        store.write_table(kept_partial_path(round_no, location), kept)


def of_index(store: Store, round_no: int, location: str, threshold: float) -> tuple[pa.Table, pa.Table]:
    """The partials of a WARC from its index (a shard written before partials existed)."""
    parts = WarcPartials(threshold)
    for batch in store.iter_batches(index_path(round_no, location), columns=INDEX_COLUMNS):
        parts.add(pa.Table.from_batches([batch]))
    return parts.tables()


def ensure(store: Store, round_no: int, locations: Iterable[str], threshold: float) -> None:
    """Partials of the WARCs whose index was written before partials existed, from that index (one at a time)."""
    for loc in locations:
        if not (store.exists(domains_partial_path(round_no, loc)) and store.exists(kept_partial_path(round_no, loc))):
            domains, kept = of_index(store, round_no, loc, threshold)
            store.write_table(domains_partial_path(round_no, loc), domains)
            store.write_table(kept_partial_path(round_no, loc), kept)


def kept_tables(store: Store, round_no: int, locations: list[str]) -> Callable[[], Iterator[pa.Table]]:
    """The kept partials of a round's WARCs, read afresh (one at a time) at each call."""
    return lambda: (store.read_table(kept_partial_path(round_no, loc)) for loc in locations)


def page_count(store: Store, round_no: int, locations: Iterable[str]) -> int:
    """Pages in the index of a round's WARCs, from their domain partials."""
    tables = (store.read_table(domains_partial_path(round_no, loc), columns=["pages"]) for loc in locations)
    return sum(int(pc.sum(t["pages"]).as_py() or 0) for t in tables)


@dataclass(slots=True)
class Merged:
    """A round's domain partials merged: one row per (domain, site, bin), its languages and page count."""

    bins: pa.Table
    languages: Counter[str]
    pages: int


def merge_domains(tables: Iterable[pa.Table]) -> Merged:
    """Fold domain partials into one aggregate: memory O(domains x occupied bins), never O(pages)."""
    languages = Counter[str]()

    def each() -> Iterator[pa.Table]:
        for table in tables:
            languages.update(json.loads((table.schema.metadata or {}).get(b"languages", b"{}")))
            yield table

    running = _fold(each(), KEYS, SUMS)
    if running is None:
        running = DOMAINS_SCHEMA.empty_table().select(KEYS + SUMS)
    pages = int(pc.sum(running["pages"]).as_py() or 0) if running.num_rows else 0
    return Merged(running.cast(DOMAINS_SCHEMA.remove_metadata()), languages, pages)


def domain_totals(bins: pa.Table) -> pa.Table:
    """One row per (domain, site): the sums over its score bins."""
    grouped = bins.group_by(["domain", "site"], use_threads=False).aggregate([(c, "sum") for c in SUMS])
    return pa.table({"domain": grouped["domain"], "site": grouped["site"],
                     **{c: grouped[f"{c}_sum"] for c in SUMS}})  # fmt: skip


def quantiles(bins: pa.Table, qs: tuple[float, ...] = (0.1, 0.5, 0.9)) -> dict[tuple[str, str], list[float]]:
    """(domain, site) -> its score quantiles from the merged histogram: the linear interpolation between the two
    order statistics around rank q(n-1), each taken at its bin's centre (within half a bin of the exact value)."""
    if bins.num_rows == 0:
        return {}
    order = pc.sort_indices(bins, sort_keys=[("domain", "ascending"), ("site", "ascending"), ("bin", "ascending")])
    t = bins.take(order)
    codes = pc.binary_join_element_wise(t["domain"], t["site"], "\x1f").combine_chunks().dictionary_encode()
    code = codes.indices.to_numpy()
    n = t["pages"].to_numpy().astype(np.int64)
    centre = (t["bin"].to_numpy().astype(np.float64) + 0.5) / SCORE_BINS
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(n)]
    group = np.repeat(np.arange(len(starts)), ends - starts)
    cum = np.cumsum(n)
    before = np.r_[0, cum[:-1]][starts]  # pages of the groups before each group
    totals = cum[ends - 1] - before
    width = int(totals.max()) + 1
    keys = group * width + (cum - before[group])  # increasing: group, then pages up to and including the row
    out = np.empty((len(starts), len(qs)))
    for j, q in enumerate(qs):
        rank = q * (totals - 1)
        lo, hi = np.floor(rank).astype(np.int64), np.ceil(rank).astype(np.int64)
        at_lo = centre[np.searchsorted(keys, np.arange(len(starts)) * width + lo + 1)]
        at_hi = centre[np.searchsorted(keys, np.arange(len(starts)) * width + hi + 1)]
        out[:, j] = at_lo + (rank - lo) * (at_hi - at_lo)
    domain, site = t["domain"].take(starts).to_pylist(), t["site"].take(starts).to_pylist()
    return {(d, s): [float(v) for v in out[i]] for i, (d, s) in enumerate(zip(domain, site, strict=True))}


def topk_cut(kept: Callable[[], Iterable[pa.Table]], k: int, floor: float, *, pages: int) -> float:
    """The score of the K-th best page (ties keep a few more), never under `floor`: exactly
    `topk_threshold` over every score of the index, from the kept partials (the pages at or above the
    floor; `kept()` yields them afresh). A histogram of `FINE_BINS` finds the bin of the K-th best score, a second
    pass reads that bin's scores only. `pages`: all pages of the index (`page_count`)."""
    if pages == 0:
        return 1.0
    if k >= pages:
        return floor
    hist = np.zeros(FINE_BINS, np.int64)
    for t in kept():
        scores = t["score"].to_numpy()
        hist += np.bincount(score_bins(scores[scores >= floor], FINE_BINS), minlength=FINE_BINS)
    if int(hist.sum()) < k:  # the K-th best scores under the floor (or there are fewer than K pages)
        return floor
    above = np.cumsum(hist[::-1])  # pages in the top i+1 bins
    top = int(np.searchsorted(above, k))
    b = FINE_BINS - 1 - top  # the bin of the K-th best score
    rank = k - (int(above[top - 1]) if top else 0)  # its rank among that bin's scores, from the top
    inside = []
    for t in kept():
        scores = t["score"].to_numpy()
        inside.append(scores[(scores >= floor) & (score_bins(scores, FINE_BINS) == b)])
    kth = float(np.sort(np.concatenate(inside))[::-1][rank - 1])
    return max(kth, floor)


def kept_at(kept_tables: Iterable[pa.Table], threshold: float | None) -> Iterator[pa.Table]:
    """The kept partials cut at `threshold` (a top-K round's effective threshold; None: as kept by the task)."""
    for t in kept_tables:
        yield t if threshold is None else t.filter(pc.greater_equal(t["score"], pa.scalar(threshold, pa.float32())))


def recalled_by_domain(kept_tables: Iterable[pa.Table]) -> dict[tuple[str, str], tuple[int, int]]:
    """(domain, site) -> (recalled, recalled_chars) summed over kept partials."""
    parts = (pa.table({"domain": t["domain"], "site": t["site"], "recalled": pa.array(np.ones(t.num_rows, np.int64)),
                       "recalled_chars": pc.cast(t["text_len"], pa.int64())}) for t in kept_tables)  # fmt: skip
    running = _fold(parts, ["domain", "site"], ["recalled", "recalled_chars"])
    if running is None:
        return {}
    cols = [running[c].to_pylist() for c in ("domain", "site", "recalled", "recalled_chars")]
    return {(d, s): (int(r), int(c)) for d, s, r, c in zip(*cols, strict=True)}


def kept_keys(kept_tables: Iterable[pa.Table]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique URL hashes, their text lengths) of kept pages; a URL kept twice counts its last copy, as a
    dict of url -> text length would."""
    hashes, lengths = [], []
    for t in kept_tables:
        hashes.append(t["url_hash"].to_numpy())
        lengths.append(t["text_len"].to_numpy().astype(np.int64))
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    h, n = np.concatenate(hashes), np.concatenate(lengths)
    rev_unique, first = np.unique(h[::-1], return_index=True)  # first in reversed order: the last copy
    return rev_unique, n[::-1][first]


def round_index(store: Store, round_no: int, locations: list[str], columns: list[str] | None = None) -> pa.Table:
    """The round's page index over its completed WARC files (completed shards only). A column a shard written before
    it existed lacks (`prior`) reads as nulls."""
    tables = [_index_shard(store, index_path(round_no, loc), columns or INDEX_COLUMNS) for loc in locations]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in (columns or INDEX_COLUMNS)})
    return pa.concat_tables(tables)


def _index_shard(store: Store, rel: str, columns: list[str]) -> pa.Table:
    have = set(store.column_names(rel))
    table = store.read_table(rel, columns=[c for c in columns if c in have])
    for name in columns:
        if name not in have:
            spec = INDEX_SCHEMA.field(name)
            table = table.append_column(spec, pa.nulls(table.num_rows, spec.type))
    return table.select(columns)


def topk_threshold(scores: np.ndarray, k: int, floor: float) -> float:
    """The score of the K-th best page (ties keep a few more), never under the candidate floor."""
    if len(scores) == 0:
        return 1.0
    if k >= len(scores):
        return floor
    kth = float(np.partition(scores, len(scores) - k)[len(scores) - k])
    return max(kth, floor)
