"""Expansion's pure part: the planned records of one WARC file fetched by byte range and extracted, and the
positives among them with their dedup signatures (`webrecall.core.lifecycle.expansion` plans them and runs it).

`expand_warc` (run by `lifecycle.warc_task` for `expand` rows): the planned records of one WARC file, coalesced
into range reads (`pipeline.passes.fetch_pages`), extracted with the scoring extractor, written to
`rounds/<n>/expand/<warc_id>.parquet`. The positive ones join the round's corpus with their lineage (`source:
index`, the pattern): `lifecycle.export` exports them after the recalled pages, and their dedup signatures
(`rounds/<n>/expand/sigs/`, written by the fetch task) put them in the dedup stage.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from webrecall.core.crawl.sources import DEFAULT_READ, ReadOptions
from webrecall.core.page import Stats
from webrecall.core.pipeline.passes import _title, fetch_pages
from webrecall.core.storage.layout import EXPANDED_SCHEMA, expand_path, expand_plan_path, expand_sigs_path
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import DEFAULT, extract
from webrecall.core.text.lang import guess_lang
from webrecall.core.urls.domains import split_url

SOURCE = "index"
LABEL_SCORE = 1.0
"""The rank an expanded positive takes in dedup's keep rule (pipeline.dedup.merge: latest round, highest score, ...):
a page under an agreed code label is code by a person's word, above any model score. It never scores: the
export leaves its `score` empty."""


def coalesce(rows: list[dict[str, Any]], *, waste: float = 0.15, span: int = 8 * 1024 * 1024) -> list[list[dict]]:
    """Groups of records read with one range request each, joined only while the bytes between them stay under
    `waste` of the group's own record bytes: a pattern's pages are scattered among other sites' records, so the
    WARC bytes read stay within (1 + waste) x the records' bytes whatever the layout."""
    groups: list[list[dict[str, Any]]] = []
    for row in sorted(rows, key=lambda r: r["offset"]):
        if groups:
            g = groups[-1]
            end = g[-1]["offset"] + g[-1]["length"]
            gap = row["offset"] - end
            own = sum(r["length"] for r in g) + row["length"]
            wasted = (end - g[0]["offset"]) - (own - row["length"]) + gap
            if 0 <= gap and wasted <= waste * own and row["offset"] + row["length"] - g[0]["offset"] <= span:
                g.append(row)
                continue
        groups.append([row])
    return groups


def expand_warc(
    location: str, *, round_no: int, store: Store, stats: Stats, extractor: str = DEFAULT,
    read: ReadOptions = DEFAULT_READ,
) -> str:  # fmt: skip
    """Fetch the planned records of one WARC file by coalesced byte ranges and extract them; returns the shard."""
    plan = store.read_table(expand_plan_path(round_no))
    rows = plan.filter(pc.equal(plan["warc"], location)).to_pylist()
    rel = expand_path(round_no, location)
    stats.incr("planned", len(rows))
    stats.incr("record_bytes", sum(r["length"] for r in rows))
    fetched = (pair for group in coalesce(rows) for pair in fetch_pages(location, group, stats=stats, read=read))
    with store.row_writer(rel, EXPANDED_SCHEMA, 256) as out:
        for row, page in fetched:
            with stats.timer("extract"):
                text = extract(page.html, extractor)
            host, site, _ = split_url(row["url"])
            out.add({"url": row["url"], "domain": host, "site": site, "title": _title(page.html), "text": text,
                     "lang": guess_lang(text), "label": row["label"], "pattern": row["pattern"], "source": SOURCE,
                     "warc": location, "offset": row["offset"], "length": row["length"],
                     "round": round_no, "text_extractor": extractor})  # fmt: skip
            stats.incr("total")
    stats.incr("failed", len(rows) - stats["total"])
    return rel


def positives(store: Store, round_no: int, location: str) -> pa.Table | None:
    """The expanded pages of one WARC file that join the round's corpus: those under a code label with main text
    (a page the extractor found nothing in has nothing to give); None when the file has no expansion shard."""
    rel = expand_path(round_no, location)
    if not store.exists(rel):
        return None
    table = store.read_table(rel)  # one WARC file's share of the capped expansion
    return table.filter(pc.and_(pc.equal(table["label"], "code"), pc.greater(pc.utf8_length(table["text"]), 0)))


def write_signatures(store: Store, round_no: int, location: str, *, cfg: Any, crawl: str = "",
                     benchmarks: Any = None, stats: Stats) -> str:  # fmt: skip
    """The dedup signatures of a WARC file's expanded positives, so the dedup stage covers them like recalled
    pages (each with the rank LABEL_SCORE in the keep rule)."""
    from webrecall.core.pipeline.dedup import SIGS_WRITTEN, signature_rows

    rel = expand_sigs_path(round_no, location)
    table = positives(store, round_no, location)
    rows = table.select(["url", "warc", "offset", "text"]).to_pylist() if table is not None else []
    with stats.timer("signatures"), store.row_writer(rel, SIGS_WRITTEN, 512) as out:
        for row in signature_rows([{**r, "score": LABEL_SCORE} for r in rows], round_no=round_no, cfg=cfg,
                                  crawl=crawl, benchmarks=benchmarks, stats=stats):  # fmt: skip
            out.add(row)
    return rel
