"""Work on one WARC file: the two stages every round is made of.

- `index_warc`: stream the WARC once -> HTML pages -> fast text (resiliparse) -> the page cache
  (`cache/<warc_id>.parquet`). Needs no model; later rounds never re-read the WARC.
- `recall_warc`: page cache -> BPE + fastText score -> per-round page index; pages that may be kept are
  fetched back by byte range (coalesced) and extracted with trafilatura, the kept text.
Both write their file last-to-first atomically, so a rerun replaces and never duplicates.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from recall.classifier import Classifier
from recall.domains import guess_lang, split_url
from recall.extract import extract
from recall.features import extract_with_signals, with_signals
from recall.records import Page, Stats
from recall.sources import open_stream, read_range
from recall.storage import Store, warc_id
from recall.warc import iter_pages, read_page

BATCH = 512
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)

CACHE_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("path", pa.string()),
        ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64()), ("title", pa.string()),
        ("lang", pa.string()), ("text", pa.string()), ("text_len", pa.int32()), ("signals", pa.string()),
    ]
)  # fmt: skip
INDEX_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("path", pa.string()),
        ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64()), ("score", pa.float32()),
        ("lang", pa.string()), ("text_len", pa.int32()), ("kept", pa.bool_()),
    ]
)  # fmt: skip
PAGES_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("title", pa.string()),
        ("text", pa.string()), ("score", pa.float32()), ("lang", pa.string()), ("warc", pa.string()),
        ("offset", pa.int64()), ("length", pa.int64()), ("round", pa.int32()), ("model", pa.string()),
    ]
)  # fmt: skip


def cache_path(location: str) -> str:
    return f"cache/{warc_id(location)}.parquet"


def index_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/index/{warc_id(location)}.parquet"


def pages_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/pages/{warc_id(location)}.parquet"


def band_path(round_no: int, location: str) -> str:
    """Trafilatura texts of the cascade band's pages that the re-score did not keep (later rounds reuse them)."""
    return f"rounds/{round_no}/band/{warc_id(location)}.parquet"


def _title(html: str) -> str:
    m = _TITLE.search(html, 0, 65536)
    return " ".join(htmllib.unescape(m.group(1)).split())[:500] if m else ""


def _batched(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _cache_rows(pages: Iterable[Page], *, extractor: str, stats: Stats) -> Iterator[dict]:
    for page in pages:
        with stats.timer("extract"):
            text, signals = extract_with_signals(page.html, extractor)  # one parse: text and code signals
        if not text:
            stats.incr("empty_text")
        host, site, path = split_url(page.url)
        yield {
            "url": page.url, "domain": host, "site": site, "path": path, "warc": page.warc_path,
            "offset": page.offset, "length": page.length, "title": _title(page.html),
            "lang": guess_lang(text), "text": text, "text_len": len(text), "signals": signals,
        }  # fmt: skip


def index_warc(
    location: str, *, store: Store, stats: Stats, extractor: str = "resiliparse",
    max_record_bytes: int = 8 * 1024 * 1024, timeout: float = 60, retries: int = 5,
) -> str:  # fmt: skip
    """Read a WARC once into the page cache; returns the cache path. Bad records are counted, not fatal."""
    rel = cache_path(location)
    with open_stream(location, timeout=timeout, retries=retries) as stream, store.writer(rel, CACHE_SCHEMA) as out:
        stats.incr("stream_opens")
        pages = iter_pages(stream, warc_path=location, stats=stats, max_record_bytes=max_record_bytes)
        for batch in _batched(_cache_rows(pages, extractor=extractor, stats=stats), BATCH):
            out.write_table(pa.Table.from_pylist(batch, schema=CACHE_SCHEMA))
            stats.incr("html_pages", len(batch))
    return rel


@dataclass(slots=True)
class Decision:
    threshold: float
    """Pages scoring at or above it are kept."""
    margin: float = 0.0
    """Pages within `margin` below it are re-scored on the trafilatura text (the cascade)."""


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


def fetch_pages(
    location: str, rows: list[dict], *, stats: Stats, max_record_bytes: int, timeout: float, retries: int
) -> Iterator[tuple[dict, Page]]:
    """Read records back by byte range (the page index says where), never the whole file."""
    for group in _coalesce(rows):
        start = group[0]["offset"]
        end = max(r["offset"] + r["length"] for r in group)
        with stats.timer("range_read"):
            blob = read_range(location, start, end - start, timeout=timeout, retries=retries)
        stats.incr("range_reads")
        stats.incr("range_bytes", len(blob))
        for row in group:
            chunk = blob[row["offset"] - start : row["offset"] - start + row["length"]]
            refetch = Stats()  # the reader's own counters must not mix with this stage's total/kept
            page = read_page(
                chunk, warc_path=location, offset=row["offset"], stats=refetch, max_record_bytes=max_record_bytes
            )
            if page is None:
                for reason, n in refetch.errors().items():
                    stats.incr(f"refetch_failed_{reason}", n)
                continue
            yield row, page


def token_cache_path(location: str, tokenizer_id: str) -> str:
    return f"cache/{warc_id(location)}.tok-{tokenizer_id}.parquet"


TOKENS_SCHEMA = pa.schema([("offset", pa.int64()), ("line", pa.string())])
BAND_SCHEMA = pa.schema([("offset", pa.int64()), ("text", pa.string())])
CACHE_COLUMNS = ["url", "domain", "site", "path", "warc", "offset", "length", "title", "lang", "text", "text_len",
                 "signals"]  # fmt: skip


def cache_columns(store: Store, location: str) -> list[str]:
    """CACHE_COLUMNS that this WARC's page cache has (a cache written before code signals has no `signals`)."""
    names = set(store.column_names(cache_path(location)))
    return [c for c in CACHE_COLUMNS if c in names]


def scoring_texts(data: dict) -> list[str]:
    """The classifier inputs of a page-cache batch: each text behind its page's code-signals line."""
    signals = data.get("signals") or [None] * len(data["text"])
    return [with_signals(t, s) for t, s in zip(data["text"], signals, strict=True)]


def _scored_batches(
    location: str, *, store: Store, classifier: Classifier, stats: Stats
) -> Iterator[tuple[dict, np.ndarray]]:
    """Page-cache batches with their scores. Token lines are cached per tokenizer: a later round that keeps
    the tokenizer (as the loop does) scores with fastText alone, no BPE."""
    tok_rel = token_cache_path(location, classifier.input_id)
    batches = store.iter_batches(cache_path(location), columns=cache_columns(store, location), batch_size=BATCH)
    if store.exists(tok_rel):
        stats.incr("token_cache_hit")
        cached = store.iter_batches(tok_rel, batch_size=BATCH)
        for batch, tok in zip(batches, cached, strict=True):
            data = batch.to_pydict()
            if tok.column("offset").to_pylist() != data["offset"]:
                raise RuntimeError(f"token cache {tok_rel} is out of step with the page cache")
            with stats.timer("score"):
                scores = classifier.score_lines(tok.column("line").to_pylist())
            yield data, scores
        return
    with store.writer(tok_rel, TOKENS_SCHEMA) as tok_out:
        for batch in batches:
            data = batch.to_pydict()
            with stats.timer("tokenize"):
                lines = classifier.tokenize(scoring_texts(data))
            with stats.timer("score"):
                scores = classifier.score_lines(lines)
            tok_out.write_table(pa.table({"offset": data["offset"], "line": lines}, schema=TOKENS_SCHEMA))
            yield data, scores


def _earlier_texts(store: Store, round_no: int, location: str, offsets: set[int]) -> dict[int, str]:
    """Trafilatura texts of this WARC from earlier rounds (kept pages and re-scored band pages) for these record
    offsets: a page is extracted once per loop."""
    texts: dict[int, str] = {}
    for rel in (path(rnd, location) for rnd in range(1, round_no) for path in (pages_path, band_path)):
        if store.exists(rel):
            for batch in store.iter_batches(rel, columns=["offset", "text"]):
                for offset, text in zip(batch.column("offset").to_pylist(), batch.column("text").to_pylist(),
                                        strict=True):  # fmt: skip
                    if offset in offsets:
                        texts[offset] = text
    return texts


def recall_warc(
    location: str, *, round_no: int, store: Store, classifier: Classifier, decision: Decision, stats: Stats,
    text_extractor: str = "trafilatura", fallback_extractor: str = "resiliparse",
    max_record_bytes: int = 8 * 1024 * 1024, timeout: float = 60, retries: int = 5,
) -> tuple[str, str]:  # fmt: skip
    """Score the cached pages of one WARC; write the round's page index and its recalled pages.

    Memory stays flat in the WARC's size: candidates carry no text, and kept pages go to the shard in batches.
    """
    floor = decision.threshold - decision.margin
    candidates: list[dict] = []
    idx_rel, pages_rel = index_path(round_no, location), pages_path(round_no, location)
    with store.writer(idx_rel, INDEX_SCHEMA) as idx_out:
        for data, scores in _scored_batches(location, store=store, classifier=classifier, stats=stats):
            stats.incr("total", len(scores))
            for i in np.flatnonzero(scores >= floor):
                row = {k: data[k][i] for k in data if k != "text"}
                row["score"] = float(scores[i])
                candidates.append(row)
            del data["text"], data["title"]
            data.pop("signals", None)
            data["score"] = scores.astype(np.float32)
            data["kept"] = (scores >= decision.threshold).tolist()
            idx_out.write_table(pa.Table.from_pydict(data, schema=INDEX_SCHEMA))
    known = _earlier_texts(store, round_no, location, {r["offset"] for r in candidates})
    reused = set(known)
    stats.incr("text_reused", len(reused))

    def texts() -> Iterator[tuple[dict, str]]:
        for row in candidates:
            if row["offset"] in known:
                yield row, known.pop(row["offset"])
        to_fetch = [r for r in candidates if r["offset"] not in reused]
        for row, page in fetch_pages(
            location, to_fetch, stats=stats, max_record_bytes=max_record_bytes, timeout=timeout, retries=retries
        ):
            with stats.timer("extract_keep"):
                yield row, extract(page.html, text_extractor) or extract(page.html, fallback_extractor)

    rescored: dict[str, float] = {}
    with store.row_writer(pages_rel, PAGES_SCHEMA, BATCH) as out, \
            store.row_writer(band_path(round_no, location), BAND_SCHEMA, BATCH) as band:  # fmt: skip
        for row, text in texts():
            score = row["score"]
            if score < decision.threshold:
                stats.incr("cascade_rescored")
                score = float(classifier.score([with_signals(text, row.get("signals"))])[0])
                if score < decision.threshold:
                    band.add({"offset": row["offset"], "text": text})
                    continue
                rescored[row["url"]] = score
            out.add(
                {
                    "url": row["url"], "domain": row["domain"], "site": row["site"], "title": row["title"],
                    "text": text, "score": score, "lang": row["lang"], "warc": row["warc"],
                    "offset": row["offset"], "length": row["length"], "round": round_no, "model": classifier.version,
                }
            )  # fmt: skip
    kept = out.written
    if rescored:  # the cascade promoted pages: the index must agree with the shard
        table = store.read_table(idx_rel)
        urls = table.column("url").to_pylist()
        scores_col = [rescored.get(u, s) for u, s in zip(urls, table.column("score").to_pylist(), strict=True)]
        kept_col = [k or u in rescored for u, k in zip(urls, table.column("kept").to_pylist(), strict=True)]
        table = table.set_column(table.schema.get_field_index("score"), "score", pa.array(scores_col, pa.float32()))
        table = table.set_column(table.schema.get_field_index("kept"), "kept", pa.array(kept_col))
        store.write_table(idx_rel, table)
    stats.incr("kept", kept)
    stats.counts["dropped"] += stats["total"] - kept
    stats.counts["dropped_low_score"] += stats["total"] - kept
    return idx_rel, pages_rel
