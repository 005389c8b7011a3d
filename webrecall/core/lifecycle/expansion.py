"""Expansion: every page under a labelled URL pattern, across the whole crawl, through its URL index.

A round reads a sample of a crawl's WARC files, so a labelled pattern reaches only the few of its pages that
sit in the sample. Before a round trains, each agreed pattern label (code or non-code) is looked up in the
crawl's index (`core.crawl.ccindex`: the columnar index by default, the CDX API as a second backend); its HTML 200
captures outside the round's own WARC files are sampled (at most `expand_max_per_pattern` per pattern, by URL
hash, so one huge site cannot swamp the seeds) and fetched by byte range from whichever WARC file holds them
(`webrecall.core.pipeline.expand`). They train the round (positives, or hard negatives), and the positive ones
join its corpus.

Two steps, both tasks with rows like the WARC tasks (outputs first, the row last, a rerun replaces):
- `lookup_round`: one `lookup` row per round; writes the plan (`rounds/<n>/expand/plan.parquet`), then, in one
  transaction, its row and one `expand` row per WARC file of the plan.
- `expand_warc` (`pipeline.expand`, run by `lifecycle.warc_task` for `expand` rows): one WARC file's records.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from sqlmodel import col, delete, select

from webrecall.core import label_store
from webrecall.core.crawl.ccindex import Backend, _join, lookup
from webrecall.core.db import WarcTask, session, utcnow
from webrecall.core.errors import NotFoundError, WebrecallError
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.queries import done_warcs
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import PLAN_SCHEMA, expand_path, expand_plan_path
from webrecall.core.urls.patterns import PatternSet, parse


def labelled_patterns(db: Any) -> list[tuple[str, str]]:
    """(pattern, label) of the agreed pattern labels, code or non-code (URL-level labels name one page only)."""
    agreed, _ = label_store.resolved(db)
    scopes = {label.pattern: label.scope for label in label_store.current(db).values()}
    return sorted((p, lab) for p, lab in agreed.items() if scopes.get(p) == "pattern" and lab in ("code", "non-code"))


def _sample(urls: list[str], cap: int) -> set[str]:
    """A deterministic sample of `cap` URLs (by hash: the same on every machine and rerun)."""
    ranked = sorted(urls, key=lambda u: hashlib.sha1(u.encode("utf-8", "replace")).digest())
    return set(ranked[:cap])


def lookup_round(ctx: RoundContext) -> dict[str, Any]:
    """Look the labelled patterns up in the crawl's index and plan the range fetches (idempotent)."""
    settings, store, round_id = ctx.settings, ctx.store, ctx.id
    number, crawl, base = ctx.number, ctx.round.crawl_id, ctx.round.base_url
    with session(settings.db_url) as db:
        row = db.exec(select(WarcTask).where(WarcTask.round_id == round_id, WarcTask.phase == "lookup")).first()
        if row is not None and row.status == "done":
            return dict(row.stats)
        patterns = labelled_patterns(db)
        own = {t.warc_url for t in db.exec(select(WarcTask).where(WarcTask.round_id == round_id,
                                                                   WarcTask.phase == "index"))}  # fmt: skip
    index_base = settings.index_base_url or base
    result: dict[str, Any] = {"backend": settings.expand_backend, "patterns": {}}
    plan: list[dict[str, Any]] = []
    if settings.expand_backend == "off":
        result["skipped"] = "expansion is off (WEBRECALL_EXPAND_BACKEND=off)"
    elif not crawl:
        result["skipped"] = "the round names WARC files, not a crawl: no index to look up"
    elif not patterns:
        result["skipped"] = "no agreed pattern labels yet"
    else:
        start = utcnow()
        try:
            found, skipped, istats = lookup(
                [p for p, _ in patterns], crawl, backend=settings.expand_backend, index_base=index_base,
                cdx_base=settings.cdx_base_url, timeout=settings.http_timeout, retries=settings.http_retries,
            )  # fmt: skip
        except NotFoundError as exc:
            found, skipped, istats = {}, {}, None
            result["skipped"] = str(exc)
        result["lookup_seconds"] = round((utcnow() - start).total_seconds(), 3)
        if istats is not None:
            result.update(istats.as_dict())
        label_of = {parse(p).text: lab for p, lab in patterns}
        matcher: PatternSet[str] = PatternSet((p, lab) for p, lab in patterns)
        claimed: set[str] = set()
        for text, reason in skipped.items():
            result["patterns"][parse(text).text] = {"label": label_of.get(parse(text).text), "expandable": False,
                                                    "reason": reason}  # fmt: skip
        for text, caps in found.items():
            # a URL under two labelled patterns belongs to the most specific one (as in training)
            mine = [c for c in caps if (m := matcher.match(c.url)) is not None and m[0].text == text
                    and c.url not in claimed]  # fmt: skip
            outside = [c for c in mine if _join(index_base, c.warc) not in own and _join(base, c.warc) not in own]
            keep = _sample([c.url for c in outside], settings.expand_max_per_pattern)
            chosen = [c for c in outside if c.url in keep]
            claimed.update(c.url for c in mine)
            result["patterns"][text] = {
                "label": label_of[text], "expandable": True, "captures": len(caps),
                "in_sample": len(mine) - len(outside), "planned": len(chosen), "capped": len(outside) - len(chosen),
                "record_bytes": sum(c.length for c in chosen),
            }  # fmt: skip
            plan.extend({"url": c.url, "pattern": text, "label": label_of[text], "warc": _join(base, c.warc),
                         "offset": c.offset, "length": c.length} for c in chosen)  # fmt: skip
    if not patterns or not crawl or settings.expand_backend == "off":
        return result  # nothing to look up: no row, so a round without labels has exactly its WARC tasks
    store.write_table(expand_plan_path(number), pa.Table.from_pylist(plan, schema=PLAN_SCHEMA))
    locations = sorted({p["warc"] for p in plan})
    result["warcs"] = len(locations)
    with session(settings.db_url) as db:  # one transaction: the lookup row and the fetch rows appear together
        db.exec(delete(WarcTask).where(col(WarcTask.round_id) == round_id,  # type: ignore[call-overload]
                                       col(WarcTask.phase).in_(["lookup", "expand"]), col(WarcTask.status) != "done"))
        done = {t.warc_url for t in db.exec(select(WarcTask).where(WarcTask.round_id == round_id,
                                                                    WarcTask.phase == "expand"))}  # fmt: skip
        for loc in locations:
            if loc not in done:
                db.add(WarcTask(round_id=round_id, phase="expand", warc_url=loc))
        db.add(WarcTask(round_id=round_id, phase="lookup", warc_url=_join(index_base, f"crawl-data/{crawl}"),
                        status="done", stats=result, attempts=1, finished_at=utcnow()))  # fmt: skip
        db.commit()
    return result


def expanded_pages(ctx: RoundContext) -> Iterator[tuple[str, str, str]]:
    """(url, text, label) of the pages the round's expansion fetched (completed WARC files only)."""
    with session(ctx.settings.db_url) as db:
        locations = done_warcs(db, ctx.id, "expand")
    for loc in locations:
        rel = expand_path(ctx.number, loc)
        if ctx.store.exists(rel):
            for batch in ctx.store.iter_batches(rel, columns=["url", "text", "label"]):
                yield from zip(*(batch.column(c).to_pylist() for c in ("url", "text", "label")), strict=True)


def summary(ctx: RoundContext) -> dict[str, Any]:
    """Per pattern: captures found, planned, fetched, failed; bytes read from the index and from WARC files."""
    store, rnd = ctx.store, ctx.round
    with session(ctx.settings.db_url) as db:
        tasks = db.exec(select(WarcTask).where(WarcTask.round_id == ctx.id,
                                               col(WarcTask.phase).in_(["lookup", "expand"]))).all()  # fmt: skip
    lookup_row = next((t for t in tasks if t.phase == "lookup"), None)
    if lookup_row is None:
        return {}
    info = dict(lookup_row.stats)
    fetched: Counter[str] = Counter()
    for t in tasks:
        if t.phase == "expand" and t.status == "done" and store.exists(expand_path(rnd.number, t.warc_url)):
            table = store.read_table(expand_path(rnd.number, t.warc_url), columns=["pattern"])
            fetched.update(table["pattern"].to_pylist())
    patterns = info.get("patterns", {})
    for text, p in patterns.items():
        if p.get("expandable"):
            p["fetched"] = fetched.get(text, 0)
            p["failed"] = p["planned"] - p["fetched"]
    expand_rows = [t for t in tasks if t.phase == "expand"]
    warc_bytes = sum(int(t.stats.get("range_bytes", 0)) for t in expand_rows)
    record_bytes = sum(int(t.stats.get("record_bytes", 0)) for t in expand_rows if t.status == "done")
    return {
        **{k: v for k, v in info.items() if k != "patterns"}, "patterns": patterns,
        "warcs_done": sum(t.status == "done" for t in expand_rows),
        "warcs_failed": sum(t.status in ("failed", "skipped") for t in expand_rows),
        "planned": sum(int(p.get("planned", 0)) for p in patterns.values()),
        "fetched": sum(fetched.values()),
        "warc_bytes": warc_bytes, "record_bytes": record_bytes,
        "warc_bytes_ratio": round(warc_bytes / record_bytes, 4) if record_bytes else None,
    }  # fmt: skip


def pattern_crawl_counts(settings: Settings, patterns: list[str], crawl_id: str, base_url: str = "", *,
                         timeout: float = 15.0) -> dict[str, int] | None:  # fmt: skip
    """HTML pages under each pattern across the whole crawl (the annotator shows it beside the sample's count), in
    one lookup; a pattern without a literal host is left out. None when the round names no crawl, expansion is
    off, the crawl has no index, or the index cannot be read now (the annotator goes on without the figure: a
    short timeout and one retry, never the rounds' patience)."""
    index_base = settings.index_base_url or base_url  # a round records its source (`rounds.create_round`)
    if not crawl_id or not index_base or settings.expand_backend == "off":
        return None
    backend: Backend = "cdx" if settings.expand_backend == "cdx" else "columnar"
    try:
        found, _, _ = lookup(patterns, crawl_id, backend=backend, index_base=index_base, cdx_base=settings.cdx_base_url,
                             timeout=min(settings.http_timeout, timeout), retries=1)  # fmt: skip
    except (WebrecallError, OSError):
        return None
    return {p: len(found[parse(p).text]) for p in patterns if parse(p).text in found}


def has_index(settings: Settings, crawl_id: str, base_url: str = "", *, timeout: float = 15.0) -> bool:
    """Whether the crawl's columnar index can be read now (its part-file listing; the CDX server is assumed):
    the annotator asks once, so a crawl without one, or an index out of reach, costs one short wait, not one
    per domain."""
    from webrecall.core.crawl.ccindex import index_files

    index_base = settings.index_base_url or base_url
    if not crawl_id or not index_base or settings.expand_backend == "off":
        return False
    if settings.expand_backend == "cdx":
        return True
    try:
        return bool(index_files(crawl_id, index_base, timeout=min(settings.http_timeout, timeout), retries=1))
    except (WebrecallError, OSError):
        return False


def pattern_crawl_count(settings: Settings, pattern: str, crawl_id: str, base_url: str = "") -> int | None:
    """`pattern_crawl_counts` of one pattern."""
    counts = pattern_crawl_counts(settings, [pattern], crawl_id, base_url)
    return None if counts is None else counts.get(pattern)
