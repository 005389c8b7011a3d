"""A WET-first round's training pages: what its models learn from when no step reads every page's HTML.

A WARC round trains on its page cache: the main text and signals of every page of its WARC files. A WET round has
every page's WET text but the HTML of none, so before it trains it fetches the HTML of the pages it will learn from
(`pipeline.wetscan.fetch`, by range, once): the pages of its WARC files under a seed or labelled pattern, and a
URL-hash sample of the others, the pool its random negatives come from. The sample's share is chosen from the
counts of the WET caches so the pool holds about twice the negatives `build_seeds` will take.

- `plan_sample` (in the plan's `expand` step, after the index tasks): the share, recorded with the round.
- `sample_warc` (a `sample` task): one WARC file's training pages -> `rounds/<n>/sample/<warc_id>.parquet`, each
  with its main text, signals and WET text (the pre-filter trains on the WET text of the same pages).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from webrecall.core import label_store, params
from webrecall.core.crawl.ccindex import Backend, CaptureIndex, Wanted
from webrecall.core.crawl.sources import ReadOptions
from webrecall.core.db import Round, session
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.page import Stats
from webrecall.core.pipeline.wetscan import fetch
from webrecall.core.queries import done_warcs
from webrecall.core.storage.layout import SAMPLE_SCHEMA, expand_plan_path, sample_path, wet_cache_path
from webrecall.core.urls.patterns import PatternSet

POOL = 2.0
"""The pool holds about this many times the random negatives training takes (some are held out, some refused)."""


def capture_index(ctx: RoundContext) -> CaptureIndex:
    """The crawl's URL index the round looks its pages up in (the expansion's backend and location)."""
    backend: Backend = "cdx" if ctx.settings.expand_backend == "cdx" else "columnar"
    return CaptureIndex(ctx.round.crawl_id, ctx.round.base_url, backend=backend,
                        index_base=ctx.settings.index_base_url, cdx_base=ctx.settings.cdx_base_url)  # fmt: skip


def labels(ctx: RoundContext) -> PatternSet[str]:
    """The round's patterns: the agreed labels and its seed patterns (as training reads them)."""
    with session(ctx.settings.db_url) as db:
        found = label_store.pattern_set(db)
    for pattern in ctx.params.seed_patterns:
        found.add(pattern, "code")
    return found


def in_sample(url: str, share: float) -> bool:
    h = int.from_bytes(hashlib.sha1(url.encode("utf-8", "replace")).digest()[:8], "big")
    return h % 1_000_000 < share * 1_000_000


def plan_sample(ctx: RoundContext) -> float:
    """The share of ordinary pages the round's sample tasks fetch, recorded with the round (once)."""
    if ctx.params.wet_sample is not None:
        return ctx.params.wet_sample
    matcher, code, other = labels(ctx), 0, 0
    with session(ctx.settings.db_url) as db:
        locations = done_warcs(db, ctx.id, "index")
    for loc in locations:
        if ctx.store.exists(wet_cache_path(loc)):
            for url in ctx.store.read_table(wet_cache_path(loc), columns=["url"])["url"].to_pylist():
                hit = matcher.match(url)
                code += hit is not None and hit[1] == "code"
                other += hit is None
    if ctx.store.exists(expand_plan_path(ctx.number)):
        plan = ctx.store.read_table(expand_plan_path(ctx.number), columns=["label"])["label"].to_pylist()
        code += sum(label == "code" for label in plan)
    wanted = POOL * max(code + ctx.params.seed_texts, 1) * ctx.settings.negatives_per_positive
    share = round(min(1.0, wanted / max(other, 1)), 6)
    with session(ctx.settings.db_url) as db:
        row = db.get(Round, ctx.id)
        assert row is not None
        row.params = params.updated(row, wet_sample=share)
        db.add(row)
        db.commit()
    return share


def sample_warc(ctx: RoundContext, location: str, stats: Stats, read: ReadOptions) -> str:
    """One WARC file's training pages, fetched (or reused) and written with their WET text; returns the file."""
    share = ctx.params.wet_sample or 0.0
    matcher = labels(ctx)
    wet = ctx.store.read_table(wet_cache_path(location), columns=["url", "date", "text"]).to_pydict()
    chosen = {u: (d, t) for u, d, t in zip(wet["url"], wet["date"], wet["text"], strict=True)
              if matcher.match(u) is not None or in_sample(u, share)}  # fmt: skip
    stats.incr("total", len(chosen))
    rows = fetch(location, [Wanted(u, d) for u, (d, _) in chosen.items()], store=ctx.store, stats=stats,
                 index=capture_index(ctx), tag=f"r{ctx.number}-sample", extractor=ctx.params.score_extractor,
                 read=read)  # fmt: skip
    out = [{**row, "wet_text": chosen[url][1]} for url, row in rows.items()]
    rel = sample_path(ctx.number, location)
    ctx.store.write_table(rel, pa.Table.from_pylist(out, schema=SAMPLE_SCHEMA))
    stats.incr("kept", len(out))
    return rel


def sample_files(ctx: RoundContext) -> list[str]:
    """The round's training-page files, in task order (completed tasks only)."""
    with session(ctx.settings.db_url) as db:
        locations = done_warcs(db, ctx.id, "sample")
    return [rel for loc in locations if ctx.store.exists(rel := sample_path(ctx.number, loc))]


def wet_texts(ctx: RoundContext) -> dict[str, str]:
    """url -> WET text of the round's training pages."""
    out: dict[str, str] = {}
    for rel in sample_files(ctx):
        table = ctx.store.read_table(rel, columns=["url", "wet_text"])
        out.update(zip(table["url"].to_pylist(), table["wet_text"].to_pylist(), strict=True))
    return out
