"""URL-pattern proposals for a queued domain: what an annotator labels instead of single pages.

A domain's URLs are grouped by host and directory prefix. Segments that are ids, hashes or dates are masked to
`*` and end the prefix, so `/questions/123/slug` proposes `host/questions/*`: the item ids of a forum say nothing
about its kind, the path in front of them does. Only prefixes that split the pages are proposed: a run of
directories holding the same pages (every page under `/pub/software/scm/git/docs/`) collapses to its deepest
directory, and inside a directory, file names sharing a first word (`sql-insert.html`, `sql-select.html`) propose
that word as a prefix (`host/docs/15/sql-`), so a flat documentation tree still splits into its sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webrecall.core import params
from webrecall.core.db import DomainStat, session
from webrecall.core.pipeline.dedup import canonical_url, normalize_text
from webrecall.core.queries import done_warcs, find_round
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import cache_path, index_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import url_key

_MASKS = [
    re.compile(r"\d{3,}"),  # numeric ids and years (short numbers stay: `docs.python.org/3/`)
    re.compile(r"\d{4}[-_]\d{1,2}([-_]\d{1,2})?"),  # dates
    re.compile(r"(?=.*\d)[0-9a-fA-F]{8,}"),  # hex hashes
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),  # uuids
    re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}"),  # long random tokens
]
_DIGIT_RUN = re.compile(r"\d{5,}")  # slugs carrying an id: `article-123456`


def mask(segment: str) -> str | None:
    """`*` for an id, hash or date segment, else None (keep it literally)."""
    if any(m.fullmatch(segment) for m in _MASKS) or _DIGIT_RUN.search(segment):
        return "*"
    return None


def prefixes(url: str, max_depth: int = 3) -> list[str]:
    """The patterns a URL falls under, coarsest first: `host/`, `host/a/`, `host/a/b/` or `host/a/*`."""
    key = url_key(url).split("?", 1)[0].split("#", 1)[0]
    host, _, path = key.partition("/")
    dirs = [s for s in path.split("/")[:-1] if s]  # the last segment is the page itself
    out, current = [f"{host}/"], f"{host}/"
    for segment in dirs[:max_depth]:
        if mask(segment):
            out.append(current + "*")
            break
        current += segment + "/"
        out.append(current)
    return out


@dataclass(slots=True)
class Proposal:
    pattern: str
    depth: int
    pages: int
    recalled: int
    fraction: float
    score_p10: float
    score_p50: float
    score_p90: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list, repr=False)

    def as_dict(self, *, with_urls: bool = False) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("pattern", "depth", "pages", "recalled", "fraction", "score_p10",
                                             "score_p50", "score_p90", "samples")}  # fmt: skip
        if with_urls:
            out["urls"] = self.urls
        return out


def domain_pages(store: Store, round_no: int, locations: list[str], domains: set[str], *, cache_id: str) -> pa.Table:
    """Index rows (url, score, kept) of some domains, with title and fast text from the page cache (`cache_id`: the
    round's, `RoundParams.cache_id`)."""
    tables = []
    for loc in locations:
        rel = index_path(round_no, loc)
        if not store.exists(rel):
            continue
        flt = [("domain", "in", sorted(domains))]
        idx = pq.read_table(store.path(rel), filesystem=store.fs, columns=["url", "domain", "score", "kept"],
                            filters=flt)  # fmt: skip
        if idx.num_rows == 0:
            continue
        if store.exists(cache_rel := cache_path(loc, cache_id)):
            cache = pq.read_table(store.path(cache_rel), filesystem=store.fs, columns=["url", "title", "text"],
                                  filters=flt)  # fmt: skip
            idx = idx.join(cache, "url", join_type="left outer")
        tables.append(idx)
    if not tables:
        return pa.table({"url": pa.array([], pa.string()), "domain": pa.array([], pa.string()),
                         "score": pa.array([], pa.float32()), "kept": pa.array([], pa.bool_())})  # fmt: skip
    return pa.concat_tables(tables, promote_options="default")


def spread_samples(rows: list[dict[str, Any]], n: int, snippet: int) -> list[dict[str, Any]]:
    """Evenly spread over the score range, so the annotator sees the best, the worst and the middle. Pages without
    text (nothing extracted: an empty sample says nothing) are left out, and a page is shown once (the same
    canonical URL or the same normalised text, see webrecall/core/pipeline/dedup.py)."""
    seen: set[str] = set()
    ordered = []
    for r in sorted((r for r in rows if (r.get("text") or "").strip()), key=lambda r: (-r["score"], r["url"])):
        keys = {canonical_url(r["url"]), normalize_text((r.get("text") or "")[:8192]) or r["url"]}
        if not keys & seen:
            ordered.append(r)
        seen |= keys
    if not ordered:
        return []
    picks = sorted({int(round(i)) for i in np.linspace(0, len(ordered) - 1, min(n, len(ordered)))})
    return [
        {"url": r["url"], "title": r.get("title") or "", "score": round(float(r["score"]), 4),
         "snippet": " ".join((r.get("text") or "")[: snippet * 2].split())[:snippet]}
        for r in (ordered[i] for i in picks)
    ]  # fmt: skip


_STEM = re.compile(r"^([A-Za-z][A-Za-z0-9]+[-_])[^/]+$")
MAX_PATH_DEPTH = 10
"""Directories followed below the host (the proposal tree's depth is counted in proposed levels, see propose)."""


def stem_prefix(url: str) -> str | None:
    """`host/dir/sql-` for `host/dir/sql-insert.html`: the file name's first word, when it has one."""
    key = url_key(url).split("?", 1)[0].split("#", 1)[0]
    directory, _, name = key.rpartition("/")
    found = _STEM.match(name)
    if not directory or found is None or mask(found.group(1)[:-1]) or "*" in directory:
        return None
    return f"{directory}/{found.group(1)}"


def _groups(rows: list[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Pages under every directory prefix and file-name stem, and each prefix's parent."""
    groups: dict[str, list[dict[str, Any]]] = {}
    parent: dict[str, str] = {}
    for r in rows:
        chain = prefixes(r["url"], MAX_PATH_DEPTH)
        stem = stem_prefix(r["url"])
        if stem is not None and stem.startswith(chain[-1]) and stem.count("/") == chain[-1].count("/"):
            chain = [*chain, stem]  # only in the page's own (unmasked) directory
        for i, p in enumerate(chain):
            groups.setdefault(p, []).append(r)
            if i:
                parent[p] = chain[i - 1]
    return groups, parent


def propose(
    pages: pa.Table, domain: str, *, max_depth: int = 3, max_patterns: int = 25, samples: int = 5,
    snippet: int = 300, min_pages: int = 2,
) -> list[Proposal]:  # fmt: skip
    """Proposals of one domain: the domain itself, then the prefixes that split its pages, by depth and mass.

    A prefix holding the same pages as its parent is dropped, except the deepest literal one of such a run (the
    most specific pattern for those pages); a sub-prefix needs `min_pages` pages. Depth is the number of
    proposed ancestors, at most `max_depth`.
    """
    rows = pages.filter(pc.equal(pages["domain"], domain)).to_pylist() if pages.num_rows else []
    groups, parent = _groups(rows)
    children: dict[str, list[str]] = {}
    for child, up in parent.items():
        children.setdefault(up, []).append(child)

    def same_as_parent(p: str) -> bool:
        return p in parent and len(groups[parent[p]]) == len(groups[p])

    def kept(p: str) -> bool:
        if p not in parent:
            return True  # the host
        if len(groups[p]) < (min_pages if p.endswith(("/", "*")) else max(min_pages, 3)):
            return False  # a file-name stem needs three pages to be a section
        if not same_as_parent(p):
            return True
        # a run of prefixes with the same pages: keep its deepest literal one
        deeper = [c for c in children.get(p, []) if len(groups[c]) == len(groups[p]) and not c.endswith("*")]
        return not deeper and not p.endswith("*")

    depth: dict[str, int] = {}
    for p in sorted(groups, key=lambda x: x.count("/") + (x in parent and not x.endswith("/"))):
        above = parent.get(p)
        depth[p] = 0 if above is None else depth[above] + kept(above)  # parents are placed before their children
    out = []
    for pattern, members in groups.items():
        if not kept(pattern) or depth[pattern] > max_depth:
            continue
        scores = np.array([m["score"] for m in members], dtype=np.float64)
        p10, p50, p90 = (float(x) for x in np.quantile(scores, [0.1, 0.5, 0.9]))
        recalled = sum(bool(m["kept"]) for m in members)
        out.append(Proposal(
            pattern=pattern, depth=depth[pattern], pages=len(members), recalled=recalled,
            fraction=round(recalled / len(members), 4), score_p10=round(p10, 4), score_p50=round(p50, 4),
            score_p90=round(p90, 4), samples=spread_samples(members, samples, snippet),
            urls=[m["url"] for m in members],
        ))  # fmt: skip
    out.sort(key=lambda p: (p.depth, -p.pages, p.pattern))
    return out[:max_patterns]


def for_domain(settings: Settings, domain: str, *, round_no: int | None = None, samples: int = 5) -> dict[str, Any]:
    """The proposals of one domain in a round (default: the latest), with its DomainStat row."""
    with session(settings.db_url) as db:
        rnd = find_round(db, round_no)
        if rnd is None:
            raise ValueError(f"no round {round_no}" if round_no is not None else "no round yet")
        stat = db.get(DomainStat, (rnd.id, domain))
        locations = done_warcs(db, rnd.id)
    if stat is None:
        raise ValueError(f"domain {domain!r} has no page in round {rnd.number}")
    pages = domain_pages(Store(settings.data_dir), rnd.number, locations, {domain}, cache_id=params.of(rnd).cache_id)
    return {"round": rnd.number, "domain": stat.model_dump(),
            "proposals": [p.as_dict() for p in propose(pages, domain, samples=samples)]}  # fmt: skip
