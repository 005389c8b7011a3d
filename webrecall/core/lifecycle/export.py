"""Export a round's recalled pages in any format of the writer registry (`pipeline.writers`: JSONL, Parquet),
streamed shard by shard (constant memory)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrecall.core import params
from webrecall.core.db import session
from webrecall.core.label_store import pattern_set
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.threshold import kept_threshold
from webrecall.core.pipeline.dedup import Spans, contaminated_for, redaction_spans, removed_for
from webrecall.core.pipeline.expand import positives
from webrecall.core.pipeline.writers import get_writer
from webrecall.core.queries import done_warcs, find_round, latest_done
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import PAGES_SCHEMA, REDACTIONS, pages_path, sigs_path
from webrecall.core.storage.layout import expand_sigs_path as index_sigs_path
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import EXTRACTORS, unfence
from webrecall.core.text.redact import redact_utf8, replace
from webrecall.core.urls.patterns import PatternSet


def recalled_batches(
    settings: Settings, round_no: int, *, min_score: float | None = None, dedup: bool = True,
    decontaminate: bool = True, fences: bool = False, redact: bool = True,
) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The recalled pages of a round: completed WARC shards only, at or above the round's effective threshold."""
    return (batch for _, batch, _ in recalled_from(settings, round_no, min_score=min_score, dedup=dedup,
                                                   decontaminate=decontaminate, fences=fences,
                                                   redact=redact))  # fmt: skip


EXPORT_SCHEMA = PAGES_SCHEMA.append(pa.field("label", pa.string())).append(pa.field("label_pattern", pa.string()))
"""A recalled page with its lineage: the agreed human label covering its URL (most specific pattern), if any."""
EXPORT_SCHEMA = (EXPORT_SCHEMA.append(pa.field("dedup_of", pa.string())).append(pa.field("dedup_reason", pa.string()))
                 .append(pa.field("dedup_jaccard", pa.float32())).append(pa.field("contaminated", pa.string())))
"""... and its dedup lineage: the kept copy's page id, why this copy is not it, the near-duplicate pair's estimated
Jaccard, and the benchmark problems (`benchmark:id`, comma-separated) its text overlaps (pipeline/dedup.py)."""
EXPORT_SCHEMA = EXPORT_SCHEMA.append(pa.field("source", pa.string())).append(pa.field("index_pattern", pa.string()))
"""... and where the page came from: `recall` (the round's model kept it; it has a score) or `index` (under an
agreed code label, fetched through the crawl's index from a WARC file outside the round's sample, pipeline/expand.py;
no score, no model) with `index_pattern`, the labelled pattern whose lookup found it."""
EXPORT_SCHEMA = EXPORT_SCHEMA.append(pa.field("redactions", REDACTIONS))
"""... and what was replaced in its text by a placeholder, by kind (`webrecall.core.text.redact`): {} when nothing
was, null when the export was asked not to redact."""


FENCED_EXTRACTORS = frozenset(name for name, e in EXTRACTORS.items() if e.fences)
"""Extractors whose text carries ``` fences around code blocks (webrecall.core.text.extract.tree_text)."""


def _with_lineage(batch: pa.RecordBatch, labels: PatternSet[str], dups: dict, dirty: dict, *, fences: bool,
                  redact: bool, spans: Spans | None = None, source: str = "recall",
                  index_pattern: pa.Array | None = None) -> pa.RecordBatch:  # fmt: skip
    """The pages' columns in PAGES_SCHEMA order (a shard written before `text_extractor` existed has it null),
    secrets and personal data redacted or not (`spans`: where the dedup step found them), code fences kept or
    removed (after the redaction, so its spans stand), the label lineage and the dedup lineage."""
    n = batch.num_rows
    columns = [batch.column(f.name) if f.name in batch.schema.names else pa.nulls(n, f.type) for f in PAGES_SCHEMA]
    redactions = _redacted(columns, spans) if redact else pa.nulls(n, REDACTIONS)
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
    origin = [pa.array([source] * n, pa.string()),
              index_pattern if index_pattern is not None else pa.nulls(n, pa.string())]
    return pa.RecordBatch.from_arrays([*columns, label, pattern, *lineage, *origin, redactions], schema=EXPORT_SCHEMA)


def _redacted(columns: list[pa.Array], spans: Spans | None = None) -> pa.Array:
    """The export's redaction hook: replaces the text column in place, returns the counts by kind per row. A page
    in `spans` has its values replaced where the dedup step found them (most pages: none, and nothing is read);
    any other is scanned as it lies in the column's UTF-8 buffer. Only texts with something to replace become
    Python strings, and the column is rebuilt with those replaced (the others are copied as bytes)."""
    at = PAGES_SCHEMA.get_field_index("text")
    texts = columns[at].cast(pa.string())
    known: list[list[tuple[int, int, str]] | None] = [None] * len(texts)
    if spans:
        keys = zip(columns[PAGES_SCHEMA.get_field_index("warc")].to_pylist(),
                   columns[PAGES_SCHEMA.get_field_index("offset")].to_pylist(), strict=True)  # fmt: skip
        known = [spans.get(k) for k in keys]
    offsets = np.frombuffer(texts.buffers()[1], np.int32)[texts.offset : texts.offset + len(texts) + 1].tolist()
    data = memoryview(texts.buffers()[2] or b"")
    new: list[str] = []
    changed = np.zeros(len(texts), np.bool_)
    counts: list[list[tuple[str, int]]] = []
    for i in range(len(texts)):
        if (found := known[i]) is not None:
            got = replace(texts[i].as_py(), found) if found else None
        else:
            got = redact_utf8(data[offsets[i] : offsets[i + 1]]) if offsets[i + 1] > offsets[i] else None
        counts.append(list(got[1].items()) if got else [])
        if got:
            changed[i] = True
            new.append(got[0])
    if new:
        columns[at] = pc.replace_with_mask(texts, pa.array(changed), pa.array(new, pa.string()))
    return pa.array(counts, REDACTIONS)


def _expanded_batch(table: pa.Table, extractor: str) -> tuple[pa.RecordBatch, pa.Array]:
    """Expanded positives (pipeline.expand.EXPANDED_SCHEMA) as recalled-page columns, and their patterns."""
    n = table.num_rows
    cols = {f.name: table.column(f.name).combine_chunks() if f.name in table.column_names else pa.nulls(n, f.type)
            for f in PAGES_SCHEMA}  # fmt: skip
    if "text_extractor" not in table.column_names:  # a shard written before the column existed
        cols["text_extractor"] = pa.array([extractor] * n, pa.string())
    cols["score"], cols["model"] = pa.nulls(n, pa.float32()), pa.nulls(n, pa.string())
    batch = pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in PAGES_SCHEMA], schema=PAGES_SCHEMA)
    return batch, table.column("pattern").combine_chunks()


def export(settings: Settings, round_no: int, out: IO[bytes], *, fmt: str = "jsonl",
           min_score: float | None = None, dedup: bool = True, decontaminate: bool = True,
           fences: bool = False, redact: bool = True) -> int:  # fmt: skip
    """Write the round's recalled pages to a binary stream in the format `fmt` names; returns the number of rows.

    `fences`: keep the ``` lines around code blocks that the cached text carries (downstream tools can tell
    code from prose); without them the text is the same minus those lines. `redact`: replace secrets and personal
    data by placeholders (`webrecall.core.text.redact`), each row counting what it lost."""
    rows = 0
    with get_writer(fmt)(out, EXPORT_SCHEMA) as writer:
        for batch in recalled_batches(settings, round_no, min_score=min_score, dedup=dedup,
                                      decontaminate=decontaminate, fences=fences, redact=redact):  # fmt: skip
            rows += batch.num_rows
            writer.write(batch)
    return rows


def recalled_from(
    settings: Settings, round_no: int, *, min_score: float | None = None, shard: int = 0, row: int = 0,
    dedup: bool = True, decontaminate: bool = True, fences: bool = False, redact: bool = True,
) -> Iterator[tuple[int, pa.RecordBatch, pa.Array]]:  # fmt: skip
    """`recalled_batches` from a position, with one: (shard index, batch, row numbers in the shard).

    Shards are the round's completed WARC files in sorted order, then the WARC files its expansion fetched from
    (their positives: `source` `index`, exported whatever `min_score`, since a label covers them), fixed once the
    round is done, so (shard, row) after the last row received is a resume cursor; earlier shards are not read at
    all. `dedup` leaves out the copies that the newest dedup of a round covering this one removed (`pipeline.dedup`),
    `decontaminate` the pages overlapping a benchmark; either way the rows carry their lineage columns. `redact`
    replaces secrets and personal data in the text by placeholders, batch by batch (`_redacted`).
    """
    with session(settings.db_url) as db:
        rnd = find_round(db, round_no)
        if rnd is None:
            raise ValueError(f"no round {round_no}")
        if rnd.status != "done":
            raise ValueError(f"round {round_no} is {rnd.status}, not done")
        labels = pattern_set(db)
        done = done_warcs(db, rnd.id)
        expanded = sorted(done_warcs(db, rnd.id, "expand"))
        newest = latest_done(db)
        latest = max(newest.number if newest else round_no, round_no)
    floor = pa.scalar(max(kept_threshold(RoundContext.of(settings, rnd)), min_score or 0.0), pa.float32())
    store = Store(settings.data_dir)
    dups = removed_for(store, round_no, latest)
    dirty = contaminated_for(store, round_no, list(done), [index_sigs_path(round_no, loc) for loc in expanded])

    def clean(batch: pa.RecordBatch | pa.Table) -> pa.Array | None:
        if not ((dedup and dups) or (decontaminate and dirty)):
            return None
        keys = zip(batch.column("warc").to_pylist(), batch.column("offset").to_pylist(), strict=True)
        return pa.array([not (dedup and k in dups) and not (decontaminate and k in dirty) for k in keys])

    for index, location in enumerate(sorted(done)):
        if index < shard:
            continue
        base = 0
        spans = redaction_spans(store, sigs_path(round_no, location)) if redact else None
        for batch in store.iter_batches(pages_path(round_no, location)):
            numbers = pa.array(range(base, base + batch.num_rows), pa.int64())
            base += batch.num_rows
            mask = pc.greater_equal(batch.column("score"), floor)
            if index == shard and row:
                mask = pc.and_(mask, pc.greater_equal(numbers, pa.scalar(row, pa.int64())))
            if (keep := clean(batch)) is not None:
                mask = pc.and_(mask, keep)
            kept = batch.filter(mask)
            if kept.num_rows:
                lineage = _with_lineage(kept, labels, dups, dirty, fences=fences, redact=redact, spans=spans)
                yield index, lineage, numbers.filter(mask)
    extractor = params.of(rnd).score_extractor
    for index, location in enumerate(expanded, start=len(done)):
        if index < shard or (table := positives(store, round_no, location)) is None or not table.num_rows:
            continue
        numbers = pa.array(range(table.num_rows), pa.int64())
        mask = pc.greater_equal(numbers, pa.scalar(row if index == shard else 0, pa.int64()))
        if (keep := clean(table)) is not None:
            mask = pc.and_(mask, keep)
        batch, patterns = _expanded_batch(table.filter(mask), extractor)
        if batch.num_rows:
            spans = redaction_spans(store, index_sigs_path(round_no, location)) if redact else None
            yield index, _with_lineage(batch, labels, dups, dirty, fences=fences, redact=redact, spans=spans,
                                       source="index", index_pattern=patterns), numbers.filter(mask)  # fmt: skip
