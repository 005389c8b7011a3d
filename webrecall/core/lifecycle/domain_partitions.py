"""Finalize and discovery split by domain hash: K partition tasks, then a reduce in `finalize` and `discovery`.

Partition p takes the domains whose hash falls in it (`part_of`) from every finished WARC's partials and page index,
one WARC at a time, and writes, for those domains only:
- their `DomainStat` rows (the merge of their partials, `finalize.domain_rows`), written last: the completion marker;
- their discovery features, scored (`discovery.uncertainty`): the uncertain ones by priority, and all of them by
  name (the audit strata);

Every output is sorted the way the single-process rule ranks or samples it, so the reduce reads the K files merged
in that order and keeps what it takes: the round's top items, a sample's picks by rank. A partition holds
its share of the domains, never the round's pages; the reduce holds the round's related domains and queue. The page
items (`labelling.page_items`) are not split yet: their strategies read the round's whole index in the reduce.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrecall.core import label_store, labelfile
from webrecall.core.db import QueueItem, session
from webrecall.core.labelling.discovery import Candidates, DomainFeatures, Scored, features, stratum, uncertainty
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.pipeline import partials
from webrecall.core.queries import done_warcs
from webrecall.core.storage.layout import domains_partial_path, index_path, url_hash
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import url_key


def path(round_no: int, kind: str, partition: int) -> str:
    return f"rounds/{round_no}/finalize/{kind}-{partition:04d}.parquet"


def part_of(values: pa.Array | pa.ChunkedArray, k: int) -> np.ndarray:
    """The partition of each domain: its 64-bit hash modulo k, the same on every machine (hashed once per distinct
    domain of the array)."""
    encoded = pc.dictionary_encode(values).combine_chunks() if isinstance(values, pa.ChunkedArray) else (
        pc.dictionary_encode(values))  # fmt: skip
    hashes = np.array([url_hash(d) % k for d in encoded.dictionary.to_pylist()], np.int64)
    return hashes[encoded.indices.to_numpy(zero_copy_only=False)] if len(hashes) else np.zeros(0, np.int64)


def mine(table: pa.Table, k: int, partition: int) -> pa.Table:
    """The rows of `table` whose domain falls in `partition` (schema metadata kept)."""
    if k == 1:
        return table
    return table.filter(pa.array(part_of(table["domain"], k) == partition))


def _fold(into: dict[str, DomainFeatures], more: dict[str, DomainFeatures]) -> None:
    sums = [name for name in FEATURES if name != "domain"]
    for domain, f in more.items():
        have = into.get(domain)
        if have is None:
            into[domain] = f
            continue
        for name in sums:
            setattr(have, name, getattr(have, name) + getattr(f, name))


def _write(store: Store, rel: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    store.write_table(rel, pa.Table.from_pylist(rows, schema=schema))


SCORED = pa.schema([("domain", pa.string()), ("stratum", pa.string()), ("priority", pa.float64()),
                    ("details", pa.string())])  # fmt: skip
FEATURES = [f.name for f in fields(DomainFeatures)]


def without(held: frozenset[str], table: pa.Table) -> pa.Table:
    """`table`'s pages less those of the round's holdout (keys of their URLs): never asked about, since a label
    would train on them."""
    if not held or not table.num_rows:
        return table
    return table.filter(pa.array([url_key(u) not in held for u in table.column("url").to_pylist()], pa.bool_()))


def run_partition(ctx: RoundContext, partition: int) -> str:
    """One partition's domain rows, discovery features and page candidates (see the module's docstring). A top-K
    round's cut is on the round already (the `cut` step); its index's `kept` is written back at that cut."""
    from webrecall.core.lifecycle.finalize import domain_rows

    settings, store, number, k = ctx.settings, ctx.store, ctx.number, ctx.params.finalize_partitions
    with session(settings.db_url) as db:
        done = done_warcs(db, ctx.id)
        label_set, coverage = label_store.pattern_set(db), label_store.coverage_set(db)
    merged = partials.merge_domains(mine(store.read_table(domains_partial_path(number, loc)), k, partition)
                                    for loc in done)  # fmt: skip
    cut = ctx.round.effective_threshold if ctx.round.top_k is not None else None
    recalled = None
    if cut is not None:
        kept = (mine(t, k, partition) for t in partials.kept_tables(store, number, done)())
        recalled = partials.recalled_by_domain(partials.kept_at(kept, cut))
    rows = domain_rows(merged, ctx.id, settings.related_fraction, recalled)
    feats: dict[str, DomainFeatures] = {}
    held = labelfile.keys(ctx.params.holdout_labels)
    for loc in done:
        table = store.read_table(index_path(number, loc), columns=["url", "domain", "score", "kept"])
        table = without(held, mine(table, k, partition))
        if table.num_rows:
            _fold(feats, features(table, label_set, coverage))
    scored = sorted(((uncertainty(f, settings.related_fraction), f) for f in feats.values() if f.covered < f.pages),
                    key=lambda s: s[1].domain)  # fmt: skip
    strata: list[dict[str, Any]] = [
        {"domain": f.domain, "stratum": stratum(f, settings.related_fraction), "priority": u["priority"],
         "details": json.dumps({**asdict(f), **u})} for u, f in scored]  # fmt: skip
    ranked = sorted((r for r, (u, _) in zip(strata, scored, strict=True) if u["uncertainty"] > 0),
                    key=lambda r: (-r["priority"], r["domain"]))  # fmt: skip
    _write(store, path(number, "ranked", partition), ranked, SCORED)
    sizes = Counter(r["stratum"] for r in strata)
    store.write_table(path(number, "strata", partition),
                      pa.Table.from_pylist(strata, schema=SCORED).replace_schema_metadata({"sizes": json.dumps(sizes)}))
    table = pa.Table.from_pylist(rows) if rows else pa.table({"domain": pa.array([], pa.string())})
    meta = {"pages": str(merged.pages), "languages": json.dumps(dict(merged.languages))}
    store.write_table(path(number, "domains", partition), table.replace_schema_metadata(meta))
    return path(number, "domains", partition)


def ensure(ctx: RoundContext) -> None:
    """Partitions not computed yet (a resumed round, or one whose tasks were lost) are computed here."""
    for p in range(ctx.params.finalize_partitions):
        if not ctx.store.exists(path(ctx.number, "domains", p)):
            run_partition(ctx, p)


def run_partitions(ctx: RoundContext) -> list[str]:
    """The embedded default's loop over the partitions (Celery runs them as a group of tasks instead)."""
    return [run_partition(ctx, p) for p in range(ctx.params.finalize_partitions)]


def _rows(store: Store, rel: str, batch_size: int = 8192) -> Iterator[dict[str, Any]]:
    for batch in store.iter_batches(rel, batch_size=batch_size):
        yield from batch.to_pylist()


def _merged(ctx: RoundContext, kind: str, key: Callable[[dict[str, Any]], Any]) -> Iterator[dict[str, Any]]:
    """The K partitions' `kind` rows as one stream in `key` order (each file is sorted by it): memory O(K)."""
    k = ctx.params.finalize_partitions
    return heapq.merge(*(_rows(ctx.store, path(ctx.number, kind, p)) for p in range(k)), key=key)


def _scored(row: dict[str, Any]) -> Scored:
    details = json.loads(row["details"])
    f = DomainFeatures(**{name: details.pop(name) for name in FEATURES})
    return details, f


def candidates(ctx: RoundContext) -> Candidates:
    """The round's queue candidates, merged from its partitions."""
    sizes: Counter[str] = Counter()
    for p in range(ctx.params.finalize_partitions):
        meta = ctx.store.read_table(path(ctx.number, "strata", p), columns=[]).schema.metadata or {}
        sizes.update(json.loads(meta.get(b"sizes", b"{}")))
    ranked = (_scored(r) for r in _merged(ctx, "ranked", lambda r: (-r["priority"], r["domain"])))
    return Candidates(ranked, lambda name: (_scored(r) for r in _merged(ctx, "strata", lambda r: r["domain"])
                                            if r["stratum"] == name), dict(sizes))  # fmt: skip


def features_of(ctx: RoundContext, domains: set[str]) -> dict[str, DomainFeatures]:
    """The features of those of `domains` the round has and has not fully labelled, from its partitions."""
    found = (_scored(r)[1] for p in range(ctx.params.finalize_partitions)
             for r in _rows(ctx.store, path(ctx.number, "strata", p)) if r["domain"] in domains)  # fmt: skip
    return {f.domain: f for f in found} if domains else {}


def page_queue(ctx: RoundContext, skip: set[str], *, seed: int, max_items: int) -> list[QueueItem]:
    """The round's page items (`labelling.page_items`: its strategies read the round's whole index, so this part of
    the reduce holds the round's pages)."""
    from webrecall.core.labelling import page_items

    with session(ctx.settings.db_url) as db:
        done, coverage = done_warcs(db, ctx.id), label_store.coverage_set(db)
    index = partials.round_index(ctx.store, ctx.number, done, columns=page_items.INDEX_COLUMNS)
    index = without(labelfile.keys(ctx.params.holdout_labels), index)
    if not index.num_rows:
        return []
    return page_items.plan_page_items(index, ctx.id, threshold=ctx.round.effective_threshold or ctx.round.threshold,
                                      coverage=coverage, skip_domains=skip, seed=seed, max_items=max_items)  # fmt: skip
