"""Page-level active learning (issue 14): single pages of small domains go to the annotation queue.

A blog has a handful of pages in a sample, never enough for the "> 10% of a domain's pages" rule, yet in a whole
crawl such sites are most of the code-related web. So pages of domains too small for the rule whose score lies in
the uncertain band around the threshold become queue items of kind "page" (the URL in `details`), plus a small
random audit sample of small-domain pages so the band's bias can be measured. One key labels them (code / not
code); the label is a URL label, which the next round's seeds use like any other. Their priority is the expected
gain on the same scale as a domain item's (uncertainty x log1p(pages), a page being one page), so the queue mixes
both kinds by it.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
from sqlmodel import Session

from webrecall.core.db import QueueItem
from webrecall.core.labelling.queue import complete
from webrecall.core.urls.patterns import PatternSet

KIND = "page"
BAND = 0.3
"""Scores within this distance of the threshold are uncertain."""
SMALL_DOMAIN_PAGES = 10
"""Domains with fewer pages than this in the round are too small for the domain rule (1/10 of 10 is one page)."""


def plan_page_items(
    index: pa.Table, round_id: int, *, threshold: float, coverage: PatternSet[str], skip_domains: set[str],
    seed: int = 0, max_items: int = 100, audit_fraction: float = 0.05, band: float = BAND,
    small_domain_pages: int = SMALL_DOMAIN_PAGES,
) -> list[QueueItem]:  # fmt: skip
    """The most uncertain page of each small domain (one item per domain and round), by expected gain, plus a
    seeded random audit sample of small-domain pages outside the band. Pages under a label are never asked."""
    sizes = Counter(index.column("domain").to_pylist())
    best: dict[str, tuple[float, str, float]] = {}
    outside: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for url, domain, score in zip(*(index.column(c).to_pylist() for c in ("url", "domain", "score")), strict=True):
        if sizes[domain] >= small_domain_pages or domain in skip_domains or (len(coverage) and coverage.matches(url)):
            continue
        u = 1.0 - abs(float(score) - threshold) / band
        if u <= 0:
            outside[domain].append((url, float(score)))
        elif domain not in best or u > best[domain][0]:
            best[domain] = (u, url, float(score))
    gain = math.log1p(1)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:max_items]
    items = [QueueItem(round_id=round_id, domain=domain, kind=KIND, priority=round(u * gain, 6),
                       reason="page:uncertain", details={"url": url, "score": round(s, 4), "uncertainty": round(u, 4),
                                                        "domain_pages": sizes[domain]})
             for domain, (u, url, s) in ranked]  # fmt: skip
    rng = random.Random(f"{seed}:{round_id}:pages")
    pool = sorted(d for d in outside if d not in best)
    n_audit = min(len(pool), max(1, round(len(items) * audit_fraction)) if items else 0)
    for domain in rng.sample(pool, n_audit):
        url, s = rng.choice(sorted(outside[domain]))
        at = items[rng.randrange(len(items))].priority if items else 0.0
        items.append(QueueItem(round_id=round_id, domain=domain, kind=KIND, priority=at, reason="page:audit",
                               details={"url": url, "score": round(s, 4), "audit": True,
                                        "domain_pages": sizes[domain]}))  # fmt: skip
    return items


def label_page(db: Session, item_id: int, annotator: str, *, code: bool, shown: dict[str, Any] | None = None) -> None:
    """One key on a page item: a URL label (code / non-code) that trains the next round."""
    item = db.get(QueueItem, item_id)
    if item is None or item.kind != KIND:
        raise ValueError(f"queue item {item_id} is not a page item")
    complete(db, item_id, annotator, [{"url": item.details["url"], "label": "code" if code else "non-code"}],
             shown=shown)  # fmt: skip
