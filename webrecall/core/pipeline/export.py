"""Export a round's recalled pages as JSONL or Parquet, streamed shard by shard (constant memory)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webrecall.core.db import session
from webrecall.core.labelling.label_store import pattern_set
from webrecall.core.labelling.patterns import PatternSet
from webrecall.core.lifecycle.queries import done_warcs, find_round, latest_done
from webrecall.core.pipeline.dedup import contaminated_for, removed_for
from webrecall.core.pipeline.passes import PAGES_SCHEMA, pages_path
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import unfence

Format = Literal["jsonl", "parquet"]


def recalled_batches(
    settings: Settings, round_no: int, *, min_score: float | None = None, dedup: bool = True,
    decontaminate: bool = True, fences: bool = False,
) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The recalled pages of a round: completed WARC shards only, at or above the round's effective threshold."""
    return (batch for _, batch, _ in recalled_from(settings, round_no, min_score=min_score, dedup=dedup,
                                                   decontaminate=decontaminate, fences=fences))  # fmt: skip


EXPORT_SCHEMA = PAGES_SCHEMA.append(pa.field("label", pa.string())).append(pa.field("label_pattern", pa.string()))
"""A recalled page with its lineage: the agreed human label covering its URL (most specific pattern), if any."""
EXPORT_SCHEMA = (EXPORT_SCHEMA.append(pa.field("dedup_of", pa.string())).append(pa.field("dedup_reason", pa.string()))
                 .append(pa.field("dedup_jaccard", pa.float32())).append(pa.field("contaminated", pa.string())))
"""... and its dedup lineage: the kept copy's page id, why this copy is not it, the near-duplicate pair's estimated
Jaccard, and the benchmark problems (`benchmark:id`, comma-separated) its text overlaps (core/pipeline/dedup.py)."""


FENCED_EXTRACTORS = frozenset({"resiliparse"})
"""Extractors whose text carries ``` fences around code blocks (webrecall.core.text.extract.tree_text)."""


def _with_lineage(batch: pa.RecordBatch, labels: PatternSet[str], dups: dict, dirty: dict, *,
                  fences: bool) -> pa.RecordBatch:  # fmt: skip
    """The pages' columns in PAGES_SCHEMA order (a shard written before `text_extractor` existed has it null),
    code fences kept or removed, the label lineage and the dedup lineage."""
    n = batch.num_rows
    columns = [batch.column(f.name) if f.name in batch.schema.names else pa.nulls(n, f.type) for f in PAGES_SCHEMA]
    if not fences:
        extractors = columns[PAGES_SCHEMA.get_field_index("text_extractor")].to_pylist()
        if any(e in FENCED_EXTRACTORS for e in extractors):
            texts = columns[PAGES_SCHEMA.get_field_index("text")].to_pylist()
            plain = [unfence(t) if t and e in FENCED_EXTRACTORS else t for t, e in zip(texts, extractors, strict=True)]
            columns[PAGES_SCHEMA.get_field_index("text")] = pa.array(plain, pa.string())
    matches = [labels.match(url) for url in batch.column("url").to_pylist()]
    label = pa.array([m[1] if m else None for m in matches], pa.string())
    pattern = pa.array([m[0].text if m else None for m in matches], pa.string())
    keys = list(zip(batch.column("warc").to_pylist(), batch.column("offset").to_pylist(), strict=True))
    gone = [dups.get(k) for k in keys]
    lineage = [pa.array([g and g["dedup_of"] for g in gone], pa.string()),
               pa.array([g and g["reason"] for g in gone], pa.string()),
               pa.array([g and g["jaccard"] for g in gone], pa.float32()),
               pa.array([dirty.get(k) for k in keys], pa.string())]  # fmt: skip
    return pa.RecordBatch.from_arrays([*columns, label, pattern, *lineage], schema=EXPORT_SCHEMA)


def export(settings: Settings, round_no: int, out: IO[bytes], *, fmt: Format = "jsonl",
           min_score: float | None = None, dedup: bool = True, decontaminate: bool = True,
           fences: bool = False) -> int:  # fmt: skip
    """Write the round's recalled pages to a binary stream; returns the number of rows.

    `fences`: keep the ``` lines around code blocks that the cached text carries (downstream tools can tell
    code from prose); without them the text is the same minus those lines."""
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"unknown export format {fmt!r}; valid: jsonl, parquet")
    rows = 0
    writer = pq.ParquetWriter(out, EXPORT_SCHEMA, compression="zstd") if fmt == "parquet" else None
    try:
        batches = recalled_batches(settings, round_no, min_score=min_score, dedup=dedup, decontaminate=decontaminate,
                                   fences=fences)
        for batch in batches:
            rows += batch.num_rows
            if writer is not None:
                writer.write_batch(batch)
                continue
            for row in batch.to_pylist():
                row["score"] = round(float(row["score"]), 6)
                out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    finally:
        if writer is not None:
            writer.close()
    return rows


def recalled_from(
    settings: Settings, round_no: int, *, min_score: float | None = None, shard: int = 0, row: int = 0,
    dedup: bool = True, decontaminate: bool = True, fences: bool = False,
) -> Iterator[tuple[int, pa.RecordBatch, pa.Array]]:  # fmt: skip
    """`recalled_batches` from a position, with one: (shard index, batch, row numbers in the shard).

    Shards are the round's completed WARC files in sorted order, fixed once the round is done, so
    (shard, row) after the last row received is a resume cursor; earlier shards are not read at all.
    `dedup` leaves out the copies that the newest dedup of a round covering this one removed (`core.pipeline.dedup`),
    `decontaminate` the pages overlapping a benchmark; either way the rows carry their lineage columns.
    """
    with session(settings.db_url) as db:
        rnd = find_round(db, round_no)
        if rnd is None:
            raise ValueError(f"no round {round_no}")
        if rnd.status != "done":
            raise ValueError(f"round {round_no} is {rnd.status}, not done")
        labels = pattern_set(db)
        done = done_warcs(db, rnd.id)
        newest = latest_done(db)
        latest = max(newest.number if newest else round_no, round_no)
    floor = pa.scalar(max(rnd.effective_threshold or rnd.threshold, min_score or 0.0), pa.float32())
    store = Store(settings.data_dir)
    dups, dirty = removed_for(store, round_no, latest), contaminated_for(store, round_no, list(done))
    for index, location in enumerate(sorted(done)):
        if index < shard:
            continue
        base = 0
        for batch in store.iter_batches(pages_path(round_no, location)):
            numbers = pa.array(range(base, base + batch.num_rows), pa.int64())
            base += batch.num_rows
            mask = pc.greater_equal(batch.column("score"), floor)
            if index == shard and row:
                mask = pc.and_(mask, pc.greater_equal(numbers, pa.scalar(row, pa.int64())))
            if (dedup and dups) or (decontaminate and dirty):
                keys = zip(batch.column("warc").to_pylist(), batch.column("offset").to_pylist(), strict=True)
                clean = [not (dedup and k in dups) and not (decontaminate and k in dirty) for k in keys]
                mask = pc.and_(mask, pa.array(clean))
            kept = batch.filter(mask)
            if kept.num_rows:
                yield index, _with_lineage(kept, labels, dups, dirty, fences=fences), numbers.filter(mask)
