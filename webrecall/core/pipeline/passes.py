"""Work on one WARC file: the two stages every round is made of.

- `index_warc`: stream the WARC once -> HTML pages -> fast text (resiliparse) -> the page cache
  (`cache/<warc_id>.parquet`). Needs no model; later rounds never re-read the WARC.
- `recall_warc`: page cache -> BPE + fastText score -> per-round page index -> the kept pages with their
  cached text (code blocks fenced, see core/text/extract.py): nothing is re-read. A round that asks for another
  `text_extractor` (trafilatura) fetches its candidates back by byte range (coalesced) and extracts them again.
Both write their file last-to-first atomically, so a rerun replaces and never duplicates.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from more_itertools import chunked

from webrecall.core.crawl.sources import DEFAULT_READ, ReadOptions, open_stream, read_range
from webrecall.core.crawl.warc import iter_pages, read_page
from webrecall.core.errors import SkippableError, StopCheck, stop_if
from webrecall.core.model import prior
from webrecall.core.model.scorer import Scorer
from webrecall.core.page import Page, Stats
from webrecall.core.pipeline.partials import WarcPartials
from webrecall.core.storage.layout import (
    BAND_SCHEMA,
    CACHE_COLUMNS,
    CACHE_SCHEMA,
    CODE_COLUMNS,
    INDEX_SCHEMA,
    PAGES_SCHEMA,
    SHAPED_TOKENS_SCHEMA,
    TOKENS_SCHEMA,
    band_path,
    cache_path,
    index_path,
    pages_path,
    token_cache_path,
)
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import DEFAULT, get_extractor
from webrecall.core.text.features import page_text, with_signals
from webrecall.core.text.fidelity import CodeCounts
from webrecall.core.text.lang import guess_lang
from webrecall.core.urls.domains import split_url

BATCH = 512
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)

def _title(html: str) -> str:
    m = _TITLE.search(html, 0, 65536)
    return " ".join(htmllib.unescape(m.group(1)).split())[:500] if m else ""


def _cache_rows(pages: Iterable[Page], *, extractor: str, stats: Stats) -> Iterator[dict]:
    for page in pages:
        with stats.timer("extract"):
            got = page_text(page.html, extractor)  # one parse: text, code counts, code signals
        text, code = got.text, got.code
        if not text:
            stats.incr("empty_text")
        host, site, path = split_url(page.url)
        yield {
            "url": page.url, "domain": host, "site": site, "path": path, "warc": page.warc_path,
            "offset": page.offset, "length": page.length, "title": _title(page.html),
            "lang": guess_lang(text), "text": text, "text_len": len(text),
            "code_blocks": code.blocks, "code_verbatim": code.verbatim, "code_present": code.present,
            "signals": got.signals,
        }  # fmt: skip


def index_warc(
    location: str, *, store: Store, stats: Stats, extractor: str = DEFAULT, read: ReadOptions = DEFAULT_READ,
) -> str:  # fmt: skip
    """Read a WARC once into the page cache of `extractor`; returns the cache path. Bad records are counted, not
    fatal. `read.should_stop` is asked between batches (`Cancelled` when it says yes)."""
    rel = cache_path(location, get_extractor(extractor).id)
    before = {key: stats[key] for key in ("records", "html_pages", *UNREADABLE)}
    with open_stream(location, timeout=read.timeout, retries=read.retries) as stream, \
            store.writer(rel, CACHE_SCHEMA) as out:  # fmt: skip
        stats.incr("stream_opens")
        pages = iter_pages(stream, warc_path=location, stats=stats, max_record_bytes=read.max_record_bytes)
        for batch in chunked(_cache_rows(pages, extractor=extractor, stats=stats), BATCH):
            out.write_table(pa.Table.from_pylist(batch, schema=CACHE_SCHEMA))
            stats.incr("html_pages", len(batch))
            stop_if(read.should_stop)
        counted = {key: stats[key] - n for key, n in before.items()}
        if (reason := unreadable(counted)) is not None:
            raise SkippableError(f"{location}: {reason}")  # inside the writer: no page cache file is left behind
        out.add_key_value_metadata({CACHE_RECORDS: str(counted["records"])})  # what a later round's cache hit counts
    return rel


CACHE_RECORDS = "webrecall.records"
"""The page cache's footer key for the WARC records its index pass read."""


UNREADABLE = ("dropped_unparseable", "dropped_truncated", "dropped_corrupt")
"""The drops of a file that may not be a WARC file at all."""


def unreadable(counts: dict[str, int]) -> str | None:
    """Why a file gave no page where a WARC file would (an empty download, an HTML error page, a whole-file gzip), or
    None: a file that gave pages, or whole records none of which is an HTML page, was read."""
    if counts["html_pages"]:
        return None
    drops = ", ".join(f"{key.removeprefix('dropped_')}: {counts[key]}" for key in UNREADABLE if counts[key])
    if not counts["records"]:
        return f"not a WARC file: no record could be read ({drops})" if drops else "empty: not one WARC record in it"
    return f"no page could be read, the file is broken or not a per-record gzip WARC file ({drops})" if drops else None


@dataclass(slots=True)
class Decision:
    threshold: float
    """Pages scoring at or above it are kept."""
    margin: float = 0.0
    """Pages within `margin` below it are re-scored on the round's own kept text (the cascade). Only a round
    whose `text_extractor` is not the cache's has one: re-scoring the cached text would change nothing."""


def _coalesce(rows: list[dict], gap: int = 256 * 1024, span: int = 8 * 1024 * 1024) -> Iterator[list[dict]]:
    """Group records by nearby offsets so one range request fetches several kept pages."""
    group: list[dict] = []
    for row in sorted(rows, key=lambda r: r["offset"]):
        if group and (
            row["offset"] - (group[-1]["offset"] + group[-1]["length"]) > gap
            or row["offset"] + row["length"] - group[0]["offset"] > span
        ):
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def fetch_pages(location: str, rows: list[dict], *, stats: Stats, read: ReadOptions) -> Iterator[tuple[dict, Page]]:
    """Read records back by byte range (the page index says where), never the whole file."""
    for group in _coalesce(rows):
        stop_if(read.should_stop)
        start = group[0]["offset"]
        end = max(r["offset"] + r["length"] for r in group)
        with stats.timer("range_read"):
            blob = read_range(location, start, end - start, timeout=read.timeout, retries=read.retries)
        stats.incr("range_reads")
        stats.incr("range_bytes", len(blob))
        for row in group:
            chunk = blob[row["offset"] - start : row["offset"] - start + row["length"]]
            refetch = Stats()  # the reader's own counters must not mix with this stage's total/kept
            page = read_page(
                chunk, warc_path=location, offset=row["offset"], stats=refetch, max_record_bytes=read.max_record_bytes
            )
            if page is None:
                for reason, n in refetch.errors().items():
                    stats.incr(f"refetch_failed_{reason}", n)
                continue
            yield row, page


def scoring_texts(data: dict) -> list[str]:
    """The classifier inputs of a page-cache batch: each text behind its page's code-signals line."""
    signals = data.get("signals") or [None] * len(data["text"])
    return [with_signals(t, s) for t, s in zip(data["text"], signals, strict=True)]


def _scored_batches(
    location: str, *, store: Store, scorer: Scorer, extractor_id: str, stats: Stats, should_stop: StopCheck | None
) -> Iterator[tuple[dict, np.ndarray]]:
    """Page-cache batches (of the extractor `extractor_id`) with their scores. Token lines are cached per scorer
    input: a later round that keeps the tokenizer (as the loop does) scores with fastText alone, no BPE. Each batch
    carries its pages' code-structure numbers (`shape`, cached beside the token lines)."""
    rel, tok_rel = cache_path(location, extractor_id), token_cache_path(location, extractor_id, scorer.input_id)
    if not store.exists(rel):  # a task failed as any unreadable input does: recorded, the round goes on
        raise FileNotFoundError(f"no page cache of {location} made by {extractor_id} (is its index task done?)")
    return scored_batches(rel, tok_rel, store=store, scorer=scorer, stats=stats, should_stop=should_stop, shapes=True)


def _shapes(data: dict, stats: Stats) -> np.ndarray:
    with stats.timer("shape"):
        return prior.vectors(data.get("signals"), data["text"])


def scored_batches(
    rel: str, tok_rel: str, *, store: Store, scorer: Scorer, stats: Stats, should_stop: StopCheck | None,
    inputs: Callable[[dict], list[str]] = scoring_texts, columns: list[str] | None = None, shapes: bool = False,
) -> Iterator[tuple[dict, np.ndarray]]:  # fmt: skip
    """Batches of a cache file with their scores, the scorer's input lines cached in `tok_rel` (keyed by the
    batches' `offset`): `inputs` makes a batch's classifier inputs when they are not cached yet. `shapes`: each
    batch gets its pages' `model.prior` numbers as `data["shape"]` (a matrix) before it is scored, cached with the
    token lines."""
    batches = store.iter_batches(rel, batch_size=BATCH, columns=columns)
    if store.exists(tok_rel):
        stats.incr("token_cache_hit")
        has_shape = shapes and "shape" in store.column_names(tok_rel)
        cached = store.iter_batches(tok_rel, batch_size=BATCH)
        for batch, tok in zip(batches, cached, strict=True):
            stop_if(should_stop)
            data = batch.to_pydict()
            if tok.column("offset").to_pylist() != data["offset"]:
                raise RuntimeError(f"token cache {tok_rel} is out of step with the page cache")
            if shapes:
                data["shape"] = (np.asarray(tok.column("shape").to_pylist(), dtype=np.float32).reshape(
                    tok.num_rows, len(prior.FEATURES)) if has_shape else _shapes(data, stats))  # fmt: skip
            with stats.timer("score"):
                scores = scorer.score_batch(data, tok.column("line").to_pylist())
            yield data, scores
        return
    schema = SHAPED_TOKENS_SCHEMA if shapes else TOKENS_SCHEMA
    with store.writer(tok_rel, schema) as tok_out:
        for batch in batches:
            stop_if(should_stop)
            data = batch.to_pydict()
            with stats.timer("tokenize"):
                lines = scorer.tokenize(inputs(data))
            cols: dict[str, Any] = {"offset": data["offset"], "line": lines}
            if shapes:
                data["shape"] = _shapes(data, stats)
                cols["shape"] = list(data["shape"])
            with stats.timer("score"):
                scores = scorer.score_batch(data, lines)
            tok_out.write_table(pa.table(cols, schema=schema))
            yield data, scores


def _earlier_texts(
    store: Store, round_no: int, location: str, offsets: set[int], *, extractor: str
) -> dict[int, str]:
    """Texts made by `extractor` of this WARC in earlier rounds (kept pages and re-scored band pages) for these
    record offsets: a page is extracted once per loop. A shard that does not say which extractor made its texts
    (written before the `text_extractor` column) was trafilatura's, then the only kept text."""
    texts: dict[int, str] = {}
    for rel in (path(rnd, location) for rnd in range(1, round_no) for path in (pages_path, band_path)):
        if store.exists(rel):
            for batch in store.iter_batches(rel):
                made_by = (batch.column("text_extractor").to_pylist() if "text_extractor" in batch.schema.names
                           else ["trafilatura"] * batch.num_rows)  # fmt: skip
                cols = zip(batch.column("offset").to_pylist(), batch.column("text").to_pylist(), made_by, strict=True)
                for offset, text, name in cols:
                    if offset in offsets and name == extractor:
                        texts[offset] = text
    return texts


def _page_row(row: dict, text: str, score: float, *, round_no: int, model: str, extractor: str) -> dict:
    return {
        "url": row["url"], "domain": row["domain"], "site": row["site"], "title": row["title"], "text": text,
        "score": score, "lang": row["lang"], "warc": row["warc"], "offset": row["offset"], "length": row["length"],
        "round": round_no, "model": model, "text_extractor": extractor,
    }  # fmt: skip


def _count_code(stats: Stats, code: CodeCounts) -> None:
    """Fidelity of the kept text, summed over kept pages (the round report shows the shares)."""
    stats.incr("kept_code_blocks", code.blocks)
    stats.incr("kept_code_verbatim", code.verbatim)
    stats.incr("kept_code_present", code.present)


def recall_warc(
    location: str, *, round_no: int, store: Store, scorer: Scorer, decision: Decision, stats: Stats,
    text_extractor: str = DEFAULT, fallback_extractor: str = DEFAULT, read: ReadOptions = DEFAULT_READ,
) -> tuple[str, str]:  # fmt: skip
    """Score the cached pages of one WARC; write the round's page index and its recalled pages.

    `fallback_extractor` is the one that made the page cache (`index_warc`'s): when `text_extractor` is the same,
    the kept text is the cached text and nothing is re-read (no cascade either). Otherwise candidates are fetched
    back and extracted again, falling back to `fallback_extractor` when that yields nothing.
    The index is written once, decided: streamed as it is scored when there is no cascade, else held (no text,
    ~100 bytes a page) until the cascade has promoted its pages. Kept pages go to the shard in batches as they
    are scored. Next to the index go the WARC's partial aggregates (pipeline.partials), which finalize merges.
    """
    idx_rel, pages_rel = index_path(round_no, location), pages_path(round_no, location)
    parts = WarcPartials(decision.threshold)  # what finalize merges instead of reading the index
    cache_id = get_extractor(fallback_extractor).id

    def scored() -> Iterator[tuple[dict, np.ndarray]]:
        return _scored_batches(location, store=store, scorer=scorer, extractor_id=cache_id, stats=stats,
                               should_stop=read.should_stop)  # fmt: skip

    if text_extractor == fallback_extractor:
        with store.writer(idx_rel, INDEX_SCHEMA) as idx_out, \
                store.row_writer(pages_rel, PAGES_SCHEMA, BATCH) as out:  # fmt: skip
            for data, scores in scored():
                stats.incr("total", len(scores))
                for i in np.flatnonzero(scores >= decision.threshold):
                    row = {k: data[k][i] for k in CACHE_COLUMNS}
                    out.add(_page_row(row, row["text"], float(scores[i]), round_no=round_no,
                                      model=scorer.version, extractor=fallback_extractor))  # fmt: skip
                    _count_code(stats, CodeCounts(*(int((data.get(k) or [0] * len(scores))[i]) for k in CODE_COLUMNS)))
                table = _index_table(data, scores, decision.threshold)  # final: no cascade changes it
                idx_out.write_table(table)
                parts.add(table)
        parts.write(store, round_no, location)
        _finish(stats, out.written)
        return idx_rel, pages_rel

    floor = decision.threshold - decision.margin
    candidates: list[dict] = []
    tables: list[pa.Table] = []  # the index, held (no text: ~100 bytes a page) until the cascade has decided
    for data, scores in scored():
        stats.incr("total", len(scores))
        for i in np.flatnonzero(scores >= floor):
            row = {k: data[k][i] for k in data if k != "text"}
            row["score"] = float(scores[i])
            candidates.append(row)
        tables.append(_index_table(data, scores, decision.threshold))
    known = _earlier_texts(store, round_no, location, {r["offset"] for r in candidates}, extractor=text_extractor)
    reused = set(known)
    stats.incr("text_reused", len(reused))

    def texts() -> Iterator[tuple[dict, str, CodeCounts | None, str]]:
        for row in candidates:
            if row["offset"] in known:
                yield row, known.pop(row["offset"]), None, text_extractor
        to_fetch = [r for r in candidates if r["offset"] not in reused]
        for row, page in fetch_pages(location, to_fetch, stats=stats, read=read):
            made_by = text_extractor
            with stats.timer("extract_keep"):
                got = page_text(page.html, text_extractor)
                if not got.text:  # lineage says which extractor the text is from
                    got, made_by = page_text(page.html, fallback_extractor), fallback_extractor
            yield row, got.text, got.code, made_by

    rescored: dict[int, float] = {}  # record offset -> the score of its own kept text
    with store.row_writer(pages_rel, PAGES_SCHEMA, BATCH) as out, \
            store.row_writer(band_path(round_no, location), BAND_SCHEMA, BATCH) as band:  # fmt: skip
        for row, text, code, made_by in texts():
            score = row["score"]
            if score < decision.threshold:
                stats.incr("cascade_rescored")
                score = float(scorer.score([with_signals(text, row.get("signals"))])[0])
                if score < decision.threshold:
                    band.add({"offset": row["offset"], "text": text, "text_extractor": made_by})
                    continue
                rescored[row["offset"]] = score
            if code is not None:  # a text reused from an earlier round was counted there
                _count_code(stats, code)
            out.add(_page_row(row, text, score, round_no=round_no, model=scorer.version, extractor=made_by))
    index = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
    if rescored:  # the cascade promoted pages: the index agrees with the shard
        index = _promote(index, rescored)
    store.write_table(idx_rel, index)  # written once, decided
    parts.add(index)
    parts.write(store, round_no, location)
    _finish(stats, out.written)
    return idx_rel, pages_rel


def _promote(index: pa.Table, rescored: dict[int, float]) -> pa.Table:
    """The index with the cascade's promoted pages kept, at the score of their own kept text."""
    offsets = pa.array(list(rescored), pa.int64())
    hit = pc.is_in(index["offset"], value_set=offsets)
    where = pc.index_in(index["offset"], value_set=offsets)
    new = pc.take(pa.array(list(rescored.values()), pa.float32()), where)
    index = index.set_column(index.schema.get_field_index("score"), "score", pc.if_else(hit, new, index["score"]))
    return index.set_column(index.schema.get_field_index("kept"), "kept", pc.or_(index["kept"], hit))


def _index_table(data: dict, scores: np.ndarray, threshold: float) -> pa.Table:
    cols = {name: data[name] for name in INDEX_SCHEMA.names if name in data}
    cols["score"] = scores.astype(np.float32)
    cols["kept"] = (scores >= threshold).tolist()
    # what the page-item queue compares scores with
    cols["prior"] = prior.from_vectors(data["shape"]) if "shape" in data else [None] * len(scores)
    return pa.Table.from_pydict(cols, schema=INDEX_SCHEMA)


def _finish(stats: Stats, kept: int) -> None:
    stats.incr("kept", kept)
    stats.counts["dropped"] += stats["total"] - kept
    stats.counts["dropped_low_score"] += stats["total"] - kept
