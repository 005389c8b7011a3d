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

from webrecall.core.db import QueueItem, QueueKind
from webrecall.core.labelling.queue import complete
from webrecall.core.labelling.samples import fenced
from webrecall.core.settings import Settings
from webrecall.core.text.extract import FENCE
from webrecall.core.urls.patterns import PatternSet

KIND: QueueKind = "page"
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


def label_page(db: Session, item_id: int, annotator: str, *, code: bool,
               shown: dict[str, Any] | None = None) -> QueueItem:  # fmt: skip
    """One key on a page item: a URL label (code / non-code) that trains the next round; the item is done (or
    waits for its second annotator). LeaseError if the claim was lost."""
    item = db.get(QueueItem, item_id)
    if item is None or item.kind != KIND:
        raise ValueError(f"queue item {item_id} is not a page item")
    return complete(db, item_id, annotator, [{"url": item.details["url"], "label": "code" if code else "non-code"}],
                    shown=shown)  # fmt: skip


def text_blocks(text: str, *, max_chars: int = 4000) -> tuple[list[dict[str, Any]], bool]:
    """The page's text as prose and code blocks (`samples.fenced`: code verbatim, fences dropped), the first
    `max_chars` characters of it; and whether it was cut."""
    blocks: list[dict[str, Any]] = []
    used = 0
    for code, lines in fenced(text):
        body = "\n".join(lines)
        if used + len(body) > max_chars:
            rest = body[: max(max_chars - used, 0)]
            if rest.strip():
                blocks.append({"code": code, "text": rest})
            return blocks, True
        blocks.append({"code": code, "text": body})
        used += len(body) + 1
    return blocks, False


def page_view(settings: Settings, round_id: int, url: str, *, max_chars: int = 4000) -> dict[str, Any]:
    """A page item as the Label page shows it: the page's URL, title, score and a text sample in blocks, read from
    the round's page index and the page cache."""
    from webrecall.core.db import session
    from webrecall.core.labelling.item_view import page_cache_id, round_number
    from webrecall.core.labelling.proposals import domain_pages
    from webrecall.core.queries import done_warcs
    from webrecall.core.storage.store import Store
    from webrecall.core.text.extract import unfence
    from webrecall.core.urls.domains import split_url

    with session(settings.db_url) as db:
        number, cache_id = round_number(db, round_id), page_cache_id(db, round_id)
        locations = done_warcs(db, round_id)
    pages = domain_pages(Store(settings.data_dir), number, locations, {split_url(url)[0]}, cache_id=cache_id)
    row = next((r for r in pages.to_pylist() if r["url"] == url), None)
    if row is None:
        return {"round": number, "url": url, "title": "", "score": None, "kept": None, "blocks": [], "cut": False,
                "chars": 0, "code_blocks": 0}  # fmt: skip
    text = row.get("text") or ""  # shown through samples.fenced: secrets as placeholders, as the export writes them
    blocks, cut = text_blocks(text, max_chars=max_chars)
    score = float(row["score"])
    return {"round": number, "url": url, "title": row.get("title") or "", "score": round(score, 4),
            "kept": bool(row["kept"]), "blocks": blocks, "cut": cut, "chars": len(unfence(text)),
            "suggestion": {"label": "code" if row["kept"] else "non-code",
                           "confidence": round(score if row["kept"] else 1 - score, 4)},
            "code_blocks": sum(ln.strip() == FENCE for ln in text.splitlines()) // 2}  # fmt: skip


def shown_page(view: dict[str, Any]) -> dict[str, Any]:
    """What the annotator saw when deciding on a page item (kept with the label for audits)."""
    return {"round": view["round"], "url": view["url"], "score": view["score"], "blocks": len(view["blocks"]),
            "code_blocks": sum(b["code"] for b in view["blocks"]),
            "suggestion": view.get("suggestion") if view.get("suggested", True) else None}  # fmt: skip
