"""The WET-first scan of one WARC file: score every page on the WET text Common Crawl publishes beside it, and fetch,
parse and extract the HTML of the candidates only (docs/architecture.md, "WET-first scanning").

- `index_wet`: read the WARC file's WET file once -> the WET cache (`cache/<warc_id>.wet.parquet`): every page's
  URL, capture time, language and whole-page text. Later rounds read it, never the WET file again.
- `fetch`: pages by URL and capture time -> the crawl's URL index (`crawl.ccindex.CaptureIndex`, one batch per WARC
  file) -> their records by byte range (joined while the bytes between them stay under 15% of theirs:
  `expand.coalesce`), from whichever WARC file of the crawl holds them -> the full
  extraction (main text with verbatim code blocks, code signals), into the WARC file's fetched cache. A page is
  fetched once: a later fetch (a later phase or round) reuses it.
- `recall_wet`: the pre-filter (stage 1, a model of the WET text) scores every page; pages at or above the round's
  floor are the candidates, fetched as above; the round's model scores their main text and code signals and keeps
  what it keeps (the final decision, the HTML pipeline's). The page index has every page: a candidate with its final
  score and record, any other page with its pre-filter score and no record (`offset` -1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from more_itertools import chunked

from webrecall.core.crawl.ccindex import CaptureIndex, IndexStats, Wanted, iso639_1
from webrecall.core.crawl.listing import wet_location
from webrecall.core.crawl.sources import DEFAULT_READ, ReadOptions, open_stream
from webrecall.core.crawl.wet import WetDoc, iter_wet
from webrecall.core.errors import stop_if
from webrecall.core.model import prior
from webrecall.core.model.scorer import Scorer
from webrecall.core.page import Stats
from webrecall.core.pipeline.expand import coalesce
from webrecall.core.pipeline.partials import WarcPartials
from webrecall.core.pipeline.passes import (
    BATCH,
    Decision,
    _cache_rows,
    _count_code,
    _page_row,
    fetch_pages,
    scored_batches,
    scoring_texts,
)
from webrecall.core.storage.layout import (
    CACHE_COLUMNS,
    CACHE_SCHEMA,
    CODE_COLUMNS,
    INDEX_SCHEMA,
    PAGES_SCHEMA,
    WET_CACHE_SCHEMA,
    fetched_dir,
    index_path,
    pages_path,
    wet_cache_path,
    wet_token_path,
)
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import DEFAULT, get_extractor
from webrecall.core.text.fidelity import CodeCounts
from webrecall.core.text.wettext import View, view
from webrecall.core.urls.domains import split_url

NO_RECORD = -1
"""The page index's `offset` of a page whose record was never looked up (it was no candidate)."""


def _wet_rows(docs: Iterator[WetDoc]) -> Iterator[dict]:
    for doc in docs:
        host, site, path = split_url(doc.url)
        lang = iso639_1(doc.languages.split(",", 1)[0]) if doc.languages else ""
        yield {"url": doc.url, "domain": host, "site": site, "path": path, "offset": doc.offset, "date": doc.date,
               "lang": lang, "text": doc.text, "text_len": len(doc.text)}  # fmt: skip


def index_wet(location: str, *, store: Store, stats: Stats, read: ReadOptions = DEFAULT_READ) -> str:
    """Read the WET file of the WARC file at `location` once into its WET cache; returns the cache path."""
    rel = wet_cache_path(location)
    with open_stream(wet_location(location), timeout=read.timeout, retries=read.retries) as stream, \
            store.writer(rel, WET_CACHE_SCHEMA) as out:  # fmt: skip
        stats.incr("stream_opens")
        docs = iter_wet(stream, wet_path=wet_location(location), stats=stats, max_record_bytes=read.max_record_bytes)
        for batch in chunked(_wet_rows(docs), BATCH):
            out.write_table(pa.Table.from_pylist(batch, schema=WET_CACHE_SCHEMA))
            stats.incr("html_pages", len(batch))
            stop_if(read.should_stop)
    return rel


def fetched(store: Store, location: str, extractor_id: str, *, but: str = "") -> dict[str, dict]:
    """url -> page-cache row of every page of this WARC file's WET file fetched so far (parts other than `but`)."""
    out: dict[str, dict] = {}
    for rel in store.list(fetched_dir(location, extractor_id)):
        if rel != but:
            for row in store.read_table(rel).to_pylist():
                out[row["url"]] = row
    return out


def _part(location: str, extractor_id: str, tag: str) -> str:
    return f"{fetched_dir(location, extractor_id)}/{tag}.parquet"


def fetch(
    location: str, wanted: list[Wanted], *, store: Store, stats: Stats, index: CaptureIndex, tag: str,
    extractor: str = DEFAULT, read: ReadOptions = DEFAULT_READ,
) -> dict[str, dict]:  # fmt: skip
    """The page-cache rows of `wanted` (pages of this WARC file's WET file), fetching those not fetched before:
    looked up in one batch, read by coalesced byte ranges, extracted. They go to one part named by `tag` (a rerun of
    the same step keeps what its part already has). A page the index does not have, or whose record no longer
    parses, is counted and absent from the answer."""
    ext_id = get_extractor(extractor).id
    part = _part(location, ext_id, tag)
    have = fetched(store, location, ext_id, but=part)
    own = {r["url"]: r for r in store.read_table(part).to_pylist()} if store.exists(part) else {}
    todo = [w for w in dict.fromkeys(wanted) if w.url not in have and w.url not in own]
    stats.incr("fetch_reused", sum(1 for w in wanted if w.url in have or w.url in own))
    rows = list(own.values())
    if todo:
        found = _lookup(location, todo, index=index, stats=stats, read=read)
        by_file: dict[str, list[dict]] = {}
        for url, (loc, offset, length) in found.items():
            by_file.setdefault(loc, []).append({"url": url, "offset": offset, "length": length})
        for loc, records in by_file.items():
            # joined only while the bytes between records stay under 15%: candidates are scattered among the others
            pages = (page for group in coalesce(records) for _, page in fetch_pages(loc, group, stats=stats, read=read))
            for row in _cache_rows(pages, extractor=extractor, stats=stats):
                stats.incr("fetched")
                rows.append(row)
        store.write_table(part, pa.Table.from_pylist(rows, schema=CACHE_SCHEMA))
    wanted_urls = {w.url for w in wanted}
    return {url: row for url, row in {**have, **{r["url"]: r for r in rows}}.items() if url in wanted_urls}


def _lookup(location: str, todo: list[Wanted], *, index: CaptureIndex, stats: Stats, read: ReadOptions
            ) -> dict[str, tuple[str, int, int]]:  # fmt: skip
    looked = IndexStats()
    with stats.timer("lookup"):
        found = index.find(todo, prefer=location, stats=looked, timeout=read.timeout, retries=read.retries)
    stats.incr("lookups", len(todo))
    stats.incr("lookup_missing", len(todo) - len(found))
    stats.incr("lookup_bytes", looked.bytes_read)
    stats.incr("lookup_requests", looked.requests)
    return found


def prescored(
    location: str, *, store: Store, prefilter: Scorer, mode: View, stats: Stats, read: ReadOptions = DEFAULT_READ
) -> Iterator[tuple[dict, np.ndarray]]:
    """WET-cache batches (without their text) with the pre-filter's scores; its input lines are cached per WARC."""
    rel = wet_cache_path(location)
    if not store.exists(rel):
        raise FileNotFoundError(f"no WET cache of {location} (is its index task done?)")

    def inputs(data: dict) -> list[str]:
        return [view(t, mode) for t in data["text"]]

    for data, scores in scored_batches(rel, wet_token_path(location, prefilter.input_id), store=store,
                                       scorer=prefilter, stats=stats, should_stop=read.should_stop,
                                       inputs=inputs):  # fmt: skip
        data.pop("text", None)
        yield data, scores


def recall_wet(
    location: str, *, round_no: int, store: Store, prefilter: Scorer, floor: float, mode: View, scorer: Scorer,
    decision: Decision, stats: Stats, index: CaptureIndex, extractor: str = DEFAULT, read: ReadOptions = DEFAULT_READ,
) -> tuple[str, str]:  # fmt: skip
    """Pre-filter every page, fetch and extract the candidates, keep what the round's model keeps on their main text;
    writes the round's page index, its kept pages and the WARC's partials, as `passes.recall_warc` does."""
    pages: list[dict] = []
    pre: list[np.ndarray] = []
    for data, scores in prescored(location, store=store, prefilter=prefilter, mode=mode, stats=stats, read=read):
        pages.extend({k: data[k][i] for k in ("url", "domain", "site", "path", "date", "lang", "text_len")}
                     for i in range(len(scores)))  # fmt: skip
        pre.append(scores)
    prescores = np.concatenate(pre) if pre else np.zeros(0, np.float32)
    stats.incr("total", len(pages))
    chosen = [pages[i] for i in np.flatnonzero(prescores >= floor)]
    stats.incr("candidates", len(chosen))
    rows = fetch(location, [Wanted(p["url"], p["date"]) for p in chosen], store=store, stats=stats, index=index,
                 tag=f"r{round_no}-recall", extractor=extractor, read=read)  # fmt: skip
    final: dict[str, float] = {}
    priors: dict[str, float] = {}  # the code-structure prior of the fetched pages (the others' is unknown)
    found = [rows[p["url"]] for p in chosen if p["url"] in rows]
    for batch in chunked(found, BATCH):
        cols: dict[str, Any] = {k: [r[k] for r in batch] for k in CACHE_SCHEMA.names}
        with stats.timer("tokenize_final"):
            lines = scorer.tokenize(scoring_texts(cols))
            cols["shape"] = prior.vectors(cols["signals"], cols["text"])
        with stats.timer("score_final"):
            scores = scorer.score_batch(cols, lines)
        final.update(zip(cols["url"], scores.tolist(), strict=True))
        priors.update(zip(cols["url"], prior.from_vectors(cols["shape"]).tolist(), strict=True))
    idx_rel, pages_rel = index_path(round_no, location), pages_path(round_no, location)
    parts = WarcPartials(decision.threshold)
    index_rows = []
    with store.row_writer(pages_rel, PAGES_SCHEMA, BATCH) as out:
        for page, p in zip(pages, prescores.tolist(), strict=True):
            url = page["url"]
            if url in final:
                row = rows[url]
                score = final[url]
                kept = score >= decision.threshold
                index_rows.append({**{k: row[k] for k in INDEX_SCHEMA.names if k in row}, "score": score,
                                   "kept": kept, "prior": priors[url]})  # fmt: skip
                if kept:
                    out.add(_page_row({k: row[k] for k in CACHE_COLUMNS}, row["text"], score, round_no=round_no,
                                      model=scorer.version, extractor=extractor))  # fmt: skip
                    _count_code(stats, CodeCounts(*(int(row.get(k) or 0) for k in CODE_COLUMNS)))
                continue
            index_rows.append({"url": url, "domain": page["domain"], "site": page["site"], "path": page["path"],
                               "warc": location, "offset": NO_RECORD, "length": 0, "score": min(p, floor),
                               "lang": page["lang"], "text_len": page["text_len"], "kept": False,
                               "prior": None})  # fmt: skip
        table = pa.Table.from_pylist(index_rows, schema=INDEX_SCHEMA)
        store.write_table(idx_rel, table)
        parts.add(table)
    parts.write(store, round_no, location)
    written = out.written
    stats.incr("kept", written)
    for reason, n in (("low_prescore", len(pages) - len(chosen)), ("not_fetched", len(chosen) - len(found)),
                      ("low_score", len(found) - written)):  # fmt: skip
        stats.counts["dropped"] += n
        stats.counts[f"dropped_{reason}"] += n
    return idx_rel, pages_rel
