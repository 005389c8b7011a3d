"""Where the page-item queue looks for pages worth a label: one ranked list of candidates per strategy.

- **uncertainty**: pages of sites too small for a domain item whose score lies in the band around the threshold;
- **disagreement**: the model-free code-structure prior (`model.prior`) and the model disagree: the prior says code
  and the model does not keep the page (a miss), or the model keeps a page without any code structure;
- **coverage**: pages of languages and kinds of site that the kept pages lack (their share of the kept pages is under
  half their share of all pages) that show some code structure, the most code-like first;
- **audit**: pages drawn at random, so the other strategies' bias can be measured.

Each list is best first; `page_items.plan_page_items` takes from them under one budget, one item per site. Nothing
here names a site: a site's kind is read from the generic words of its URLs (`site_kind`).
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from webrecall.core.model.prior import SAYS_CODE, SAYS_OTHER

STRATEGIES = ("uncertainty", "disagreement", "coverage", "audit")
UNDER = 0.5
"""A language or site kind is under-covered when its share of the kept pages is under this part of its share of
all pages."""

_KINDS = (
    ("qa", re.compile(r"(?:^|[./-])(?:questions?|answers?|forums?|threads?|discuss(?:ion)?s?|community|ask|qa|"
                      r"topics?|t)(?:[./-]|$)")),
    ("docs", re.compile(r"(?:^|[./-])(?:docs?|documentation|manual|reference|api|guide|handbook|wiki|library|"
                        r"tutorials?|learn)(?:[./-]|$)")),
    ("blog", re.compile(r"(?:^|[./-])(?:blogs?|posts?|articles?|\d{4}/\d{1,2})(?:[./-]|$)")),
)  # fmt: skip
"""Generic words of URLs (host labels and path segments) that say what kind of site a page is on."""


def site_kind(host: str, path: str) -> str:
    """'qa', 'docs', 'blog' or 'other', from the host's labels and the path's segments."""
    where = f"{host}/{path.split('?', 1)[0].lower()}"
    return next((kind for kind, words in _KINDS if words.search(where)), "other")


@dataclass(slots=True)
class Page:
    url: str
    domain: str
    site: str
    path: str
    score: float
    kept: bool
    lang: str
    prior: float | None


@dataclass(slots=True)
class Candidate:
    page: Page
    gain: float
    """How much a label is expected to teach, in [0, 1] (the item's priority is on the queue's scale of it)."""
    details: dict[str, Any] = field(default_factory=dict)


def uncertainty(pages: list[Page], sizes: Counter[str], *, threshold: float, band: float,
                small_domain_pages: int) -> list[Candidate]:  # fmt: skip
    out = []
    for p in pages:
        u = 1.0 - abs(p.score - threshold) / band
        if u > 0 and sizes[p.domain] < small_domain_pages:
            out.append(Candidate(p, u, {"uncertainty": round(u, 4)}))
    return sorted(out, key=lambda c: (-c.gain, c.page.url))


def disagreement(pages: list[Page], *, threshold: float) -> list[Candidate]:
    out = []
    for p in pages:
        if p.prior is None:
            continue
        if p.prior >= SAYS_CODE and p.score < threshold:
            out.append(Candidate(p, p.prior - p.score, {"prior_says": "code", "model_says": "not code"}))
        elif p.prior <= SAYS_OTHER and p.score >= threshold:
            out.append(Candidate(p, p.score - p.prior, {"prior_says": "not code", "model_says": "code"}))
    return sorted(out, key=lambda c: (-c.gain, c.page.url))


def gaps(pages: list[Page]) -> dict[tuple[str, str], float]:
    """Languages and site kinds the kept pages lack: (dimension, value) -> its share of all pages minus its share of
    the kept ones, for those under `UNDER` times their share of all pages. Pages of no known language are no cell."""
    kept = [p for p in pages if p.kept]
    if not kept:
        return {}
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for p in pages:
        for cell in (("lang", p.lang), ("kind", site_kind(p.domain, p.path))):
            if cell[1]:
                cells[cell][0] += 1
                cells[cell][1] += p.kept
    out = {}
    for cell, (n, k) in cells.items():
        share, kept_share = n / len(pages), k / len(kept)
        if kept_share < UNDER * share:
            out[cell] = share - kept_share
    return out


def coverage(pages: list[Page], deficits: dict[tuple[str, str], float]) -> list[Candidate]:
    """The unkept pages of the under-covered cells that show some code structure (a prior above `SAYS_OTHER`, or
    none known), most code-like first (prior, then score), taken in turn from each cell, the largest gap first: a few
    items reach every language the kept pages lack, and none is spent on a page without a code-like line.
    `deficits`: the round's `gaps`, over all its pages."""
    per_cell: dict[tuple[str, str], list[Page]] = defaultdict(list)
    for p in pages:
        if p.kept or (p.prior is not None and p.prior <= SAYS_OTHER):
            continue
        for cell in (("lang", p.lang), ("kind", site_kind(p.domain, p.path))):
            if cell in deficits:
                per_cell[cell].append(p)
    order = sorted(per_cell, key=lambda c: (-deficits[c], c))
    ranked = {c: iter(sorted(per_cell[c], key=lambda p: (-(p.prior or 0.0), -p.score, p.url))) for c in order}
    out: list[Candidate] = []
    for cell, page in _round_robin(ranked):
        details = {"cell": f"{cell[0]}:{cell[1]}", "gap": round(deficits[cell], 4)}
        out.append(Candidate(page, 0.5 + 0.5 * (page.prior or 0.0), details))
    return out


def _round_robin(ranked: dict[tuple[str, str], Iterator[Page]]) -> Iterator[tuple[tuple[str, str], Page]]:
    live = dict(ranked)
    while live:
        for cell in list(live):
            page = next(live[cell], None)
            if page is None:
                del live[cell]
            else:
                yield cell, page


def audit(pages: list[Page], rng: random.Random) -> list[Candidate]:
    """Every site once, in a seeded random order, each with one of its pages at random."""
    by_site: dict[str, list[Page]] = defaultdict(list)
    for p in pages:
        by_site[p.site or p.domain].append(p)
    sites = sorted(by_site)
    rng.shuffle(sites)
    return [Candidate(rng.choice(sorted(by_site[s], key=lambda p: p.url)), 0.0, {"audit": True}) for s in sites]
