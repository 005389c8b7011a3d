"""Page-level active learning: single pages go to the annotation queue, chosen by several strategies under one budget.

A blog has a handful of pages in a sample, never enough for the "> 10% of a domain's pages" rule, yet in a whole
crawl such sites are most of the code-related web; and the code pages a model misses score far from its threshold,
where an uncertainty band never looks. So page items (kind "page", the URL in `details`) come from four strategies
(`labelling.strategies`): uncertainty, disagreement between a model-free code-structure prior and the model,
coverage of the languages and kinds of site the kept pages lack, and a random audit. Each takes its share of the
budget (`SHARES`); what one cannot use goes to the next, so the budget is spent whenever candidates exist. At most
one item per site a round, so the budget reaches many sites. Each item records its strategy (`QueueItem.strategy`)
and `yields` counts, per strategy, how many came back labelled code. One key labels an item (code / not code); the
label is a URL label, which the next round's seeds use like any other. Priorities are on the domain items' scale
(a gain in [0, 1] x log1p(pages), a page being one page), so the queue mixes both kinds by it.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import pyarrow as pa
from sqlmodel import Session, col, select

from webrecall.core.db import QueueItem, QueueKind
from webrecall.core.labelling import strategies
from webrecall.core.labelling.queue import complete
from webrecall.core.labelling.samples import fenced
from webrecall.core.settings import Settings
from webrecall.core.text.extract import FENCE
from webrecall.core.urls.domains import split_url
from webrecall.core.urls.patterns import PatternSet

KIND: QueueKind = "page"
BAND = 0.3
"""Scores within this distance of the threshold are uncertain."""
SMALL_DOMAIN_PAGES = 10
"""Domains with fewer pages than this in the round are too small for the domain rule (1/10 of 10 is one page)."""
SHARES = {"uncertainty": 0.3, "disagreement": 0.35, "coverage": 0.25, "audit": 0.1}
"""Each strategy's share of a round's page-item budget (before the unused part goes to the next)."""
FILL_ORDER = ("disagreement", "coverage", "uncertainty", "audit")
"""Who takes the budget a strategy leaves unused: the misses first, the random audit last."""
INDEX_COLUMNS = ["url", "domain", "site", "score", "kept", "lang", "prior"]
"""The page-index columns the strategies read."""


def quotas(budget: int, shares: dict[str, float] = SHARES) -> dict[str, int]:
    """The budget split by `shares` (largest remainder), every strategy with a share getting at least one item."""
    exact = {k: budget * v for k, v in shares.items()}
    out = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (out[k] - exact[k], k))[: budget - sum(out.values())]:
        out[k] += 1
    for k in shares:
        if budget >= len(shares) and shares[k] > 0 and out[k] == 0:
            out[max(out, key=lambda j: (out[j], j))] -= 1
            out[k] = 1
    return out


def _pages(index: pa.Table) -> list[strategies.Page]:
    names = set(index.column_names)
    n = index.num_rows

    def column(name: str, default: Any) -> list[Any]:
        return index.column(name).to_pylist() if name in names else [default] * n

    out = []
    cols = [column(c, None) for c in ("url", "domain", "site", "score")]
    for url, domain, site, score, kept, lang, prior in zip(*cols, column("kept", False), column("lang", ""),
                                                           column("prior", None), strict=True):  # fmt: skip
        _, registered, path = split_url(url)
        out.append(strategies.Page(url, domain, site or registered or domain, path, float(score), bool(kept),
                                   lang or "", None if prior is None else float(prior)))  # fmt: skip
    return out


def plan_page_items(
    index: pa.Table, round_id: int, *, threshold: float, coverage: PatternSet[str], skip_domains: set[str],
    seed: int = 0, max_items: int = 50, band: float = BAND, small_domain_pages: int = SMALL_DOMAIN_PAGES,
    shares: dict[str, float] = SHARES,
) -> list[QueueItem]:  # fmt: skip
    """Up to `max_items` page items of the round's page index (url, domain, score; site, kept, lang and prior where
    it has them): each strategy's best candidates up to its quota, then the rest of the budget from the strategies in
    `FILL_ORDER`; one item per site; pages under a label and domains in `skip_domains` (queued as domain items) are
    never asked. Deterministic for a seed."""
    everything = _pages(index)
    sizes = Counter(p.domain for p in everything)
    pages = [p for p in everything if p.domain not in skip_domains and not (len(coverage) and coverage.matches(p.url))]
    rng = random.Random(f"{seed}:{round_id}:pages")
    ranked = {
        "uncertainty": strategies.uncertainty(pages, sizes, threshold=threshold, band=band,
                                              small_domain_pages=small_domain_pages),
        "disagreement": strategies.disagreement(pages, threshold=threshold),
        "coverage": strategies.coverage(pages, strategies.gaps(everything)),
        "audit": strategies.audit(pages, rng),
    }  # fmt: skip
    streams = {k: iter(v) for k, v in ranked.items()}
    chosen: list[tuple[str, strategies.Candidate]] = []
    sites: set[str] = set()

    def take(strategy: str, n: int) -> None:
        got = 0
        while got < n:
            c = next(streams[strategy], None)
            if c is None:
                return
            if c.page.site not in sites:
                sites.add(c.page.site)
                chosen.append((strategy, c))
                got += 1

    for strategy, n in quotas(max_items, shares).items():
        take(strategy, n)
    for strategy in FILL_ORDER:
        take(strategy, max_items - len(chosen))
    gain = math.log1p(1)
    items = []
    for strategy, c in chosen:
        priority = round(c.gain * gain, 6)
        if strategy == "audit":  # a random rank among the others: audits are seen early and late, not only last
            others = [o.gain for s, o in chosen if s != "audit"]
            priority = round(others[rng.randrange(len(others))] * gain, 6) if others else 0.0
        p = c.page
        items.append(QueueItem(
            round_id=round_id, domain=p.domain, kind=KIND, strategy=strategy, priority=priority,
            reason=f"page:{strategy}",
            details={"url": p.url, "score": round(p.score, 4), "prior": None if p.prior is None else round(p.prior, 4),
                     "lang": p.lang, "strategy": strategy, "domain_pages": sizes[p.domain], **c.details},
        ))  # fmt: skip
    return items


def strategy_of(item: QueueItem) -> str:
    """A page item's strategy (items queued before the column existed: from their reason)."""
    if item.strategy:
        return item.strategy
    old = item.reason.removeprefix("page:")
    return "uncertainty" if old == "uncertain" else old


def yields(db: Session, round_id: int) -> dict[str, dict[str, Any]]:
    """Per strategy, a round's page items: how many were queued, how many got a standing label and how many of those
    were labelled code (by the majority of their annotators), and the yield (code / labelled)."""
    from webrecall.core.label_store import current

    items = {i.id: i for i in db.exec(select(QueueItem).where(QueueItem.round_id == round_id,
                                                               col(QueueItem.kind) == KIND))}  # fmt: skip
    votes: dict[int, list[bool]] = {}
    for label in current(db).values():
        if label.queue_item_id is not None and label.queue_item_id in items:
            votes.setdefault(label.queue_item_id, []).append(label.label == "code")
    out: dict[str, dict[str, Any]] = {}
    for item_id, item in items.items():
        row = out.setdefault(strategy_of(item), {"items": 0, "labelled": 0, "code": 0})
        row["items"] += 1
        if item_id in votes:
            row["labelled"] += 1
            row["code"] += 2 * sum(votes[item_id]) > len(votes[item_id])
    for row in out.values():
        row["yield"] = round(row["code"] / row["labelled"], 4) if row["labelled"] else None
    return {k: out[k] for k in [*strategies.STRATEGIES, *sorted(set(out) - set(strategies.STRATEGIES))] if k in out}


def page_labels(db: Session) -> dict[str, dict[str, bool]]:
    """The standing labels of page items (any round, any annotator), by domain: URL -> code (True if any annotator's
    standing label on it says code)."""
    from webrecall.core.label_store import current

    items = {i.id: i.domain for i in db.exec(select(QueueItem).where(col(QueueItem.kind) == KIND))}
    out: dict[str, dict[str, bool]] = {}
    for label in current(db).values():
        domain = items.get(label.queue_item_id)
        if domain is not None:
            urls = out.setdefault(domain, {})
            urls[label.pattern] = urls.get(label.pattern, False) or label.label == "code"
    return out


def code_pages_without_recall(labels: dict[str, dict[str, bool]], recalled: dict[str, int]) -> dict[str, int]:
    """Domains whose page items stand labelled code (`page_labels`) but of whose pages this round recalled none:
    domain -> such pages. The domain rule never queues them (0% recalled), so discovery queues them as domains."""
    out = {d: sum(urls.values()) for d, urls in sorted(labels.items()) if recalled.get(d) == 0}
    return {d: n for d, n in out.items() if n}


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
